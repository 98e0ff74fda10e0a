"""Forecast accuracy read models: Brier history and calibration for a member.

Scores themselves are written at resolution (services.resolution) and
removed on undo; this module only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from forecast.market.scoring import Bucket, calibration
from forecast.models import Membership, Outcome, Question, Score, Trade


@dataclass(frozen=True)
class ScoredQuestion:
    question_id: int
    title: str
    resolved_at: datetime | None
    brier: float


def brier_history(session: Session, member: Membership) -> list[ScoredQuestion]:
    """The member's Brier score on each resolved question, oldest resolution first."""
    rows = session.exec(
        select(Score, Question)
        .join(Question, Question.id == Score.question_id)
        .where(Score.membership_id == member.id)
        .order_by(Question.resolved_at, Question.id)
    )
    return [ScoredQuestion(q.id, q.title, q.resolved_at, s.brier) for s, q in rows]


def mean_brier(history: list[ScoredQuestion]) -> float | None:
    return sum(h.brier for h in history) / len(history) if history else None


def calibration_pairs(session: Session, member: Membership) -> list[tuple[float, bool]]:
    """(forecast, came true) for the member's last forecast before each resolved question closed.

    Binary questions contribute the YES probability only (the NO one is its
    mirror); multiple-choice questions contribute one pair per outcome.
    """
    questions = {
        q.id: q
        for q in session.exec(
            select(Question)
            .join(Score, Score.question_id == Question.id)
            .where(Score.membership_id == member.id, Question.status == "resolved")
        )
    }
    if not questions:
        return []
    last: dict[int, Trade] = {}
    for t in session.exec(
        select(Trade)
        .where(Trade.membership_id == member.id, col(Trade.question_id).in_(list(questions)))
        .order_by(Trade.id)
    ):
        if t.created_at <= questions[t.question_id].close_at:
            last[t.question_id] = t
    first_outcome = {
        o.question_id: o.id
        for o in session.exec(
            select(Outcome).where(
                col(Outcome.question_id).in_(list(questions)), Outcome.position == 0
            )
        )
    }
    pairs: list[tuple[float, bool]] = []
    for qid, trade in last.items():
        q = questions[qid]
        for oid, p in trade.forecast.items():
            if q.kind == "binary" and int(oid) != first_outcome[qid]:
                continue
            pairs.append((float(p), int(oid) == q.resolved_outcome_id))
    return pairs


def member_calibration(session: Session, member: Membership) -> list[Bucket]:
    """Ten buckets of 10% with counts (see market.scoring.calibration)."""
    return calibration(calibration_pairs(session, member))
