"""A question's probability history: the opening probabilities, then those after each trade.

Charts and sparklines read a sample of it, a fixed number of points however
many trades the question has.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text
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
    if max_points is not None and question.trade_count >= max(max_points, 3):
        rows = session.execute(_SAMPLE, {"q": question.id, "n": max_points - 1})
    else:
        rows = session.execute(
            select(_T.created_at, _T.probabilities)
            .where(_T.question_id == question.id)
            .order_by(_T.id)
        )
    points.extend(tuple(row) for row in rows)
    return points


# About n of the question's trades spread evenly by id, the first and the last included:
# for each of n evenly spaced ids from its first trade's to its last's, the first trade
# at or after it (an index seek each, through (question_id, id)), n at least 2.
_SAMPLE = text(
    """
    WITH RECURSIVE
      bounds(lo, hi) AS (SELECT min(id), max(id) FROM trade WHERE question_id = :q),
      k(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM k WHERE x < :n - 1)
    SELECT created_at, probabilities FROM trade WHERE id IN (
      SELECT (
        SELECT id FROM trade
        WHERE question_id = :q AND id >= bounds.lo + (bounds.hi - bounds.lo) * k.x / (:n - 1)
        ORDER BY id LIMIT 1
      )
      FROM bounds, k
    )
    ORDER BY id
    """
).columns(_T.created_at, _T.probabilities)


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
