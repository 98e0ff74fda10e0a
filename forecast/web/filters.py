"""Template filters and globals every page uses: percentages, times, signed points, and the
links and competition list of the layout's navigation."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, url_for

from forecast.db import get_session
from forecast.market.money import fmt, fmt_exact
from forecast.models import Competition, Membership, utcnow
from forecast.services import competitions as competition_service
from forecast.services.competitions import PUBLIC_SLUG
from forecast.web import charts
from forecast.web.lookups import uid


def pct(p: float) -> str:
    """A probability as a whole percentage, '37%' (charts.pct)."""
    return charts.pct(p)


def pct1(p: float) -> str:
    """One decimal, for quotes where a trade moves the market by less than a point."""
    return f"{p * 100:.1f}%"


def utc(dt: datetime | None) -> str:
    """'07 Dec 2026, 14:05 UTC', or a dash for no time."""
    if dt is None:
        return "—"
    return dt.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def relative(dt: datetime | None, now: datetime | None = None) -> str:
    """'in 3 days', '5 minutes ago': how far a moment is from now, roughly."""
    if dt is None:
        return ""
    seconds = (dt - (now or utcnow())).total_seconds()
    future, s = seconds > 0, abs(seconds)
    for size, unit in ((86400 * 365, "year"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if s >= size:
            n = int(s // size)
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "in a moment" if future else "just now"


def signed(units: int) -> str:
    """Points with a sign: '+12.50', '−3.00' (a real minus sign), '0.00'; to the unit
    when two decimals would read as zero ('−0.0001', never '−0.00')."""
    text = fmt(abs(units))
    if units and text == fmt(0):
        text = fmt_exact(abs(units))
    if units > 0:
        return "+" + text
    if units < 0:
        return "−" + text
    return text


def competition_status(comp: Competition) -> str:
    """'open' or 'closed' (closed by its owner or by its end date)."""
    return competition_service.effective_status(comp)


def my_competitions() -> list[tuple[Competition, Membership]]:
    """For the layout's switcher: the signed-in player's competitions (asked only when drawn)."""
    me = uid()
    if me is None:
        return []
    return competition_service.member_competitions(get_session(), me)


def competition_url(comp: Competition | None, page: str = "home") -> str:
    """Links in the nav (``page``: home, leaderboard or portfolio); the public
    competition's home is the site's front page."""
    slug = comp.slug if comp is not None else PUBLIC_SLUG
    if page == "home":
        if slug == PUBLIC_SLUG:
            return url_for("home.home")
        return url_for("home.competition_home", slug=slug)
    return url_for(f"{page}.{page}", slug=slug)


def init_app(app: Flask) -> None:
    for f in (pct, pct1, utc, relative, signed):
        app.add_template_filter(f)
    for g in (competition_status, my_competitions, competition_url):
        app.add_template_global(g)
    app.add_template_global(fmt, "fmt")
    app.add_template_global(fmt_exact, "fmt_exact")
    app.add_template_global(charts, "charts")
