"""Resolving, cancelling (N/A) and undoing.

Each locks as trades do, wallets before the question: the wallets of every
member with a position on the question in ascending id order, then the
question; writes one ModeratorAction; and moves points only through the
ledger, tagged with that action so an undo can reverse exactly those rows.
An undo also reads its competition FOR SHARE (after the question): once the
competition has ended, a settlement made by the end is part of the final
standings and is not undone.  A question can have thousands of holders, so
the rows are read and written in bulk (ledger.transfer_many, executemany
inserts), never one object per holder.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session, delete, select

from forecast.market.scoring import time_averaged_brier
from forecast.models import (
    Competition,
    LedgerEntry,
    Membership,
    Position,
    Question,
    Score,
    Trade,
    utcnow,
)
from forecast.services import access, ledger
from forecast.services.competitions import ended_at, log_action, read_for_share
from forecast.services.errors import Conflict, Invalid, NotFound, has_nul
from forecast.services.questions import outcomes_of

_M = Membership.__table__
_P = Position.__table__
_T = Trade.__table__
_L = LedgerEntry.__table__
_S = Score.__table__


def _lock_members(session: Session, ids: set[int]) -> None:
    """Lock these wallets in ascending id order."""
    if ids:
        lock = select(_M.c.id).where(_M.c.id.in_(sorted(ids))).order_by(_M.c.id)
        session.execute(lock.with_for_update()).all()


def _lock_holders(session: Session, question_id: int) -> set[int]:
    """Lock the wallets of every member with a position on the question, in ascending
    id order; returns their ids."""
    holders = select(_P.c.membership_id).where(_P.c.question_id == question_id)
    lock = select(_M.c.id).where(_M.c.id.in_(holders)).order_by(_M.c.id)
    return set(session.scalars(lock.with_for_update()))


def check_text(note: object, source_url: object) -> tuple[str, str]:
    """The note and source URL of a resolution, stripped; Invalid (naming the field)
    when they cannot be one."""
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


def _open_for_resolution(
    session: Session, user_id: int, question_id: object
) -> tuple[Question, set[int]]:
    """The question, locked after its holders' wallets (_lock_holders), and the ids of
    the wallets locked.  Raises NotFound, Forbidden (not a moderator) before locking."""
    question = access.get_question(session, question_id)
    access.require_moderator(session, user_id, question.competition_id)
    locked = _lock_holders(session, question.id)
    return access.get_question(session, question.id, lock=True), locked


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
    question, locked = _open_for_resolution(session, user_id, question_id)
    outcomes = outcomes_of(session, question.id)
    if isinstance(outcome_id, bool) or outcome_id not in {o.id for o in outcomes}:
        raise NotFound("No such outcome for this question.")
    note, source_url = check_text(note, source_url)
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
    payouts: dict[int, int] = defaultdict(int)
    for member_id, shares in session.execute(
        select(_P.c.membership_id, _P.c.shares).where(
            _P.c.question_id == question.id, _P.c.outcome_id == outcome_id, _P.c.shares > 0
        )
    ):
        payouts[member_id] += shares  # one unit of a share pays one unit of a point
    _lock_members(session, set(payouts) - locked)  # holders since the first read
    ledger.transfer_many(
        session, question=question, amounts=payouts, kind="payout", action_id=action.id
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
    trades = session.execute(
        select(_T.c.membership_id, _T.c.created_at, _T.c.forecast)
        .where(_T.c.question_id == question.id)
        .order_by(_T.c.id)
    )
    by_member: dict[int, list] = defaultdict(list)
    for member_id, at, forecast in trades:
        by_member[member_id].append((at, {int(k): float(v) for k, v in forecast.items()}))
    now = utcnow()
    rows = []
    for member_id, forecasts in by_member.items():
        score = time_averaged_brier(forecasts, winner, close)
        if score is not None:
            rows.append(
                {
                    "question_id": question.id,
                    "membership_id": member_id,
                    "brier": score,
                    "created_at": now,
                }
            )
    if rows:
        session.execute(insert(_S), rows)


def cancel(*, session: Session, user_id: int, question_id: object, note: object = "") -> Question:
    """Resolve N/A: every member gets back exactly what they spent minus what sells paid them.

    A member whose sells paid more than they spent gives the difference back.
    Raises Forbidden, Invalid, Conflict (already_resolved).
    """
    question, locked = _open_for_resolution(session, user_id, question_id)
    note, _ = check_text(note, "")
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
    for member_id, spent in session.execute(
        select(_P.c.membership_id, _P.c.spent).where(_P.c.question_id == question.id)
    ):
        net[member_id] += spent
    _lock_members(session, set(net) - locked)  # holders since the first read
    ledger.transfer_many(
        session, question=question, amounts=net, kind="refund", action_id=action.id
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


def in_final_standings(question: Question, comp: Competition) -> bool:
    """True when ``comp`` has ended and ``question`` was settled by then: the frozen
    final standings count that settlement, so it cannot be undone (pages say so)."""
    end = ended_at(comp)
    if end is None or question.status not in ("resolved", "cancelled"):
        return False
    return question.resolved_at is None or question.resolved_at <= end


def _refuse_if_in_final_standings(session: Session, question: Question) -> None:
    """Refuse to undo a settlement that the frozen final standings count.

    After a competition ends its standings are computed as of the end
    (queries._compute_leaderboard): a question settled by then counts with
    its payouts and scores.  Undone later, it would be closed again with no
    resolved_at, so its position would be valued on top of the payout (whose
    reversal comes after the end and is taken back out) and its scores would
    be gone.  A settlement made after the end is still open as of the end,
    so undoing it changes nothing there and stays allowed.

    The competition row is read FOR SHARE: closing it (FOR UPDATE, then
    stamping closed_at) waits for this undo, or this undo sees it closed.
    """
    comp = read_for_share(session, question.competition_id)
    if in_final_standings(question, comp):
        raise Conflict(
            "This question was settled before the competition ended; its resolution is "
            "part of the final standings and cannot be undone.",
            code="competition_closed",
        )


def undo(*, session: Session, user_id: int, question_id: object, note: object = "") -> Question:
    """Reverse the resolution or cancellation exactly; the question goes back to closed.

    Its scores are removed.  Raises Forbidden, Conflict (not_resolved; or
    competition_closed: settled by the end of a competition that has ended).
    """
    question, locked = _open_for_resolution(session, user_id, question_id)
    note, _ = check_text(note, "")
    if question.status not in ("resolved", "cancelled") or question.resolution_action_id is None:
        raise Conflict("This question is not resolved.", code="not_resolved")
    _refuse_if_in_final_standings(session, question)
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
    back: dict[int, int] = defaultdict(int)
    for member_id, amount in session.execute(
        select(_L.c.membership_id, _L.c.amount).where(
            _L.c.action_id == previous, _L.c.membership_id.is_not(None)
        )
    ):
        back[member_id] -= amount
    _lock_members(session, set(back) - locked)  # holders since the first read
    ledger.transfer_many(
        session, question=question, amounts=back, kind="reversal", action_id=action.id
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
