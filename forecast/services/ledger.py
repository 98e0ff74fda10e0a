"""The append-only ledger: the only place that moves points.

Every movement is written as LedgerEntry rows and applied to the cached
balances (Membership.balance, Question.mm_cash) in the same call, so the two
cannot drift apart.  Callers hold the row locks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import JSON, bindparam, insert, text, update
from sqlmodel import Session

from forecast.db import Prepared, insert_many
from forecast.models import (
    LedgerEntry,
    Membership,
    Outcome,
    Position,
    Question,
    Trade,
    UTCDateTime,
    utcnow,
)

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
        _INSERT_LEDGER,
        _rows(
            question.competition_id,
            question.id,
            [(member.id, to_member)],
            kind,
            trade_id,
            action_id,
            utcnow(),
        ),
    )


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
    """Write a priced trade; returns the trade's id.  The caller holds the question
    and the wallet locked (services.trading) but not as objects.

    ``trade``: the trade row's columns (question_id, membership_id, outcome_id,
    shares, cost, created_at, ...).  Everything a trade changes, together:
    the outcome's q (``new_q``), the member's position (``position_id`` None:
    a new one), the trade row, and the transfer of its cost (as in
    :func:`transfer`: two ledger rows, none for a zero cost; the wallet's
    balance and the market maker's cash moved relative to what the rows
    hold) with the trade's counters in the same two UPDATEs (the wallet's
    trade count, last trade time and questions traded, the question's trade
    count).  On PostgreSQL that is one statement (data-modifying CTEs: one
    round trip instead of seven); on SQLite, in-process, seven plain ones.
    Statements are compiled once.  Session objects of these rows are the
    caller's to expire.
    """
    params = {
        "cid": competition_id,
        "mid": trade["membership_id"],
        "qid": trade["question_id"],
        "oid": trade["outcome_id"],
        "new_q": new_q,
        "shares": trade["shares"],
        "cost": trade["cost"],
        "now": trade["created_at"],
        "first": int(first_on_question),
    }
    if session.get_bind().dialect.name == "postgresql":
        return _BOOK_TRADE_PG_RUN.first(session, {**trade, **params})[0]
    _SET_Q_RUN.write(session, params)
    if position_id is None:
        _NEW_POSITION_RUN.write(session, params)
    else:
        _ADD_POSITION_RUN.write(session, {**params, "pid": position_id})
    trade_id = _INSERT_TRADE_RUN.write(session, {k: trade[k] for k in TRADE_COLUMNS})
    if params["cost"] != 0:
        _INSERT_LEDGER_RUN.write_many(
            session,
            _rows(
                competition_id,
                params["qid"],
                [(params["mid"], -params["cost"])],
                "trade",
                trade_id,
                None,
                params["now"],
            ),
        )
    _TRADE_WALLET_RUN.write(session, params)
    _TRADE_MAKER_RUN.write(session, params)
    return trade_id


_OUTCOME, _POSITION, _TRADE = Outcome.__table__, Position.__table__, Trade.__table__
_INSERT_LEDGER = insert(_LEDGER)
_INSERT_TRADE = insert(_TRADE)
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
# The same writes as the SQLite branch, in one PostgreSQL statement.  The ledger
# rows come wallet first, as transfer() writes them.
_BOOK_TRADE_PG = text(
    """
    WITH o AS (UPDATE outcome SET q = :new_q WHERE id = :oid),
    p AS (
        INSERT INTO "position" (membership_id, question_id, outcome_id, shares, spent)
        VALUES (:mid, :qid, :oid, :shares, :cost)
        ON CONFLICT (membership_id, outcome_id) DO UPDATE
        SET shares = "position".shares + excluded.shares,
            spent = "position".spent + excluded.spent
    ),
    w AS (
        UPDATE membership SET balance = balance - :cost, trade_count = trade_count + 1,
            last_trade_at = :now, questions_traded = questions_traded + :first
        WHERE id = :mid
    ),
    m AS (
        UPDATE question SET mm_cash = mm_cash + :cost, trade_count = trade_count + 1
        WHERE id = :qid
    ),
    t AS (
        INSERT INTO trade (question_id, membership_id, user_id, outcome_id, kind, shares, cost,
            balance_after, probabilities, forecast, idempotency_key, request_hash, created_at)
        VALUES (:qid, :mid, :user_id, :oid, :kind, :shares, :cost, :balance_after,
            :probabilities, :forecast, :idempotency_key, :request_hash, :now)
        RETURNING id
    ),
    l AS (
        INSERT INTO ledgerentry (competition_id, membership_id, question_id, amount, kind,
            trade_id, created_at)
        SELECT :cid, v.mid, v.qid, v.amount, 'trade', t.id, :now
        FROM t, (VALUES (1, CAST(:mid AS INTEGER), CAST(NULL AS INTEGER), -CAST(:cost AS BIGINT)),
                        (2, NULL, :qid, :cost)) AS v (k, mid, qid, amount)
        WHERE :cost <> 0
        ORDER BY v.k
    )
    SELECT id FROM t
    """
).bindparams(
    bindparam("now", type_=UTCDateTime),
    bindparam("probabilities", type_=JSON),
    bindparam("forecast", type_=JSON),
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

    A row per member, in ascending member id, and one row for the market
    maker, their sum negated (so the movement still sums to zero, and the
    question's cash is still the sum of its rows): a resolution pays every
    holder, and each row costs PostgreSQL a check of each of its foreign
    keys, about 35 us a row on this project's CI machine.  Written with
    executemany statements instead of thousands of objects.  Zero amounts
    book nothing.  Membership objects already loaded in the session are
    expired so they re-read the new balance.
    """
    items = sorted((mid, amount) for mid, amount in amounts.items() if amount != 0)
    if not items:
        return
    session.flush()
    insert_many(
        session,
        _LEDGER,
        _rows(question.competition_id, question.id, items, kind, None, action_id, utcnow()),
    )
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


# A trade's statements run on the DBAPI cursor (db.Prepared): compiled once, values
# through the columns' types.  The trade row's columns, as services.trading gives them.
TRADE_COLUMNS = (
    "question_id",
    "membership_id",
    "user_id",
    "outcome_id",
    "kind",
    "shares",
    "cost",
    "balance_after",
    "probabilities",
    "forecast",
    "idempotency_key",
    "request_hash",
    "created_at",
)
_LEDGER_COLUMNS = (
    "competition_id",
    "kind",
    "trade_id",
    "action_id",
    "created_at",
    "membership_id",
    "question_id",
    "amount",
)
_BOOK_TRADE_PG_RUN = Prepared(_BOOK_TRADE_PG)
_SET_Q_RUN = Prepared(_SET_Q)
_NEW_POSITION_RUN = Prepared(_NEW_POSITION)
_ADD_POSITION_RUN = Prepared(_ADD_POSITION)
_INSERT_TRADE_RUN = Prepared(_INSERT_TRADE, column_keys=TRADE_COLUMNS)
_INSERT_LEDGER_RUN = Prepared(_INSERT_LEDGER, column_keys=_LEDGER_COLUMNS)
_TRADE_WALLET_RUN = Prepared(_TRADE_WALLET)
_TRADE_MAKER_RUN = Prepared(_TRADE_MAKER)
