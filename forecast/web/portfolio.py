"""The portfolio page: a player's balance, net worth, open positions and settled questions
in one competition."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

from forecast.db import get_session
from forecast.services import reads
from forecast.web.lookups import join_url, membership, viewable_competition
from forecast.web.render import render

bp = Blueprint("portfolio", __name__)


@bp.get("/c/<slug>/portfolio")
@login_required
def portfolio(slug: str):
    """Show your balance, net worth, open positions and settled questions."""
    comp = viewable_competition(slug)
    member = membership(comp)
    data = reads.portfolio(get_session(), member) if member is not None else None
    return render(
        "portfolio.html",
        "partials/_portfolio.html",
        competition=comp,
        member=member,
        portfolio=data,
        join_url=join_url(comp),
    )
