"""A player's page within a competition: resolved questions, Brier and calibration."""

from __future__ import annotations

from flask import Blueprint, render_template

from forecast.db import get_session
from forecast.services import players
from forecast.web.calibration import calibration_svg
from forecast.web.lookups import uid, viewable_competition

bp = Blueprint("players", __name__)


@bp.get("/c/<slug>/players/<username>")
def show(slug: str, username: str):
    """Show a player's results in a competition (their open positions stay private)."""
    comp = viewable_competition(slug)
    page = players.player_page(
        session=get_session(), viewer_id=uid(), competition=comp, username=username
    )
    return render_template(
        "players/show.html",
        competition=comp,
        player=page,
        calibration_chart=calibration_svg(page.buckets, title=f"Calibration of {page.username}"),
    )
