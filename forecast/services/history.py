"""A question's probability history: the opening probabilities, then those after each trade.

Charts and sparklines read a sample of it, a fixed number of points however
many trades the question has.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text
from sqlmodel import Session

from forecast.market.lmsr import prices
from forecast.models import Question, Trade
from forecast.services.questions import outcomes_of

_T = Trade.__table__.c


def iso(dt: datetime | None) -> str | None:
    """A UTC time as the API writes it (ISO 8601, "Z")."""
    return None if dt is None else dt.isoformat().replace("+00:00", "Z")


def history(session: Session, question: Question, *, max_points: int | None = None) -> list[dict]:
    """Probabilities at opening, then after each trade, oldest first: ``{"at", "probabilities"}``
    points, probabilities by outcome id (a string, as JSON keys are).

    With ``max_points`` (at least 3) a long history is sampled: the opening,
    the first trade at or after each of ``max_points - 1`` evenly spaced
    trade ids from the question's first trade to its last, and always the
    last trade.  That reads about ``max_points`` rows through the
    (question_id, id) index however many trades the question has.
    """
    return [{"at": iso(at), "probabilities": p} for at, p in _points(session, question, max_points)]


def _points(session: Session, question: Question, max_points: int | None) -> list[tuple]:
    """(time, probabilities by outcome id as a string) at opening and after each (sampled) trade."""
    outcomes = outcomes_of(session, question.id)
    opening = prices([o.q0 for o in outcomes], question.liquidity)
    points = [(question.created_at, {str(o.id): p for o, p in zip(outcomes, opening, strict=True)})]
    stmt = select(_T.created_at, _T.probabilities).where(_T.question_id == question.id)
    if max_points is not None and question.trade_count >= max(max_points, 3):
        stmt = stmt.where(_T.id.in_(_sampled_trade_ids(session, question.id, max_points - 1)))
    points.extend(tuple(row) for row in session.execute(stmt.order_by(_T.id)))
    return points


def _sampled_trade_ids(session: Session, question_id: int, n: int) -> list[int]:
    """About ``n`` of the question's trade ids spread evenly by id, the first and last included.

    One statement: an index seek per target id for the first trade at or after it.
    """
    mine = _T.question_id == question_id
    first, last = session.execute(
        select(
            select(func.min(_T.id)).where(mine).scalar_subquery(),
            select(func.max(_T.id)).where(mine).scalar_subquery(),
        )
    ).one()
    if first is None:
        return []
    n = max(n, 2)
    targets = [first + (last - first) * k // (n - 1) for k in range(n - 1)]
    # One index seek per target; written as SQL text, as building hundreds of Core
    # subqueries costs far more than running them.
    seek = "(SELECT id FROM trade WHERE question_id = :q AND id >= :x{k} ORDER BY id LIMIT 1)"
    stmt = text("SELECT " + ", ".join(seek.format(k=k) for k in range(len(targets))))
    params = {"q": question_id, **{f"x{k}": x for k, x in enumerate(targets)}}
    found = session.execute(stmt, params).one()
    return sorted({i for i in found if i is not None} | {last})


def history_columns(
    session: Session, question: Question, outcome_ids: list[int], *, max_points: int
) -> tuple[datetime, list[float], list[list[float]]]:
    """The sampled history as a chart's columns: the opening time, each point's
    seconds after it (the opening's 0.0 first), and each outcome's probability at
    those points, one list per outcome in ``outcome_ids`` order (0.0 where a point
    lacks the outcome)."""
    points = _points(session, question, max_points)
    start = points[0][0]
    return (
        start,
        [(at - start).total_seconds() for at, _ in points],
        [[p.get(str(k), 0.0) for _, p in points] for k in outcome_ids],
    )


def history_series(
    session: Session, question: Question, outcome_id: int, *, max_points: int
) -> list[float]:
    """One outcome's probability at each point of the sampled history (a sparkline)."""
    key = str(outcome_id)
    return [p.get(key, 0.0) for _, p in _points(session, question, max_points)]
