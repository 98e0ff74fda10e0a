"""Resolving, cancelling (N/A) and undoing.

Each locks the question first, then the members it pays in ascending id
order (the order trades use), writes one ModeratorAction, and moves points
only through the ledger, tagged with that action so an undo can reverse
exactly those rows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlmodel import Session, col, delete, select

from forecast.market.scoring import time_averaged_brier
from forecast.models import LedgerEntry, Membership, Position, Question, Score, Trade, utcnow
from forecast.services import access, ledger
from forecast.services.competitions import log_action
from forecast.services.errors import Conflict, Invalid, NotFound, has_nul
from forecast.services.questions import outcomes_of


def _lock_members(session: Session, ids: set[int]) -> dict[int, Membership]:
    if not ids:
        return {}
    rows = session.exec(
        select(Membership)
        .where(col(Membership.id).in_(sorted(ids)))
        .order_by(Membership.id)
        .with_for_update()
    )
    return {m.id: m for m in rows}


def _check_text(note: object, source_url: object) -> tuple[str, str]:
    if note is not None and not isinstance(note, str):
        raise Invalid("The note must be text.", field="note")
    if source_url is not None and not isinstance(source_url, str):
        raise Invalid("The source must be a URL.", field="source_url")
    if has_nul(note) or has_nul(source_url):
        raise Invalid("The note and source may not contain NUL characters.", field="note")
    note, source_url = (note or "").strip(), (source_url or "").strip()
    if len(note) > 5000:
        raise Invalid("The note is at most 5000 characters.", field="note")
    if source_url and not source_url.startswith(("http://", "https://")):
        raise Invalid("The source must be an http(s) URL.", field="source_url")
    if len(source_url) > 2000:
        raise Invalid("The source URL is too long.", field="source_url")
    return note, source_url


def _open_for_resolution(session: Session, user_id: int, question_id: object) -> Question:
    question = access.get_question(session, question_id, lock=True)
    access.require_moderator(session, user_id, question.competition_id)
    return question


def resolve(
    *,
    session: Session,
    user_id: int,
    question_id: object,
    outcome_id: object,
    note: object = "",
    source_url: object = "",
    now: datetime | None = None,
) -> Question:
    """Resolve to ``outcome_id``: each winning share pays 1 point; scores are recorded.

    An open question closes at this moment.  Raises Forbidden (not a
    moderator), NotFound (outcome), Invalid (note, source), Conflict
    (already_resolved).
    """
    now = now or utcnow()
    question = _open_for_resolution(session, user_id, question_id)
    outcomes = outcomes_of(session, question.id)
    if isinstance(outcome_id, bool) or outcome_id not in {o.id for o in outcomes}:
        raise NotFound("No such outcome for this question.")
    note, source_url = _check_text(note, source_url)
    if question.status in ("resolved", "cancelled"):
        raise Conflict("This question is already resolved; undo it first.", code="already_resolved")
    close = min(question.close_at, now)
    action = log_action(
        session,
        question.competition_id,
        user_id,
        "resolve",
        question_id=question.id,
        reason=note,
        detail={
            "outcome_id": outcome_id,
            "source_url": source_url,
            "close_at": question.close_at.isoformat(),
        },
    )
    winners = list(
        session.exec(select(Position).where(Position.outcome_id == outcome_id, Position.shares > 0))
    )
    members = _lock_members(session, {p.membership_id for p in winners})
    for pos in winners:
        ledger.transfer(
            session,
            member=members[pos.membership_id],
            question=question,
            to_member=pos.shares,  # one unit of a share pays one unit of a point
            kind="payout",
            action_id=action.id,
        )
    question.status = "resolved"
    question.resolved_outcome_id = outcome_id
    question.resolved_at = now
    question.close_at = close
    question.resolution_note = note
    question.resolution_source_url = source_url
    question.resolution_action_id = action.id
    session.add(question)
    _record_scores(session, question, outcome_id, close)
    session.flush()
    return question


def _record_scores(session: Session, question: Question, winner: int, close: datetime) -> None:
    trades = session.exec(select(Trade).where(Trade.question_id == question.id).order_by(Trade.id))
    by_member: dict[int, list] = defaultdict(list)
    for t in trades:
        by_member[t.membership_id].append(
            (t.created_at, {int(k): float(v) for k, v in t.forecast.items()})
        )
    for member_id, forecasts in by_member.items():
        score = time_averaged_brier(forecasts, winner, close)
        if score is not None:
            session.add(Score(question_id=question.id, membership_id=member_id, brier=score))


def cancel(*, session: Session, user_id: int, question_id: object, note: object = "") -> Question:
    """Resolve N/A: every member gets back exactly what they spent minus what sells paid them.

    A member whose sells paid more than they spent gives the difference back.
    Raises Forbidden, Invalid, Conflict (already_resolved).
    """
    question = _open_for_resolution(session, user_id, question_id)
    note, _ = _check_text(note, "")
    if question.status in ("resolved", "cancelled"):
        raise Conflict("This question is already resolved; undo it first.", code="already_resolved")
    now = utcnow()
    action = log_action(
        session,
        question.competition_id,
        user_id,
        "cancel",
        question_id=question.id,
        reason=note,
        detail={"close_at": question.close_at.isoformat()},
    )
    net: dict[int, int] = defaultdict(int)
    for pos in session.exec(select(Position).where(Position.question_id == question.id)):
        net[pos.membership_id] += pos.spent
    members = _lock_members(session, set(net))
    for member_id in sorted(net):
        ledger.transfer(
            session,
            member=members[member_id],
            question=question,
            to_member=net[member_id],
            kind="refund",
            action_id=action.id,
        )
    question.status = "cancelled"
    question.resolved_outcome_id = None
    question.resolved_at = now
    question.close_at = min(question.close_at, now)
    question.resolution_note = note
    question.resolution_source_url = ""
    question.resolution_action_id = action.id
    session.add(question)
    session.flush()
    return question


def undo(*, session: Session, user_id: int, question_id: object, note: object = "") -> Question:
    """Reverse the resolution or cancellation exactly; the question goes back to closed.

    Its scores are removed.  Raises Forbidden, Conflict (not resolved).
    """
    question = _open_for_resolution(session, user_id, question_id)
    note, _ = _check_text(note, "")
    if question.status not in ("resolved", "cancelled") or question.resolution_action_id is None:
        raise Conflict("This question is not resolved.", code="not_resolved")
    previous = question.resolution_action_id
    action = log_action(
        session,
        question.competition_id,
        user_id,
        "undo",
        question_id=question.id,
        reason=note,
        detail={"undid_action_id": previous, "was": question.status},
    )
    entries = list(
        session.exec(
            select(LedgerEntry).where(
                LedgerEntry.action_id == previous, col(LedgerEntry.membership_id).is_not(None)
            )
        )
    )
    members = _lock_members(session, {e.membership_id for e in entries})
    for e in sorted(entries, key=lambda e: (e.membership_id, e.id)):
        ledger.transfer(
            session,
            member=members[e.membership_id],
            question=question,
            to_member=-e.amount,
            kind="reversal",
            action_id=action.id,
        )
    session.exec(delete(Score).where(Score.question_id == question.id))
    question.status = "closed"
    question.resolved_outcome_id = None
    question.resolved_at = None
    question.resolution_note = ""
    question.resolution_source_url = ""
    question.resolution_action_id = None
    session.add(question)
    session.flush()
    return question
