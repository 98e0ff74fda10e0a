"""Player pages."""

from __future__ import annotations

from flask import Blueprint, render_template

from forecast.db import get_session
from forecast.services import queries
from forecast.services.access import get_competition
from forecast.services.competitions import PUBLIC_SLUG

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    """Show the public competition's questions."""
    session = get_session()
    comp = get_competition(session, PUBLIC_SLUG)
    questions = [
        queries.question_json(session, q, comp)
        for q in queries.competition_questions(session, comp)
    ]
    return render_template("home.html", competition=comp, questions=questions)
