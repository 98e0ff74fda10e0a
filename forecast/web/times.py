"""Times and kinds as people read them.  A time is written in UTC, labelled, inside a
<time> element; static/js/site.js rewrites it in the viewer's own zone, named."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from markupsafe import Markup, escape

KIND_NAMES = {"binary": "Yes / no", "multiple_choice": "Multiple choice"}


def when(value: datetime | str | None, *, style: str = "datetime") -> Markup:
    """``value`` (a datetime, or ISO 8601 text as a pack holds it) as a <time> element:
    '31 Dec 2027, 23:59 UTC' (``style`` 'date': '31 Dec 2027'; 'time': '23:59:05 UTC'),
    which site.js shows in the viewer's zone.  Text that is not a time stays as it is."""
    if value is None or value == "":
        return Markup("—")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return Markup(escape(value))
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    text = {
        "date": "%d %b %Y",
        "time": "%H:%M:%S UTC",
    }.get(style, "%d %b %Y, %H:%M UTC")
    return Markup(
        f'<time datetime="{moment.isoformat()}" class="local" data-style="{escape(style)}">'
        f"{moment.strftime(text)}</time>"
    )


def kind_name(kind: str | None, outcomes: list | None = None) -> str:
    """'Yes / no', or 'Multiple choice (6 outcomes)'."""
    name = KIND_NAMES.get(kind or "binary", str(kind))
    if kind == "multiple_choice" and outcomes:
        name += f" ({len(outcomes)} outcomes)"
    return name


def init_app(app: Flask) -> None:
    app.add_template_filter(when)
    app.add_template_filter(kind_name)
