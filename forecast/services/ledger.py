"""The append-only ledger: the only place that moves points.

Every movement is written as LedgerEntry rows and applied to the cached
balances (Membership.balance, Question.mm_cash) in the same call, so the two
cannot drift apart.  Callers hold the row locks.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import bindparam, insert, text, update
from sqlmodel import Session

from forecast.db import insert_many
from forecast.models import LedgerEntry, Membership, Question, utcnow

_LEDGER = LedgerEntry.__table__
_WALLET = Membership.__table__


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
        competition_id=question.competition_id,
        kind=kind,
        trade_id=trade_id,
        action_id=action_id,
        created_at=utcnow(),
    )
    # Plain rows (one executemany), not two ORM objects: a trade books these every time.
    session.execute(
        insert(_LEDGER),
        [
            {**common, "membership_id": member.id, "question_id": None, "amount": to_member},
            {**common, "membership_id": None, "question_id": question.id, "amount": -to_member},
        ],
    )


def transfer_many(
    session: Session,
    *,
    question: Question,
    amounts: Mapping[int, int],
    kind: str,
    action_id: int | None = None,
) -> None:
    """:func:`transfer` to many members at once: ``amounts`` maps membership id -> to_member.

    The same rows as one transfer per member in ascending member id, written
    with two executemany statements instead of thousands of objects (a
    resolution pays every holder).  Zero amounts book nothing.  Membership
    objects already loaded in the session are expired so they re-read the
    new balance.
    """
    items = sorted((mid, amount) for mid, amount in amounts.items() if amount != 0)
    if not items:
        return
    session.flush()
    now = utcnow()
    common = dict(
        competition_id=question.competition_id,
        kind=kind,
        trade_id=None,
        action_id=action_id,
        created_at=now,
    )
    rows = []
    for mid, amount in items:
        rows.append({**common, "membership_id": mid, "question_id": None, "amount": amount})
        rows.append(
            {**common, "membership_id": None, "question_id": question.id, "amount": -amount}
        )
    insert_many(session, _LEDGER, rows)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "UPDATE membership SET balance = membership.balance + v.amount "
                "FROM unnest(CAST(:ids AS BIGINT[]), CAST(:amounts AS BIGINT[])) AS v(id, amount) "
                "WHERE membership.id = v.id"
            ),
            {"ids": [mid for mid, _ in items], "amounts": [amount for _, amount in items]},
        )
    else:
        session.execute(
            update(_WALLET)
            .where(_WALLET.c.id == bindparam("mid"))
            .values(balance=_WALLET.c.balance + bindparam("amount")),
            [{"mid": mid, "amount": amount} for mid, amount in items],
        )
    question.mm_cash -= sum(amount for _, amount in items)
    session.add(question)
    paid = {mid for mid, _ in items}
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Membership) and obj.id in paid:
            session.expire(obj)
