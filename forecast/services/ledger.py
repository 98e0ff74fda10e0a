"""The append-only ledger: the only place that moves points.

Every movement is written as LedgerEntry rows and applied to the cached
balances (Membership.balance, Question.mm_cash) in the same call, so the two
cannot drift apart.  Callers hold the row locks.
"""

from __future__ import annotations

from sqlmodel import Session

from forecast.models import LedgerEntry, Membership, Question


def grant(session: Session, member: Membership, amount: int) -> None:
    """Mint ``amount`` units into a member's wallet (the competition's starting balance)."""
    member.balance += amount
    session.add(member)
    session.add(
        LedgerEntry(
            competition_id=member.competition_id,
            membership_id=member.id,
            amount=amount,
            kind="grant",
        )
    )


def transfer(
    session: Session,
    *,
    member: Membership,
    question: Question,
    to_member: int,
    kind: str,
    trade_id: int | None = None,
    action_id: int | None = None,
) -> None:
    """Move ``to_member`` units from the question's market maker to the member (negative: back).

    Two rows that sum to zero: the wallet's and the market maker's.
    """
    if to_member == 0:
        return
    member.balance += to_member
    question.mm_cash -= to_member
    session.add(member)
    session.add(question)
    common = dict(
        competition_id=question.competition_id, kind=kind, trade_id=trade_id, action_id=action_id
    )
    session.add(LedgerEntry(membership_id=member.id, amount=to_member, **common))
    session.add(LedgerEntry(question_id=question.id, amount=-to_member, **common))
