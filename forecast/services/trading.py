"""Trading: quote and place spend / sell / to_probability orders.

One trade is one transaction: it locks the question row, then the member's
wallet (always in that order, so two trades cannot deadlock), re-prices on
the locked state, checks the balance, and books the trade, the position and
two ledger rows.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from forecast.market import lmsr
from forecast.market.money import MoneyError, fmt, to_units
from forecast.models import Competition, Membership, Outcome, Position, Question, Trade, utcnow
from forecast.services import access, ledger
from forecast.services.competitions import effective_status as competition_status
from forecast.services.errors import Conflict, Invalid, NotFound
from forecast.services.questions import effective_status, outcomes_of


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
    trade: Trade
    balance: int
    question: Question
    outcome: Outcome
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


def _price(
    question: Question, outcomes: list[Outcome], index: int, order: Order, held: int
) -> lmsr.Quote:
    q = [o.q for o in outcomes]
    b = question.liquidity
    try:
        if order.spend is not None:
            return lmsr.quote_spend(q, b, index, order.spend)
        if order.sell is not None:
            return lmsr.quote_sell(q, b, index, order.sell, held)
        return lmsr.quote_to_probability(q, b, index, order.to_probability, held, order.max_spend)
    except lmsr.MarketError as e:
        raise Conflict(str(e), code=e.code) from None


def _positions(session: Session, member_id: int, question_id: int) -> dict[int, Position]:
    """The member's positions on the question (even sold out), by outcome: one read."""
    return {
        p.outcome_id: p
        for p in session.exec(
            select(Position).where(
                Position.membership_id == member_id, Position.question_id == question_id
            )
        )
    }


@dataclass
class Market:
    """What a trade reads first, in lock order: the question, its competition,
    the caller's membership (locked second) and the outcomes."""

    question: Question
    comp: Competition
    member: Membership
    outcomes: list[Outcome]


def open_market(session: Session, user_id: int, question_id: object) -> Market:
    """Load and lock what a trade on ``question_id`` needs, checking the caller may trade there.

    Raises NotFound for an unknown question (or one the caller may not see),
    Forbidden for a non-member.  Pass the result to ``trade``/``quote`` as
    ``market`` so a caller that checks first does not read it all twice.
    """
    question, comp = access.get_question_and_competition(session, question_id, lock=True)
    member = access.require_member(session, user_id, comp, lock=True)
    return Market(question, comp, member, outcomes_of(session, question.id))


def _context(
    session: Session, user_id: int, question_id: object, order: Order, market: Market | None
):
    """Question (locked first), membership (locked second), outcomes, the chosen outcome."""
    if market is None or market.question.id != question_id or market.member.user_id != user_id:
        market = open_market(session, user_id, question_id)
    index = next((k for k, o in enumerate(market.outcomes) if o.id == order.outcome_id), None)
    if index is None:
        raise NotFound("No such outcome for this question.")
    return market.question, market.comp, market.member, market.outcomes, index


def _check_open(question: Question, comp: Competition, now: datetime) -> None:
    if competition_status(comp, now) != "open":
        raise Conflict("This competition has ended; trading is over.", code="question_not_open")
    if effective_status(question, now) != "open":
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
    question, comp, member, outcomes, index = _context(
        session, user_id, question_id, order, market
    )
    _check_open(question, comp, utcnow())
    pos = _positions(session, member.id, question.id).get(order.outcome_id)
    return _price(question, outcomes, index, order, pos.shares if pos else 0)


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
    """
    now = now or utcnow()
    question, comp, member, outcomes, index = _context(
        session, user_id, question_id, order, market
    )
    fingerprint = order.fingerprint(question.id)
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
            outcome = session.get(Outcome, earlier.outcome_id)
            return TradeResult(earlier, earlier.balance_after, question, outcome, replayed=True)
    _check_open(question, comp, now)
    outcome = outcomes[index]
    mine = _positions(session, member.id, question.id)
    pos = mine.get(outcome.id)
    held = pos.shares if pos else 0
    quote_ = _price(question, outcomes, index, order, held)
    if quote_.cost > member.balance:
        raise Conflict(
            f"You have {fmt(member.balance)} points; this trade costs {fmt(quote_.cost)}.",
            code="insufficient_balance",
        )
    outcome.q += quote_.shares
    session.add(outcome)
    if pos is None:
        if not mine:  # the member's first position on this question
            member.questions_traded += 1
        pos = Position(membership_id=member.id, question_id=question.id, outcome_id=outcome.id)
    pos.shares += quote_.shares
    pos.spent += quote_.cost
    session.add(pos)
    probs = {str(o.id): p for o, p in zip(outcomes, quote_.probabilities_after, strict=True)}
    trade_ = Trade(
        question_id=question.id,
        membership_id=member.id,
        user_id=user_id,
        outcome_id=outcome.id,
        kind=order.kind,
        shares=quote_.shares,
        cost=quote_.cost,
        balance_after=member.balance - quote_.cost,
        probabilities=probs,
        forecast=_forecast(outcomes, index, order, quote_),
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        created_at=now,
    )
    session.add(trade_)
    session.flush()  # the trade's id for the ledger rows (and the outcome and position)
    # Counters after that flush, so the question and the wallet are each written once.
    question.trade_count += 1
    member.trade_count += 1
    member.last_trade_at = now
    ledger.transfer(
        session,
        member=member,
        question=question,
        to_member=-quote_.cost,
        kind="trade",
        trade_id=trade_.id,
    )
    session.flush()
    return TradeResult(trade_, member.balance, question, outcome)


def _forecast(outcomes: list[Outcome], index: int, order: Order, quote_: lmsr.Quote) -> dict:
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
