"""The append-only ledger: the only place that moves points.

Every movement is written as LedgerEntry rows and applied to the cached
balances (Membership.balance, Question.mm_cash) in the same call, so the two
cannot drift apart.  Callers hold the row locks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import bindparam, insert, text, update
from sqlmodel import Session

from forecast.db import insert_many
from forecast.models import LedgerEntry, Membership, Question, utcnow

_LEDGER = LedgerEntry.__table__
_WALLET = Membership.__table__
_MAKER = Question.__table__


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
    session.execute(
        insert(_LEDGER),
        _pair(
            question.competition_id,
            member.id,
            question.id,
            to_member,
            kind,
            trade_id,
            action_id,
            utcnow(),
        ),
    )


def _pair(
    competition_id: int,
    member_id: int,
    question_id: int,
    to_member: int,
    kind: str,
    trade_id: int | None,
    action_id: int | None,
    created_at: datetime,
) -> list[dict]:
    """A transfer's two rows, which sum to zero: the wallet's and the market maker's."""
    common = dict(
        competition_id=competition_id,
        kind=kind,
        trade_id=trade_id,
        action_id=action_id,
        created_at=created_at,
    )
    return [
        {**common, "membership_id": member_id, "question_id": None, "amount": to_member},
        {**common, "membership_id": None, "question_id": question_id, "amount": -to_member},
    ]


def book_trade(
    session: Session,
    *,
    competition_id: int,
    member_id: int,
    question_id: int,
    cost: int,
    trade_id: int,
    created_at: datetime,
    first_on_question: bool,
) -> None:
    """A trade's :func:`transfer` (``cost`` from the wallet to the market maker), by ids.

    For a caller that holds the wallet and the question locked but not as
    objects (services.trading).  The same two ledger rows (none for a zero
    cost), the wallet's balance and the market maker's cash moved relative
    to what the rows hold, and in the same two UPDATEs the trade's
    counters: the wallet's trade count, last trade time and questions
    traded, the question's trade count.  Statements compiled once; objects
    of those rows in the session are the caller's to expire.
    """
    if cost != 0:
        session.execute(
            _INSERT_LEDGER,
            _pair(
                competition_id, member_id, question_id, -cost, "trade", trade_id, None, created_at
            ),
        )
    session.execute(
        _TRADE_WALLET,
        {"mid": member_id, "cost": cost, "now": created_at, "first": int(first_on_question)},
    )
    session.execute(_TRADE_MAKER, {"qid": question_id, "cost": cost})


_INSERT_LEDGER = insert(_LEDGER)
_TRADE_WALLET = (
    update(_WALLET)
    .where(_WALLET.c.id == bindparam("mid"))
    .values(
        balance=_WALLET.c.balance - bindparam("cost"),
        trade_count=_WALLET.c.trade_count + 1,
        last_trade_at=bindparam("now"),
        questions_traded=_WALLET.c.questions_traded + bindparam("first"),
    )
)
_TRADE_MAKER = (
    update(_MAKER)
    .where(_MAKER.c.id == bindparam("qid"))
    .values(mm_cash=_MAKER.c.mm_cash + bindparam("cost"), trade_count=_MAKER.c.trade_count + 1)
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
    rows = []
    for mid, amount in items:
        rows += _pair(question.competition_id, mid, question.id, amount, kind, None, action_id, now)
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
