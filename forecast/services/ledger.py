"""The append-only ledger: the only place that moves points.

Every movement is written as LedgerEntry rows and applied to the cached
balances (Membership.balance, Question.mm_cash) in the same call, so the two
cannot drift apart.  Callers hold the row locks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session

from forecast.models import (
    LedgerEntry,
    Membership,
    Outcome,
    Position,
    Question,
    Trade,
    utcnow,
)

_LEDGER = LedgerEntry.__table__
_WALLET = Membership.__table__
_MAKER = Question.__table__
# The ledger rows go in as an executemany of one statement (SQLAlchemy sends them as
# one multi-row INSERT and compiles it once), never as .values(rows), which builds and
# compiles a new statement for each call.
_INSERT_LEDGER = insert(_LEDGER)


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
    rows = _rows(
        question.competition_id,
        question.id,
        [(member.id, to_member)],
        kind,
        trade_id,
        action_id,
        utcnow(),
    )
    session.execute(_INSERT_LEDGER, rows)


def _rows(
    competition_id: int,
    question_id: int,
    to_members: list[tuple[int, int]],
    kind: str,
    trade_id: int | None,
    action_id: int | None,
    created_at: datetime,
) -> list[dict]:
    """A movement's rows, which sum to zero: one per member, in the order of
    ``to_members`` ((membership id, units to it) pairs), then the market maker's, their
    sum negated (no row when that is zero)."""
    common = dict(
        competition_id=competition_id,
        kind=kind,
        trade_id=trade_id,
        action_id=action_id,
        created_at=created_at,
    )
    rows = [{**common, "membership_id": m, "question_id": None, "amount": a} for m, a in to_members]
    total = sum(a for _, a in to_members)
    if total != 0:
        rows.append({**common, "membership_id": None, "question_id": question_id, "amount": -total})
    return rows


def book_trade(
    session: Session,
    trade: Mapping[str, object],
    *,
    competition_id: int,
    new_q: int,
    position_id: int | None,
    first_on_question: bool,
) -> int:
    """Write a priced trade; returns the trade's id.  The caller holds the wallet and
    the question locked (services.trading) but not as objects.

    ``trade``: the trade row's columns (question_id, membership_id, outcome_id,
    shares, cost, created_at, ...).  Everything a trade changes, together:
    the outcome's q (``new_q``), the member's position (``position_id`` None:
    a new one), the trade row (its id by RETURNING), and the transfer of its
    cost (as in :func:`transfer`: two ledger rows in one INSERT, none for a
    zero cost; the wallet's balance and the market maker's cash moved
    relative to what the rows hold) with the trade's counters in the same
    two UPDATEs (the wallet's trade count, last trade time and questions
    traded, the question's trade count).  Session objects of these rows are
    the caller's to expire.
    """
    params = {
        "mid": trade["membership_id"],
        "qid": trade["question_id"],
        "oid": trade["outcome_id"],
        "new_q": new_q,
        "shares": trade["shares"],
        "cost": trade["cost"],
        "now": trade["created_at"],
        "first": int(first_on_question),
    }
    session.execute(_SET_Q, params)
    if position_id is None:
        session.execute(_NEW_POSITION, params)
    else:
        session.execute(_ADD_POSITION, {**params, "pid": position_id})
    trade_id = session.execute(_INSERT_TRADE, dict(trade)).scalar_one()
    if params["cost"] != 0:
        rows = _rows(
            competition_id,
            params["qid"],
            [(params["mid"], -params["cost"])],
            "trade",
            trade_id,
            None,
            params["now"],
        )
        session.execute(_INSERT_LEDGER, rows)
    session.execute(_TRADE_WALLET, params)
    session.execute(_TRADE_MAKER, params)
    return trade_id


_OUTCOME, _POSITION, _TRADE = Outcome.__table__, Position.__table__, Trade.__table__
_INSERT_TRADE = insert(_TRADE).returning(_TRADE.c.id)
_SET_Q = update(_OUTCOME).where(_OUTCOME.c.id == bindparam("oid")).values(q=bindparam("new_q"))
_NEW_POSITION = insert(_POSITION).values(
    membership_id=bindparam("mid"),
    question_id=bindparam("qid"),
    outcome_id=bindparam("oid"),
    shares=bindparam("shares"),
    spent=bindparam("cost"),
)
_ADD_POSITION = (
    update(_POSITION)
    .where(_POSITION.c.id == bindparam("pid"))
    .values(
        shares=_POSITION.c.shares + bindparam("shares"),
        spent=_POSITION.c.spent + bindparam("cost"),
    )
)
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
    action_id: int,
) -> None:
    """:func:`transfer` to many members at once, for the moderator action ``action_id``:
    ``amounts`` maps membership id -> to_member.

    A row per member, in ascending member id, and one row for the market
    maker, their sum negated (so the movement still sums to zero, and the
    question's cash is still the sum of its rows).  A resolution pays every
    holder, so the rows go in as one executemany INSERT and every wallet
    moves by its row in one UPDATE joined to the action's rows, never an
    object or a statement per holder.  Zero amounts book nothing.
    Membership objects already loaded in the session are expired so they
    re-read the new balance.
    """
    items = sorted((mid, amount) for mid, amount in amounts.items() if amount != 0)
    if not items:
        return
    session.flush()
    session.execute(
        _INSERT_LEDGER,
        _rows(question.competition_id, question.id, items, kind, None, action_id, utcnow()),
    )
    session.execute(_MOVE_BY_ACTION, {"aid": action_id})
    question.mm_cash -= sum(amount for _, amount in items)
    session.add(question)
    paid = {mid for mid, _ in items}
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Membership) and obj.id in paid:
            session.expire(obj)


# Each wallet with a row of the action moves by that row's amount (a member has one row
# in an action): UPDATE ... FROM on both databases.
_MOVE_BY_ACTION = (
    update(_WALLET)
    .where(
        _WALLET.c.id == _LEDGER.c.membership_id,
        _LEDGER.c.action_id == bindparam("aid"),
    )
    .values(balance=_WALLET.c.balance + _LEDGER.c.amount)
)
