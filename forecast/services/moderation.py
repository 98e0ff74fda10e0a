"""Read models for the moderator pages: the resolution queue, previews of what
a cancel or an undo would move, and the audit log.  No writes here.

Amounts are ints of money.UNIT, signed from the player's side: positive means
the player receives points, negative means the player gives points back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, and_, col, select

from forecast.market.lmsr import prices
from forecast.models import (
    Competition,
    LedgerEntry,
    Membership,
    ModeratorAction,
    Outcome,
    Position,
    Question,
    Trade,
    User,
    utcnow,
)
from forecast.services.questions import outcomes_of

AUDIT_PAGE_SIZE = 50


def resolution_queue(
    session: Session, competition: Competition, *, now: datetime | None = None
) -> list[Question]:
    """Questions past their close time that await resolution, longest waiting first.

    That is status ``closed``, or ``open`` with a close time that has passed
    (nothing has written ``closed`` on it yet).
    """
    now = now or utcnow()
    return list(
        session.exec(
            select(Question)
            .where(
                Question.competition_id == competition.id,
                or_(
                    Question.status == "closed",
                    and_(Question.status == "open", Question.close_at <= now),
                ),
            )
            .order_by(Question.close_at, Question.id)
        )
    )


def questions_by_status(
    session: Session, competition: Competition, *, now: datetime | None = None
) -> dict[str, list[Question]]:
    """The competition's other questions for the dashboard: still trading, and settled.

    ``open`` closes soonest first; ``settled`` (resolved or cancelled) newest first.
    """
    now = now or utcnow()
    rows = list(session.exec(select(Question).where(Question.competition_id == competition.id)))
    trading = [q for q in rows if q.status == "open" and q.close_at > now]
    settled = [q for q in rows if q.status in ("resolved", "cancelled")]
    trading.sort(key=lambda q: (q.close_at, q.id))
    settled.sort(key=lambda q: (q.resolved_at or q.close_at, q.id), reverse=True)
    return {"open": trading, "settled": settled}


@dataclass(frozen=True)
class MemberMove:
    """What one member receives (amount > 0) or gives back (amount < 0)."""

    membership_id: int
    username: str
    trades: int
    amount: int


@dataclass(frozen=True)
class Debt:
    """A member whose balance an undo would take below zero (see docs/debts.md)."""

    membership_id: int
    username: str
    balance: int  # now
    after: int  # after the undo: negative

    @property
    def owed(self) -> int:
        return -self.after


@dataclass(frozen=True)
class Preview:
    players: int
    trades: int
    moves: list[MemberMove]
    debts: tuple[Debt, ...] = ()

    @property
    def paid_to_players(self) -> int:
        return sum(m.amount for m in self.moves if m.amount > 0)

    @property
    def paid_back(self) -> int:
        return -sum(m.amount for m in self.moves if m.amount < 0)


def _traders(session: Session, question_id: int) -> dict[int, tuple[str, int]]:
    """membership id -> (username, number of trades) for everyone who traded on the question."""
    rows = session.exec(
        select(Trade.membership_id, User.username, func.count())
        .join(Membership, Membership.id == Trade.membership_id)
        .join(User, User.id == Membership.user_id)
        .where(Trade.question_id == question_id)
        .group_by(Trade.membership_id, User.username)
    )
    return {member_id: (name, int(n)) for member_id, name, n in rows}


def _preview(session: Session, question_id: int, amounts: dict[int, int]) -> Preview:
    """Every trader, with what they receive or give back; nobody with an amount is left out."""
    people = _traders(session, question_id)
    missing = sorted(set(amounts) - set(people))  # normally none: positions come from trades
    if missing:
        for member_id, name in session.exec(
            select(Membership.id, User.username)
            .join(User, User.id == Membership.user_id)
            .where(col(Membership.id).in_(missing))
        ):
            people[member_id] = (name, 0)
    moves = [MemberMove(m, name, n, amounts.get(m, 0)) for m, (name, n) in people.items()]
    moves.sort(key=lambda mv: (-abs(mv.amount), mv.username.lower(), mv.membership_id))
    return Preview(players=len(people), trades=sum(n for _, n in people.values()), moves=moves)


def cancel_preview(session: Session, question: Question) -> Preview:
    """What cancelling (N/A) would move: each member gets back the sum of Position.spent.

    The same sum resolution.cancel refunds, so the page states exactly what happens.
    """
    amounts: dict[int, int] = {}
    for member_id, spent in session.exec(
        select(Position.membership_id, func.sum(Position.spent))
        .where(Position.question_id == question.id)
        .group_by(Position.membership_id)
    ):
        amounts[member_id] = int(spent or 0)
    return _preview(session, question.id, amounts)


def undo_preview(session: Session, question: Question) -> Preview:
    """What undoing the resolution or cancellation would move.

    resolution.undo reverses every wallet entry of the resolving action, so
    each member's amount is minus what that action paid them.
    """
    amounts: dict[int, int] = {}
    if question.resolution_action_id is not None:
        for member_id, paid in session.exec(
            select(LedgerEntry.membership_id, func.sum(LedgerEntry.amount))
            .where(
                LedgerEntry.action_id == question.resolution_action_id,
                col(LedgerEntry.membership_id).is_not(None),
            )
            .group_by(LedgerEntry.membership_id)
        ):
            amounts[member_id] = -int(paid or 0)
    preview = _preview(session, question.id, amounts)
    return replace(preview, debts=tuple(_debts(session, amounts)))


def _debts(session: Session, amounts: dict[int, int]) -> list[Debt]:
    """The members whose balance plus their amount is below zero, largest debt first:
    they spent what the undo takes back."""
    takers = sorted(m for m, amount in amounts.items() if amount < 0)
    if not takers:
        return []
    debts = [
        Debt(member_id, name, balance, balance + amounts[member_id])
        for member_id, name, balance in session.exec(
            select(Membership.id, User.username, Membership.balance)
            .join(User, User.id == Membership.user_id)
            .where(col(Membership.id).in_(takers))
        )
        if balance + amounts[member_id] < 0
    ]
    debts.sort(key=lambda d: (d.after, d.username.lower(), d.membership_id))
    return debts


@dataclass(frozen=True)
class OutcomePayout:
    outcome: Outcome
    probability: float
    holders: int
    payout: int


def resolve_preview(session: Session, question: Question) -> list[OutcomePayout]:
    """Per outcome: its probability now, and what resolving to it pays (one point a share)."""
    outcomes = outcomes_of(session, question.id)
    probs = prices([o.q for o in outcomes], question.liquidity)
    held = {
        outcome_id: (int(holders), int(shares or 0))
        for outcome_id, holders, shares in session.exec(
            select(Position.outcome_id, func.count(), func.sum(Position.shares))
            .where(Position.question_id == question.id, Position.shares > 0)
            .group_by(Position.outcome_id)
        )
    }
    return [
        OutcomePayout(o, p, *held.get(o.id, (0, 0))) for o, p in zip(outcomes, probs, strict=True)
    ]


@dataclass(frozen=True)
class LogEntry:
    action: ModeratorAction
    username: str | None
    question_title: str | None
    summary: str


@dataclass(frozen=True)
class LogPage:
    entries: list[LogEntry]
    page: int
    pages: int
    total: int


ACTION_NAMES = {
    "create_question": "created question",
    "edit_question": "edited question",
    "close": "closed trading",
    "resolve": "resolved",
    "cancel": "cancelled (N/A)",
    "undo": "undid resolution",
    "rotate_code": "rotated join code",
    "set_role": "set a role",
    "close_competition": "closed the competition",
    "hide_comment": "hid a comment",
    "show_comment": "showed a comment",
    "remove_member": "removed a member",
    "restore_member": "brought a member back",
    "set_playing": "marked a member playing",
    "set_not_playing": "marked a member not playing",
    "password_reset_link": "made a password reset link",
    "rotate_view_link": "made a new projector view link",
}


def _summary(entry: ModeratorAction, outcome_labels: dict[int, str]) -> str:
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    if entry.action == "resolve":
        label = outcome_labels.get(detail.get("outcome_id"), "?")
        source = detail.get("source_url") or ""
        return f"to {label}" + (f" · source {source}" if source else "")
    if entry.action == "edit_question":
        changed = detail.get("changed") or []
        return "changed " + ", ".join(str(c).replace("_", " ") for c in changed)
    if entry.action == "undo":
        was = detail.get("was")
        return f"was {was}" if was else ""
    if entry.action == "set_role":
        return f"{detail.get('user', '?')} is now {detail.get('role', '?')}"
    if entry.action in (
        "remove_member",
        "restore_member",
        "set_playing",
        "set_not_playing",
        "password_reset_link",
    ):
        return f"for {detail.get('user', '?')}"
    return ""


def audit_log(session: Session, competition: Competition, *, page: int = 1) -> LogPage:
    """The competition's moderator actions, newest first, AUDIT_PAGE_SIZE a page.

    ``page`` is clamped into 1..pages (a page past the end shows the last one).
    """
    total = session.exec(
        select(func.count())
        .select_from(ModeratorAction)
        .where(ModeratorAction.competition_id == competition.id)
    ).one()
    pages = max(1, math.ceil(total / AUDIT_PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = list(
        session.exec(
            select(ModeratorAction, User.username, Question.title)
            .join(User, User.id == ModeratorAction.user_id, isouter=True)
            .join(Question, Question.id == ModeratorAction.question_id, isouter=True)
            .where(ModeratorAction.competition_id == competition.id)
            .order_by(col(ModeratorAction.created_at).desc(), col(ModeratorAction.id).desc())
            .offset((page - 1) * AUDIT_PAGE_SIZE)
            .limit(AUDIT_PAGE_SIZE)
        )
    )
    outcome_ids = {
        a.detail.get("outcome_id")
        for a, _, _ in rows
        if a.action == "resolve" and isinstance(a.detail, dict)
    }
    outcome_ids = {i for i in outcome_ids if isinstance(i, int)}
    labels: dict[int, str] = {}
    if outcome_ids:
        labels = dict(
            session.exec(
                select(Outcome.id, Outcome.label).where(col(Outcome.id).in_(sorted(outcome_ids)))
            ).all()
        )
    entries = [LogEntry(a, name, title, _summary(a, labels)) for a, name, title in rows]
    return LogPage(entries=entries, page=page, pages=pages, total=total)
