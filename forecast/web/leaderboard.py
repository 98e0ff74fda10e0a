"""The leaderboard page: a competition's players ranked by net worth or by mean Brier,
100 a page, the table refreshing itself through htmx."""

from __future__ import annotations

from collections.abc import Hashable

from flask import Blueprint, get_template_attribute, request
from markupsafe import Markup

from forecast.cache import cached
from forecast.db import get_session
from forecast.models import Competition
from forecast.services import access
from forecast.services.standings import leaderboard as competition_standings
from forecast.web.lookups import page_of, uid, viewable_competition
from forecast.web.render import render

bp = Blueprint("leaderboard", __name__)

LEADERBOARD_PAGE = 100  # rows a page; the viewer's own row is always shown


@bp.get("/c/<slug>/leaderboard")
def leaderboard(slug: str):
    """Rank the players by net worth or by mean Brier (``?by=brier``), 100 a page.

    htmx refreshes the table every few seconds.
    """
    comp = viewable_competition(slug)
    by = "brier" if request.args.get("by") == "brier" else "net_worth"
    standings = competition_standings(get_session(), comp, by=by)
    page, pages = page_of(len(standings), LEADERBOARD_PAGE)
    shown = standings[(page - 1) * LEADERBOARD_PAGE : page * LEADERBOARD_PAGE]
    me = uid()
    rows = _rows(comp, shown, standings.version, by, page)
    # The viewer's own line, marked, between the lines before and after it as anyone
    # sees them; below the page (after a gap) when it is not on this one.
    at = next((k for k, s in enumerate(shown) if s.user_id == me), None) if me else None
    cut = len(shown) if at is None else at
    own = shown[at] if at is not None else None
    mine = standings.of_user(me) if me is not None and at is None else None
    return render(
        "leaderboard.html",
        "partials/_leaderboard.html",
        competition=comp,
        standings=shown,
        before=Markup("".join(rows[:cut])),
        own=own,
        after=Markup("".join(rows[cut + 1 :])),
        mine=mine,
        players=len(standings),
        page_no=page,
        pages=pages,
        first=(page - 1) * LEADERBOARD_PAGE + 1,
        as_of=standings.as_of,
        final=standings.final,
        me=me,
        by=by,
        moderator=access.is_moderator(get_session(), me, comp.id),  # the CSV link
    )


def _rows(comp: Competition, shown: list, version: Hashable, by: str, page: int) -> list[Markup]:
    """The page's ``shown`` lines as rendered for any viewer (the viewer's own is
    rendered again, marked), in the app's cache at the standings' ``version``: a
    hundred lines are most of what the page costs, and they change only with the
    standings."""

    def render_rows() -> list[Markup]:
        row = get_template_attribute("partials/_standing_row.html", "standing_row")
        return [row(s, None, by, comp) for s in shown]

    return cached(("leaderboard", comp.id, by, page), render_rows, version=version)
