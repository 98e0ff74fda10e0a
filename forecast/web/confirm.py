"""A confirmation step on the server for what cannot be taken back (works without
JavaScript): the first POST shows what will happen; the form on that page, sent with
``confirmed=1``, does it."""

from __future__ import annotations

from flask import render_template, request


def confirmed() -> bool:
    """True when the form came from the confirmation page."""
    return request.form.get("confirmed") == "1"


def page(
    *,
    title: str,
    consequences: list[str],
    action: str,
    button: str,
    back: str,
    fields: dict[str, object] | None = None,
    table: list[tuple[str, str]] | None = None,
    table_caption: str = "",
    danger: bool = True,
    **context,
):
    """The confirmation page: what will happen (``consequences``, an optional two-column
    ``table``), a form that posts ``fields`` again to ``action`` with confirmed=1, and a
    way ``back`` that changes nothing."""
    return render_template(
        "confirm.html",
        title=title,
        consequences=consequences,
        action=action,
        button=button,
        back=back,
        fields=fields or {},
        table=table,
        table_caption=table_caption,
        danger=danger,
        **context,
    )
