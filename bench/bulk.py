"""Bulk data for benchmarks and demos: many players, questions and trades, fast.

Every price comes from the market code (forecast.market.lmsr) and every trade
is booked the way services.trading books one: the outcome's q, the position,
the trade row, the member's balance, the market maker's cash and two ledger
rows that sum to zero.  Only the writing is different: thousands of trades
are priced in memory and written per transaction with executemany and
multi-row inserts, so each committed batch leaves the books balanced and
``forecast audit`` passes after any of them.

The generator keeps the market state in memory between batches, so it must
be the only writer: run it with the server stopped (or on a site nobody
else is trading on).  It refuses names that already exist.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import JSON, Table, bindparam, func, insert, select, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session
from werkzeug.security import generate_password_hash

from forecast.db import Database
from forecast.market import lmsr
from forecast.market.money import UNIT
from forecast.models import (
    Competition,
    LedgerEntry,
    Membership,
    Outcome,
    Position,
    Question,
    Trade,
    User,
    utcnow,
)
from forecast.services import accounts, competitions, questions
from forecast.services.errors import Conflict, Invalid
from forecast.services.trading import Order, _forecast

Progress = Callable[[str, int, int], None]

_T = Trade.__table__
_L = LedgerEntry.__table__
_P = Position.__table__
_M = Membership.__table__
_O = Outcome.__table__
_Q = Question.__table__
_U = User.__table__

MC_LABELS = ["Amazon", "Microsoft", "Meta", "Oracle", "ByteDance", "Someone else", "A ban"]


def _quiet(stage: str, done: int, total: int) -> None:
    pass


@dataclass
class _Outcome:
    id: int
    q: int
    dirty: bool = False


@dataclass
class _Question:
    id: int
    competition_id: int
    b: int
    outcomes: list[_Outcome]
    mm_cash: int
    trade_count: int


@dataclass
class _Member:
    id: int
    user_id: int
    balance: int
    trade_count: int = 0
    last_trade_at: datetime | None = None
    questions_traded: int = 0


@dataclass
class _Position:
    id: int | None
    membership_id: int
    question_id: int
    outcome_id: int
    shares: int = 0
    spent: int = 0


@dataclass
class Market:
    """What trading needs, held in memory: questions, members and their positions."""

    competition_id: int
    questions: dict[int, _Question] = field(default_factory=dict)
    members: dict[int, _Member] = field(default_factory=dict)
    positions: dict[tuple[int, int], _Position] = field(default_factory=dict)


@dataclass
class Booked:
    """How a run of trades went."""

    trades: int = 0
    rejected: int = 0
    batches: int = 0


def load_market(session: Session, comp: Competition, question_ids: Iterable[int]) -> Market:
    """The competition's members, and these questions with their outcomes and positions."""
    market = Market(comp.id)
    for mid, uid, bal, n, last, traded in session.execute(
        select(
            _M.c.id,
            _M.c.user_id,
            _M.c.balance,
            _M.c.trade_count,
            _M.c.last_trade_at,
            _M.c.questions_traded,
        ).where(_M.c.competition_id == comp.id)
    ):
        market.members[mid] = _Member(mid, uid, bal, n, last, traded)
    ids = sorted(set(question_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for qid, cid, b, cash, n in session.execute(
            select(_Q.c.id, _Q.c.competition_id, _Q.c.liquidity, _Q.c.mm_cash, _Q.c.trade_count)
            .where(_Q.c.id.in_(chunk))
            .order_by(_Q.c.id)
        ):
            if cid != comp.id:
                raise Invalid(f"Question {qid} is not in {comp.slug}.")
            market.questions[qid] = _Question(qid, cid, b, [], cash, n)
        for oid, qid, q in session.execute(
            select(_O.c.id, _O.c.question_id, _O.c.q)
            .where(_O.c.question_id.in_(chunk))
            .order_by(_O.c.question_id, _O.c.position)
        ):
            market.questions[qid].outcomes.append(_Outcome(oid, q))
        for pid, mid, qid, oid, shares, spent in session.execute(
            select(_P.c.id, _P.c.membership_id, _P.c.question_id, _P.c.outcome_id)
            .add_columns(_P.c.shares, _P.c.spent)
            .where(_P.c.question_id.in_(chunk))
        ):
            market.positions[(mid, oid)] = _Position(pid, mid, qid, oid, shares, spent)
    return market


def _quote(market: Market, member: _Member, question: _Question, index: int, order: Order):
    """The market maker's quote, exactly as services.trading prices it, or None if refused."""
    q = [o.q for o in question.outcomes]
    held = market.positions.get((member.id, question.outcomes[index].id))
    held_shares = held.shares if held else 0
    try:
        if order.spend is not None:
            quote = lmsr.quote_spend(q, question.b, index, order.spend)
        elif order.sell is not None:
            quote = lmsr.quote_sell(q, question.b, index, order.sell, held_shares)
        else:
            quote = lmsr.quote_to_probability(
                q, question.b, index, order.to_probability, held_shares, order.max_spend
            )
    except lmsr.MarketError:
        return None
    if quote.cost > member.balance:
        return None
    return quote


class _Batch:
    """Rows for one transaction."""

    def __init__(self) -> None:
        self.trades: list[dict] = []
        self.costs: list[tuple[int, int, int]] = []  # (member id, question id, cost)
        self.touched_members: dict[int, _Member] = {}
        self.touched_questions: dict[int, _Question] = {}
        self.touched_positions: dict[tuple[int, int], _Position] = {}


def _book(
    market: Market,
    batch: _Batch,
    member: _Member,
    question: _Question,
    index: int,
    order: Order,
    quote: lmsr.Quote,
    at: datetime,
) -> None:
    """Apply one priced trade to the in-memory state, as services.trading.trade does."""
    outcome = question.outcomes[index]
    outcome.q += quote.shares
    outcome.dirty = True
    key = (member.id, outcome.id)
    pos = market.positions.get(key)
    if pos is None:
        if not any((member.id, o.id) in market.positions for o in question.outcomes):
            member.questions_traded += 1  # the member's first position on this question
        pos = market.positions[key] = _Position(None, member.id, question.id, outcome.id)
    pos.shares += quote.shares
    pos.spent += quote.cost
    batch.trades.append(
        {
            "question_id": question.id,
            "membership_id": member.id,
            "user_id": member.user_id,
            "outcome_id": outcome.id,
            "kind": order.kind,
            "shares": quote.shares,
            "cost": quote.cost,
            "balance_after": member.balance - quote.cost,
            "probabilities": {
                str(o.id): p
                for o, p in zip(question.outcomes, quote.probabilities_after, strict=True)
            },
            "forecast": _forecast(question.outcomes, index, order, quote),  # type: ignore[arg-type]
            "idempotency_key": None,
            "request_hash": None,  # kept with an idempotency key only, as trading.trade does
            "created_at": at,
        }
    )
    batch.costs.append((member.id, question.id, quote.cost))
    question.trade_count += 1
    member.trade_count += 1
    member.last_trade_at = at
    # ledger.transfer(to_member=-cost): the wallet pays, the market maker receives.
    member.balance -= quote.cost
    question.mm_cash += quote.cost
    batch.touched_members[member.id] = member
    batch.touched_questions[question.id] = question
    batch.touched_positions[key] = pos


def _new_trade_ids(session: Session, rows: list[dict]) -> list[int]:
    """Insert the trades; their ids in row order."""
    if session.get_bind().dialect.name == "postgresql":
        # Take the ids from the table's sequence first, then one unnest INSERT.
        ids = sorted(
            session.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('trade', 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": len(rows)},
            ).scalars()
        )
        insert_many(session, _T, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
        return ids
    stmt = insert(_T).returning(_T.c.id, sort_by_parameter_order=True)
    return list(session.scalars(stmt, rows))


@dataclass
class _Rows:
    """A closed batch's values, copied so pricing can go on while they are written."""

    trades: list[dict]
    costs: list[tuple[int, int, int]]
    positions: list[tuple[_Position, dict]]  # the object (for its id) and its values then
    outcomes: list[dict]
    questions: list[dict]
    members: list[dict]


def _freeze(batch: _Batch) -> _Rows:
    outcomes = []
    for question in batch.touched_questions.values():
        for o in question.outcomes:
            if o.dirty:
                outcomes.append({"id": o.id, "q": o.q})
                o.dirty = False
    return _Rows(
        trades=batch.trades,
        costs=batch.costs,
        positions=[
            (
                p,
                {
                    "membership_id": p.membership_id,
                    "question_id": p.question_id,
                    "outcome_id": p.outcome_id,
                    "shares": p.shares,
                    "spent": p.spent,
                },
            )
            for p in batch.touched_positions.values()
        ],
        outcomes=outcomes,
        questions=[
            {"id": q.id, "mm_cash": q.mm_cash, "trade_count": q.trade_count}
            for q in batch.touched_questions.values()
        ],
        members=[
            {
                "id": m.id,
                "balance": m.balance,
                "trade_count": m.trade_count,
                "last_trade_at": m.last_trade_at,
                "questions_traded": m.questions_traded,
            }
            for m in batch.touched_members.values()
        ],
    )


def _write(session: Session, competition_id: int, rows: _Rows) -> None:
    """Write one batch: trades, ledger rows, positions, outcomes, questions, wallets.

    Batches are written one after another, so a position first booked in an
    earlier batch has its id by the time a later batch updates it.
    """
    trade_ids = _new_trade_ids(session, rows.trades)
    ledger_rows = []
    for tid, row, (mid, qid, cost) in zip(trade_ids, rows.trades, rows.costs, strict=True):
        if cost == 0:  # ledger.transfer books nothing for a zero amount
            continue
        common = {
            "competition_id": competition_id,
            "kind": "trade",
            "trade_id": tid,
            "action_id": None,
            "created_at": row["created_at"],
        }
        ledger_rows.append({**common, "membership_id": mid, "question_id": None, "amount": -cost})
        ledger_rows.append({**common, "membership_id": None, "question_id": qid, "amount": cost})
    insert_many(session, _L, ledger_rows)
    new = {(v["membership_id"], v["outcome_id"]): p for p, v in rows.positions if p.id is None}
    made = insert_many(
        session,
        _P,
        [v for p, v in rows.positions if p.id is None],
        returning=("id", "membership_id", "outcome_id"),
    )
    for pid, mid, oid in made:
        new[(mid, oid)].id = pid
    old = [
        {"id": p.id, "shares": v["shares"], "spent": v["spent"]}
        for p, v in rows.positions
        if (v["membership_id"], v["outcome_id"]) not in new
    ]
    update_many(session, _P, "id", old)
    update_many(session, _O, "id", rows.outcomes)
    update_many(session, _Q, "id", rows.questions)
    update_many(session, _M, "id", rows.members)


def book_trades(
    db: Database,
    market: Market,
    orders: Iterable[tuple[int, int, int, Order, datetime | None]],
    *,
    total: int,
    span: tuple[datetime, datetime] | None = None,
    batch_size: int = 5000,
    progress: Progress = _quiet,
) -> Booked:
    """Price and book ``total`` accepted trades from ``orders``.

    ``orders`` yields (membership id, question id, outcome index, order, time)
    and is read until ``total`` trades are booked or it runs out; orders the
    market maker refuses (limits, balance, shares) are counted and skipped.
    Times should not go backwards; a time of None puts the k-th accepted
    trade k/total of the way through ``span``.  Each batch is one transaction.
    """
    booked = Booked()
    batch = _Batch()
    # One writer thread: batch k is written while batch k + 1 is priced.
    writer = ThreadPoolExecutor(max_workers=1)
    pending: Future | None = None

    def write(rows: _Rows) -> None:
        with Session(db.write_engine) as session:
            _write(session, market.competition_id, rows)
            session.commit()

    def flush() -> None:
        nonlocal batch, pending
        if batch.trades:
            rows = _freeze(batch)
            if pending is not None:
                pending.result()
            pending = writer.submit(write, rows)
            booked.batches += 1
        batch = _Batch()

    try:
        progress("trades", 0, total)
        for mid, qid, index, order, at in orders:
            if booked.trades >= total or booked.rejected > 10 * total + 1000:
                break
            member, question = market.members[mid], market.questions[qid]
            quote = _quote(market, member, question, index, order)
            if quote is None:
                booked.rejected += 1
                continue
            if at is None:
                if span is None:
                    raise ValueError("an order without a time needs a span")
                at = span[0] + (span[1] - span[0]) * (booked.trades / max(total, 1))
            _book(market, batch, member, question, index, order, quote, at)
            booked.trades += 1
            if len(batch.trades) >= batch_size:
                flush()
                progress("trades", booked.trades, total)
        flush()
        if pending is not None:
            pending.result()
        progress("trades", booked.trades, total)
    finally:
        writer.shutdown(wait=True)
    return booked


def random_orders(
    market: Market,
    rng: random.Random,
    *,
    members: list[int],
    question_ids: list[int],
) -> Iterator[tuple[int, int, int, Order, None]]:
    """A plausible stream of orders: mostly spends, some sells of what is held, some to_probability.

    Popular questions get more trades (a mild power law).  Orders carry no
    time: book_trades spreads the accepted ones over its span.
    """
    weights = list(itertools.accumulate(1 / (k + 1) ** 0.5 for k in range(len(question_ids))))
    idle = 0
    while idle < 100_000:
        mid = members[rng.randrange(len(members))]
        qid = rng.choices(question_ids, cum_weights=weights)[0]
        question = market.questions[qid]
        n = len(question.outcomes)
        roll = rng.random()
        member = market.members[mid]
        held = [
            (i, p)
            for i, o in enumerate(question.outcomes)
            if (p := market.positions.get((mid, o.id))) is not None and p.shares > 0
        ]
        # Short of points, players sell; nobody spends more than they have.
        low = member.balance < 50 * UNIT
        if held and (roll < 0.2 or (low and roll < 0.8)):
            i, p = held[rng.randrange(len(held))]
            sell = max(1, int(p.shares * rng.uniform(0.1, 1.0)))
            order = Order(outcome_id=question.outcomes[i].id, sell=sell)
        elif member.balance < UNIT:
            idle += 1
            continue
        elif roll < 0.3:
            i = rng.randrange(n)
            p_now = lmsr.prices([o.q for o in question.outcomes], question.b)[i]
            target = min(0.98, max(0.02, round(p_now + rng.uniform(-0.15, 0.15), 3)))
            order = Order(
                outcome_id=question.outcomes[i].id,
                to_probability=target,
                max_spend=min(member.balance, 50 * UNIT),
            )
        else:
            i = rng.randrange(n)
            spend = min(member.balance, rng.randint(UNIT, 25 * UNIT))
            order = Order(outcome_id=question.outcomes[i].id, spend=spend)
        yield mid, qid, i, order, None
        idle = 0


def add_players(
    db: Database,
    comp: Competition,
    *,
    count: int,
    prefix: str,
    password: str,
    joined_at: datetime,
    progress: Progress = _quiet,
    batch_size: int = 2000,
) -> list[int]:
    """Create ``count`` accounts named prefix00001... who join ``comp`` with its starting balance.

    One password hash for all of them (hashing is deliberately slow); the
    starting balance is granted through the ledger as competitions.add_member
    does.  Returns their membership ids.  Raises Conflict when a name is taken.
    """
    accounts.check_password(password)
    width = max(5, len(str(count)))
    names = [f"{prefix}{k:0{width}d}" for k in range(1, count + 1)]
    for name in names[:1] + names[-1:]:
        accounts.check_username(name)
    with db.session() as s:
        taken = s.execute(
            select(func.count()).select_from(_U).where(func.lower(_U.c.username).like(f"{prefix}%"))
        ).scalar_one()
    if taken:
        raise Conflict(f"Accounts named {prefix}... exist already; choose another prefix.")
    pw_hash = generate_password_hash(password)
    member_ids: list[int] = []
    progress("players", 0, count)
    for start in range(0, count, batch_size):
        chunk = names[start : start + batch_size]
        with Session(db.write_engine) as s:
            user_ids = s.scalars(
                insert(_U).returning(_U.c.id, sort_by_parameter_order=True),
                [
                    {
                        "username": n,
                        "password_hash": pw_hash,
                        "is_admin": False,
                        "is_active": True,
                        "created_at": joined_at,
                    }
                    for n in chunk
                ],
            ).all()
            public = competitions.ensure_public(session=s)
            for target in [public] if public.id == comp.id else [public, comp]:
                mids = _join(s, target, user_ids, joined_at)
                if target.id == comp.id:
                    member_ids += mids
            s.commit()
        progress("players", min(start + batch_size, count), count)
    return member_ids


def _join(s: Session, comp: Competition, user_ids: list[int], joined_at: datetime) -> list[int]:
    """Memberships with the starting balance granted through the ledger (as add_member does)."""
    mids = s.scalars(
        insert(_M).returning(_M.c.id, sort_by_parameter_order=True),
        [
            {
                "user_id": uid,
                "competition_id": comp.id,
                "role": "player",
                "balance": comp.starting_balance,
                "joined_at": joined_at,
            }
            for uid in user_ids
        ],
    ).all()
    s.execute(
        insert(_L),
        [
            {
                "competition_id": comp.id,
                "membership_id": mid,
                "question_id": None,
                "amount": comp.starting_balance,
                "kind": "grant",
                "trade_id": None,
                "action_id": None,
                "created_at": joined_at,
            }
            for mid in mids
        ],
    )
    competitions.count_members(s, comp.id, len(mids))
    return list(mids)


def join_users(
    db: Database, comp: Competition, user_ids: list[int], *, batch_size: int = 2000
) -> list[int]:
    """Make these accounts members of ``comp`` (none may be one already); their membership ids."""
    out: list[int] = []
    joined_at = utcnow()
    for start in range(0, len(user_ids), batch_size):
        chunk = user_ids[start : start + batch_size]
        with Session(db.write_engine) as s:
            out += _join(s, comp, chunk, joined_at)
            s.commit()
    return out


def add_questions(
    db: Database,
    comp: Competition,
    *,
    count: int,
    rng: random.Random,
    created_at: datetime,
    close_at: datetime,
    liquidity: int,
    binary_only: bool = False,
    title: str = "Benchmark question {n}: will it happen?",
    progress: Progress = _quiet,
) -> list[int]:
    """Create ``count`` questions through services.questions: about 2 in 3 binary,
    the rest multiple choice with 3 to 7 outcomes (or all binary)."""
    ids: list[int] = []
    progress("questions", 0, count)

    def create(s: Session, k: int) -> int:
        multiple = k % 3 == 2 and not binary_only
        fields: dict = {
            "title": title.format(n=k + 1),
            "description": "Generated by bench/generate.py.",
            "resolution_criteria": "Resolved by the benchmark.",
            "kind": "multiple_choice" if multiple else "binary",
            "outcomes": MC_LABELS[: rng.randint(3, len(MC_LABELS))] if multiple else None,
            "close_at": close_at,
            "liquidity": liquidity / UNIT,
        }
        q = questions.create_question(
            session=s, user_id=None, competition=comp, check_moderator=False, **fields
        )
        q.created_at = created_at
        s.add(q)
        s.flush()
        return q.id

    for start in range(0, count, 50):
        chunk = range(start, min(start + 50, count))
        ids += db.transaction(lambda s, chunk=chunk: [create(s, k) for k in chunk])
        progress("questions", len(ids), count)
    return ids


@dataclass
class Summary:
    competition: str
    admin: str
    password: str
    players: int
    questions: list[int]
    booked: Booked
    tokens: list[tuple[str, str]]
    seconds: dict[str, float]


def ensure_admin(db: Database, *, username: str, password: str) -> int:
    """The benchmark's moderator: an existing account, or a new site admin."""

    def use_case(s: Session) -> int:
        user = s.execute(select(_U.c.id).where(_U.c.username == username)).first()
        if user is not None:
            return user[0]
        return accounts.create_user(
            session=s, username=username, password=password, is_admin=True
        ).id

    return db.transaction(use_case)


def make_tokens(db: Database, member_ids: list[int], *, label: str = "bench") -> list[tuple]:
    """An API token for each of these members' accounts: (username, token)."""
    out: list[tuple[str, str]] = []

    def use_case(s: Session, chunk: list[int]) -> list[tuple[str, str]]:
        rows = s.execute(
            select(_U.c.id, _U.c.username)
            .join(_M, _M.c.user_id == _U.c.id)
            .where(_M.c.id.in_(chunk))
            .order_by(_M.c.id)
        ).all()
        return [
            (name, accounts.create_token(session=s, user_id=uid, name=label)[1])
            for uid, name in rows
        ]

    for start in range(0, len(member_ids), 500):
        chunk = member_ids[start : start + 500]
        out += db.transaction(lambda s, chunk=chunk: use_case(s, chunk))
    return out


def days_ago(days: float) -> datetime:
    return utcnow() - timedelta(days=days)


def default_liquidity(trades: int, questions_: int) -> int:
    """A depth that keeps prices moving but inside the limits: more trades, deeper markets."""
    per_question = trades / max(questions_, 1)
    points = min(10_000, max(100, int(math.sqrt(per_question) * 20)))
    return points * UNIT


def generate(
    db: Database,
    *,
    players: int,
    questions_: int,
    trades: int,
    slug: str = competitions.PUBLIC_SLUG,
    prefix: str = "player",
    password: str = "bench-password",
    admin: str = "bench-admin",
    tokens: int = 100,
    seed: int = 1,
    days: float = 30,
    batch_size: int = 5000,
    progress: Progress = _quiet,
) -> Summary:
    """Fill a competition: ``players`` new players, ``questions_`` new questions, ``trades`` trades.

    The competition is ``slug`` (the public one by default; any other slug is
    created, owned by ``admin``).  Trades are spread over the last ``days``
    days.  The first ``tokens`` players get an API token each.
    """
    import time

    rng = random.Random(seed)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    start, end = days_ago(days), utcnow()
    admin_id = ensure_admin(db, username=admin, password=password)

    def competition(s: Session) -> Competition:
        if slug == competitions.PUBLIC_SLUG:
            return competitions.ensure_public(session=s)
        comp = s.execute(select(Competition).where(Competition.slug == slug)).scalar_one_or_none()
        if comp is not None:
            return comp
        return competitions.create_competition(
            session=s, user_id=admin_id, name=f"Benchmark {slug}", slug=slug, starting_balance=1000
        )

    comp = db.transaction(competition)
    member_ids = add_players(
        db,
        comp,
        count=players,
        prefix=prefix,
        password=password,
        joined_at=start - timedelta(days=1),
        progress=progress,
    )
    seconds["players"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    question_ids = add_questions(
        db,
        comp,
        count=questions_,
        rng=rng,
        created_at=start - timedelta(hours=1),
        close_at=utcnow() + timedelta(days=365),
        liquidity=default_liquidity(trades, questions_),
        progress=progress,
    )
    seconds["questions"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    with db.session() as s:
        market = load_market(s, comp, question_ids)
    orders = random_orders(market, rng, members=member_ids, question_ids=question_ids)
    booked = book_trades(
        db,
        market,
        orders,
        total=trades,
        span=(start, end - timedelta(seconds=1)),
        batch_size=batch_size,
        progress=progress,
    )
    seconds["trades"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    made = make_tokens(db, member_ids[: max(0, tokens)])
    seconds["tokens"] = time.perf_counter() - t3
    seconds["total"] = time.perf_counter() - t0
    return Summary(comp.slug, admin, password, players, question_ids, booked, made, seconds)


WIDE_SLUG = "bench-wide"


def wide_question(
    db: Database,
    *,
    holders: int,
    admin: str = "bench-admin",
    password: str = "bench-password",
    seed: int = 2,
    progress: Progress = _quiet,
) -> tuple[int, int, int]:
    """A question held by ``holders`` players, for timing resolution: (question, YES, holders).

    In a competition of its own (WIDE_SLUG, owned by ``admin``) so the
    benchmark's main competition is untouched; its members are the site's
    first ``holders`` accounts other than the admin.  Everyone buys YES
    (1-3 points), about a third also buy NO.  Made once, then reused.
    """
    admin_id = ensure_admin(db, username=admin, password=password)

    def competition(s: Session) -> Competition:
        comp = s.execute(
            select(Competition).where(Competition.slug == WIDE_SLUG)
        ).scalar_one_or_none()
        return comp or competitions.create_competition(
            session=s,
            user_id=admin_id,
            name="Benchmark: one question, many holders",
            slug=WIDE_SLUG,
            starting_balance=1000,
            is_listed=False,
        )

    comp = db.transaction(competition)
    with db.session() as s:
        found = s.execute(
            select(_Q.c.id).where(_Q.c.competition_id == comp.id).order_by(_Q.c.id)
        ).first()
        if found is not None:
            yes = s.execute(
                select(_O.c.id).where(_O.c.question_id == found[0], _O.c.position == 0)
            ).scalar_one()
            n = s.execute(
                select(func.count(func.distinct(_P.c.membership_id))).where(
                    _P.c.question_id == found[0], _P.c.shares > 0
                )
            ).scalar_one()
            return found[0], yes, n
        user_ids = list(
            s.scalars(select(_U.c.id).where(_U.c.id != admin_id).order_by(_U.c.id).limit(holders))
        )
    member_ids = join_users(db, comp, user_ids)
    (qid,) = add_questions(
        db,
        comp,
        count=1,
        rng=random.Random(seed),
        created_at=utcnow() - timedelta(days=1),
        close_at=utcnow() + timedelta(days=365),
        liquidity=10_000 * UNIT,
        binary_only=True,
        title="Benchmark: one question with many holders",
    )
    with db.session() as s:
        market = load_market(s, comp, [qid])
    question = market.questions[qid]
    rng = random.Random(seed)
    start = utcnow() - timedelta(hours=12)

    orders = []
    for mid in member_ids:
        for i in [0] + ([1] if rng.random() < 0.33 else []):
            order = Order(outcome_id=question.outcomes[i].id, spend=rng.randint(UNIT, 3 * UNIT))
            orders.append((mid, qid, i, order, start + timedelta(seconds=len(orders))))
    book_trades(db, market, orders, total=len(orders), progress=progress)
    return qid, question.outcomes[0].id, len(member_ids)


# Many rows at once: on PostgreSQL one statement over unnest() arrays, elsewhere executemany.


def _unnest(dialect, table: Table, rows: list[dict]) -> tuple[list[str], list[str], str, dict]:
    """PostgreSQL: the rows as parallel arrays, ``unnest(...) AS v(c0, c1, ...)``.

    Returns (column names, the select expression of each, the FROM item, params).
    Values go through each column's type (aware datetimes become naive UTC);
    JSON travels as text and is cast back.
    """
    names = list(rows[0])
    params: dict[str, list] = {}
    arrays, selects = [], []
    for k, name in enumerate(names):
        col = table.c[name]
        values = [row[name] for row in rows]
        impl = col.type.impl if isinstance(col.type, TypeDecorator) else col.type
        if isinstance(impl, JSON):
            values = [None if v is None else json.dumps(v) for v in values]
            arrays.append(f"CAST(:a{k} AS TEXT[])")
            selects.append(f"CAST(v.c{len(arrays) - 1} AS JSON)")
        else:
            process = col.type.bind_processor(dialect)
            if process is not None:
                values = [process(v) for v in values]
            sql_type = impl.compile(dialect=dialect)
            if arrays and _all_same(values):
                # One value for every row (a resolution's kind, time, competition): sent
                # once, not as an array of thousands of copies for the driver to dump.
                selects.append(f"CAST(:a{k} AS {sql_type})")
                params[f"a{k}"] = values[0]
                continue
            arrays.append(f"CAST(:a{k} AS {sql_type}[])")
            selects.append(f"v.c{len(arrays) - 1}")
        params[f"a{k}"] = values
    aliases = ", ".join(f"c{k}" for k in range(len(arrays)))
    return names, selects, f"unnest({', '.join(arrays)}) AS v({aliases})", params


def _all_same(values: list) -> bool:
    first = values[0]
    return all(v == first and type(v) is type(first) for v in values)


def insert_many(
    session: Session, table: Table, rows: list[dict], *, returning: Sequence[str] = ()
) -> list[tuple]:
    """INSERT many rows at once: thousands of ledger rows, scores, trades.

    On PostgreSQL one ``INSERT ... SELECT FROM unnest(array, ...)`` (a
    statement with tens of thousands of placeholders costs the driver more
    than the server); elsewhere the driver's executemany.  Every row names
    the same columns.  With ``returning`` column names, returns those
    columns of the new rows, in no particular order.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        stmt = table.insert()
        if returning:
            stmt = stmt.returning(*(table.c[n] for n in returning))
            return [tuple(r) for r in session.execute(stmt, rows)]
        session.execute(stmt, rows)
        return []
    prep = dialect.identifier_preparer
    names, selects, source, params = _unnest(dialect, table, rows)
    sql = (
        f"INSERT INTO {prep.format_table(table)} ({', '.join(prep.quote(n) for n in names)}) "
        f"SELECT {', '.join(selects)} FROM {source}"
    )
    if returning:
        sql += " RETURNING " + ", ".join(prep.quote(n) for n in returning)
        return [tuple(r) for r in session.execute(text(sql), params)]
    session.execute(text(sql), params)
    return []


def update_many(session: Session, table: Table, key: str, rows: list[dict]) -> None:
    """UPDATE many rows at once, each matched on column ``key`` and given the other values.

    On PostgreSQL one ``UPDATE ... FROM unnest(...)``; elsewhere executemany.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        stmt = (
            table.update()
            .where(table.c[key] == bindparam(f"_{key}"))
            .values({n: bindparam(f"_{n}") for n in rows[0] if n != key})
        )
        session.execute(stmt, [{f"_{n}": v for n, v in row.items()} for row in rows])
        return
    prep = dialect.identifier_preparer
    names, selects, source, params = _unnest(dialect, table, rows)
    sets = ", ".join(
        f"{prep.quote(n)} = {expr}" for n, expr in zip(names, selects, strict=True) if n != key
    )
    match = selects[names.index(key)]
    name = prep.format_table(table)
    sql = f"UPDATE {name} SET {sets} FROM {source} WHERE {name}.{prep.quote(key)} = {match}"
    session.execute(text(sql), params)
