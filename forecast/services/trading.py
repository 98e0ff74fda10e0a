"""Trading: quote and place spend / sell / to_probability orders.

One trade is one transaction: it locks the member's wallet, then the
question (always in that order, so two trades cannot deadlock), re-prices on
the locked state, checks the balance, and books the trade, the position and
two ledger rows (services.ledger.book_trade).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import and_, bindparam
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, select

from forecast.market import lmsr
from forecast.market.money import MoneyError, fmt_exact, to_units
from forecast.models import Competition, Membership, Outcome, Position, Question, Trade, utcnow
from forecast.services import access, ledger
from forecast.services.competitions import effective_status as competition_status
from forecast.services.errors import Conflict, Invalid, NotFound
from forecast.services.questions import effective_status


@dataclass(frozen=True)
class Order:
    outcome_id: int
    spend: int | None = None
    sell: int | None = None
    to_probability: float | None = None
    max_spend: int | None = None

    @property
    def kind(self) -> str:
        if self.spend is not None:
            return "spend"
        if self.sell is not None:
            return "sell"
        return "to_probability"

    def fingerprint(self, question_id: int) -> str:
        body = json.dumps(
            [
                question_id,
                self.outcome_id,
                self.spend,
                self.sell,
                self.to_probability,
                self.max_spend,
            ]
        )
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class TradeResult:
    # The trade row: as written (its columns as attributes, not an object of the
    # session), or the earlier Trade a replayed idempotency key found.
    trade: Trade | SimpleNamespace
    balance: int
    question: QuestionState
    outcome: OutcomeState
    replayed: bool = False


def parse_order(
    *,
    outcome_id: object,
    spend: object = None,
    sell: object = None,
    to_probability: object = None,
    max_spend: object = None,
) -> Order:
    """Check a trade body: one outcome and exactly one of spend, sell, to_probability.

    Raises Invalid naming the field for anything missing, of the wrong type or out of range.
    """
    if isinstance(outcome_id, bool) or not isinstance(outcome_id, int):
        raise Invalid("Choose an outcome.", field="outcome")
    given = [
        k
        for k, v in (("spend", spend), ("sell", sell), ("to_probability", to_probability))
        if v is not None
    ]
    if len(given) != 1:
        raise Invalid("Give exactly one of spend, sell or to_probability.", field="spend")
    order: dict[str, object] = {"outcome_id": outcome_id}
    try:
        if spend is not None:
            order["spend"] = to_units(spend, field="Spend")
        if sell is not None:
            order["sell"] = to_units(sell, field="Shares to sell")
    except MoneyError as e:
        raise Invalid(str(e), field=given[0]) from None
    if to_probability is not None:
        t = to_probability
        if isinstance(t, str):
            try:
                t = float(t)
            except ValueError:
                raise Invalid("Probability must be a number.", field="to_probability") from None
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise Invalid("Probability must be a number.", field="to_probability")
        if not 0 < t < 1:
            raise Invalid("Probability must be between 0 and 1.", field="to_probability")
        order["to_probability"] = float(t)
    if max_spend is not None:
        if to_probability is None:
            raise Invalid("max_spend goes with to_probability.", field="max_spend")
        try:
            order["max_spend"] = to_units(max_spend, field="Max spend")
        except MoneyError as e:
            raise Invalid(str(e), field="max_spend") from None
    return Order(**order)  # type: ignore[arg-type]


def _price(market: Market, index: int, order: Order, held: int) -> lmsr.Quote:
    q = [o.q for o in market.outcomes]
    b = market.question.liquidity
    try:
        if order.spend is not None:
            return lmsr.quote_spend(q, b, index, order.spend)
        if order.sell is not None:
            return lmsr.quote_sell(q, b, index, order.sell, held)
        return lmsr.quote_to_probability(q, b, index, order.to_probability, held, order.max_spend)
    except lmsr.MarketError as e:
        raise Conflict(str(e), code=e.code) from None


_Q, _C, _M = Question.__table__, Competition.__table__, Membership.__table__
_O, _P = Outcome.__table__, Position.__table__


@dataclass(frozen=True)
class QuestionState:
    """What a trade needs of its question (the row as it was locked)."""

    id: int
    competition_id: int
    status: str
    close_at: datetime
    liquidity: int


@dataclass(frozen=True)
class CompetitionState:
    """What a trade needs of its competition (see competitions.ended_at, access.can_view)."""

    id: int
    status: str
    closed_at: datetime | None
    end_at: datetime | None
    created_at: datetime
    is_listed: bool


@dataclass(frozen=True)
class MemberState:
    """The caller's wallet as it was locked."""

    id: int
    user_id: int
    balance: int


@dataclass(frozen=True)
class OutcomeState:
    """An outcome with the caller's position on it (``position_id`` None: never held)."""

    id: int
    label: str
    q: int
    position_id: int | None
    shares: int


@dataclass(frozen=True)
class Market:
    """What a trade reads, with the caller's wallet and the question locked: the
    question with its competition, the wallet, and the outcomes with the caller's
    positions."""

    question: QuestionState
    comp: CompetitionState
    member: MemberState
    outcomes: list[OutcomeState]

    def index_of(self, outcome_id: int) -> int:
        """The outcome's place in the market; NotFound when it is not this question's."""
        for k, o in enumerate(self.outcomes):
            if o.id == outcome_id:
                return k
        raise NotFound("No such outcome for this question.")


# The caller's wallet in the question's competition, locked first.
_LOCK_WALLET = (
    select(_M.c.id, _M.c.balance)
    .join(_Q, _Q.c.competition_id == _M.c.competition_id)
    .where(
        _Q.c.id == bindparam("qid"),
        _M.c.user_id == bindparam("uid"),
        _M.c.removed_at.is_(None),  # a removed member trades no more
    )
    .with_for_update(of=_M)
)
# The question (locked second) with its competition.
_LOCK_QUESTION = (
    select(
        _Q.c.id,
        _Q.c.competition_id,
        _Q.c.status,
        _Q.c.close_at,
        _Q.c.liquidity,
        _C.c.id,
        _C.c.status,
        _C.c.closed_at,
        _C.c.end_at,
        _C.c.created_at,
        _C.c.is_listed,
    )
    .join(_C, _C.c.id == _Q.c.competition_id)
    .where(_Q.c.id == bindparam("qid"))
    .with_for_update(of=_Q)
)
# The outcomes with the caller's positions, read once both locks are held: only a
# trade on the question changes them, and it holds the question locked.  A statement
# of its own: on PostgreSQL a statement reads what was committed when it began, so
# outcomes joined into the lock above would be read as they were before its wait.
_OUTCOMES = (
    select(_O.c.id, _O.c.label, _O.c.q, _P.c.id, _P.c.shares)
    .outerjoin(_P, and_(_P.c.outcome_id == _O.c.id, _P.c.membership_id == bindparam("mid")))
    .where(_O.c.question_id == bindparam("qid"))
    .order_by(_O.c.position)
)


def open_market(session: Session, user_id: int, question_id: object) -> Market:
    """Load and lock what a trade on ``question_id`` needs, checking the caller may trade there.

    Locks the caller's wallet, then the question (SELECT ... FOR UPDATE on
    PostgreSQL; SQLite's BEGIN IMMEDIATE holds the only write lock), the
    order every use case locks them in.  Raises NotFound for an unknown
    question (or one the caller may not see), Forbidden for a non-member.
    Pass the result to ``trade``/``quote`` as ``market`` so a caller that
    checks first does not read it all twice.
    """
    question_id = access.question_id_of(question_id)
    params = {"qid": question_id, "uid": user_id}
    wallet = session.execute(_LOCK_WALLET, params).first()
    if wallet is None:
        _, comp = access.get_question_and_competition(session, question_id)  # NotFound
        access.require_member(session, user_id, comp)  # NotFound when private, else Forbidden
        raise AssertionError("require_member found a wallet the trade did not")  # pragma: no cover
    row = session.execute(_LOCK_QUESTION, params).one()
    question, comp = QuestionState(*row[:5]), CompetitionState(*row[5:])
    member = MemberState(wallet.id, user_id, wallet.balance)
    outcomes = [
        OutcomeState(oid, label, q, pid, shares or 0)
        for oid, label, q, pid, shares in session.execute(
            _OUTCOMES, {"qid": question.id, "mid": member.id}
        )
    ]
    _expire(session, Question, [question.id])  # ORM copies in this session re-read the locked row
    return Market(question, comp, member, outcomes)


def _market(session: Session, user_id: int, question_id: object, market: Market | None) -> Market:
    if market is None or market.question.id != question_id or market.member.user_id != user_id:
        market = open_market(session, user_id, question_id)
    return market


def _check_open(market: Market, now: datetime) -> None:
    if competition_status(market.comp, now) != "open":
        raise Conflict("This competition has ended; trading is over.", code="question_not_open")
    if effective_status(market.question, now) != "open":
        raise Conflict("This question is closed to trading.", code="question_not_open")


def quote(
    *,
    session: Session,
    user_id: int,
    question_id: object,
    order: Order,
    market: Market | None = None,
) -> lmsr.Quote:
    """What ``order`` would do now, changing nothing.  Raises as ``trade`` does."""
    market = _market(session, user_id, question_id, market)
    index = market.index_of(order.outcome_id)
    _check_open(market, utcnow())
    return _price(market, index, order, market.outcomes[index].shares)


def trade(
    *,
    session: Session,
    user_id: int,
    question_id: object,
    order: Order,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    market: Market | None = None,
) -> TradeResult:
    """Place ``order`` for ``user_id``: the whole trade in the caller's transaction.

    Rounding is the market maker's (see market.lmsr).  Raises NotFound
    (question, outcome), Forbidden (not a member), Conflict with codes
    question_not_open, insufficient_balance, not_enough_shares,
    probability_limit, idempotency_key_reused.  A repeated idempotency key
    with the same order returns the first trade (``replayed``).

    Writes through ledger.book_trade: the outcome's q, the position, the
    trade, the two ledger rows, the wallet with its trade counters and the
    market maker with the question's trade_count.  ORM objects of those
    rows that the caller's session holds are expired, so they read the new
    values.
    """
    now = now or utcnow()
    market = _market(session, user_id, question_id, market)
    index = market.index_of(order.outcome_id)
    question, member, outcome = market.question, market.member, market.outcomes[index]
    # The order's fingerprint, kept with an idempotency key (and only then: it is what
    # a repeat of the key is checked against).
    fingerprint = None if idempotency_key is None else order.fingerprint(question.id)
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 200:
            raise Invalid("Idempotency-Key is 1-200 characters.", field="Idempotency-Key")
        earlier = session.exec(
            select(Trade).where(Trade.user_id == user_id, Trade.idempotency_key == idempotency_key)
        ).first()
        if earlier is not None:
            if earlier.request_hash != fingerprint:
                raise Conflict(
                    "This Idempotency-Key was used for a different request.",
                    code="idempotency_key_reused",
                )
            done = next((o for o in market.outcomes if o.id == earlier.outcome_id), outcome)
            return TradeResult(earlier, earlier.balance_after, question, done, replayed=True)
    _check_open(market, now)
    quote_ = _price(market, index, order, outcome.shares)
    if quote_.cost > 0 and member.balance < 0:  # a debt (docs/debts.md): sells repay it
        raise Conflict(
            f"You owe {fmt_exact(-member.balance)} points, so you cannot buy until it is "
            "repaid; sell shares to repay it.",
            code="insufficient_balance",
        )
    if quote_.cost > 0 and quote_.cost > member.balance:
        raise Conflict(
            f"You have {fmt_exact(member.balance)} points; this trade costs "
            f"{fmt_exact(quote_.cost)}.",
            code="insufficient_balance",
        )
    probs = {str(o.id): p for o, p in zip(market.outcomes, quote_.probabilities_after, strict=True)}
    row = dict(
        question_id=question.id,
        membership_id=member.id,
        user_id=user_id,
        outcome_id=outcome.id,
        kind=order.kind,
        shares=quote_.shares,
        cost=quote_.cost,
        balance_after=member.balance - quote_.cost,
        probabilities=probs,
        forecast=_forecast(market.outcomes, index, order, quote_),
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        created_at=now,
    )
    trade_id = ledger.book_trade(
        session,
        row,
        competition_id=question.competition_id,
        new_q=outcome.q + quote_.shares,
        position_id=outcome.position_id,
        first_on_question=all(o.position_id is None for o in market.outcomes),
    )
    _expire(session, Outcome, [o.id for o in market.outcomes])
    _expire(session, Position, [o.position_id for o in market.outcomes if o.position_id])
    _expire(session, Membership, [member.id])
    _expire(session, Question, [question.id])
    return TradeResult(SimpleNamespace(id=trade_id, **row), row["balance_after"], question, outcome)


def _expire(session: Session, model: type, ids: list[int]) -> None:
    """Expire the session's ORM copies of these rows (written here as plain rows), if any."""
    identity_map = session.identity_map
    if not len(identity_map):
        return
    for id_ in ids:
        obj = identity_map.get(identity_key(model, id_))
        if obj is not None:
            session.expire(obj)


def _forecast(outcomes: list[OutcomeState], index: int, order: Order, quote_: lmsr.Quote) -> dict:
    """The player's forecast: what they stated when trading to a probability, else the market's."""
    after = list(quote_.probabilities_after)
    if order.to_probability is not None and not quote_.capped:
        t = order.to_probability
        rest = 1 - after[index]
        after = [
            t if k == index else (p * (1 - t) / rest if rest else 0.0) for k, p in enumerate(after)
        ]
    return {str(o.id): p for o, p in zip(outcomes, after, strict=True)}


def held_shares(session: Session, member: Membership, question_id: int) -> dict[int, int]:
    rows = session.exec(
        select(Position).where(
            Position.membership_id == member.id, Position.question_id == question_id
        )
    )
    return {p.outcome_id: p.shares for p in rows}
