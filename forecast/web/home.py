"""The site's front page and each competition's home: the competition's questions as cards
(probability and a sparkline), open ones closing soonest first, 30 a page."""

from __future__ import annotations

from flask import Blueprint
from sqlmodel import select

from forecast.cache import cached
from forecast.db import get_session
from forecast.models import Competition, Question, utcnow
from forecast.services import access, history, reads
from forecast.services.competitions import PUBLIC_SLUG
from forecast.services.questions import effective_status, outcomes_by_question
from forecast.web import charts
from forecast.web.lookups import join_url, membership, page_of, uid, viewable_competition
from forecast.web.render import render

bp = Blueprint("home", __name__)

QUESTIONS_PAGE = 30  # question cards a page: open ones first, closing soonest


def _card(session, comp: Competition, question: Question, outcomes: list) -> dict:
    """What partials/_question_card.html shows of a question, its sparkline drawn."""
    qj = reads.question_json(session, question, comp, outcomes)
    outcomes = qj["outcomes"]
    if question.kind == "binary":
        lead = 0
    else:
        lead = max(range(len(outcomes)), key=lambda k: outcomes[k]["probability"])
    values = history.history_series(
        session, question, outcomes[lead]["id"], max_points=charts.SPARK_POINTS
    )
    label = outcomes[lead]["label"]
    winner = None
    if question.status == "resolved":
        winner = next((o["label"] for o in outcomes if o["id"] == question.resolved_outcome_id), "")
    return {
        "id": question.id,
        "title": question.title,
        "status": qj["status"],
        "kind": question.kind,
        "close_at": question.close_at,
        "trade_count": question.trade_count,
        "lead": outcomes[lead],
        "winner": winner,
        "sparkline": charts.sparkline(
            values,
            index=lead,
            label=f"{label} over time: from {charts.pct(values[0])} to {charts.pct(values[-1])}",
        ),
    }


def _competition_page(comp: Competition):
    """A page of question cards; each card is built once per trade on its question."""
    session = get_session()
    now = utcnow()
    ordered = reads.question_index(session, comp)
    statuses = [effective_status(q, now, comp) for q in ordered]
    open_total = statuses.count("open")
    page, pages = page_of(len(ordered), QUESTIONS_PAGE)
    at = slice((page - 1) * QUESTIONS_PAGE, page * QUESTIONS_PAGE)
    shown = list(zip(ordered[at], statuses[at], strict=True))
    loaded: dict[int, tuple[Question, list]] = {}

    def build(qid: int) -> dict:
        if not loaded:  # the first card not cached reads every card's question and outcomes
            ids = [row.id for row, _ in shown]
            outcomes = outcomes_by_question(session, ids)
            for q in session.exec(select(Question).where(Question.id.in_(ids))):
                loaded[q.id] = (q, outcomes[q.id])
        return _card(session, comp, *loaded[qid])

    cards = [
        cached(
            ("card", row.id),
            lambda qid=row.id: build(qid),
            version=(row.trade_count, status, row.title, row.close_at, row.resolved_outcome_id),
        )
        for row, status in shown
    ]
    return render(
        "home.html",
        "partials/_questions.html",
        competition=comp,
        member=membership(comp),
        open_questions=[c for c in cards if c["status"] == "open"],
        settled_questions=[c for c in cards if c["status"] != "open"],
        open_total=open_total,
        settled_total=len(ordered) - open_total,
        page_no=page,
        pages=pages,
        moderator=access.is_moderator(session, uid(), comp.id),
        join_url=join_url(comp),
        now=now,
    )


@bp.get("/")
def home():
    """Show the public competition's questions: open ones closing soonest first."""
    return _competition_page(viewable_competition(PUBLIC_SLUG))


@bp.get("/c/<slug>/")
def competition_home(slug: str):
    """Show a competition's questions (private ones only to members)."""
    return _competition_page(viewable_competition(slug))
