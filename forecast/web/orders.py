"""The trade form and the trading services between them: the order a form describes, a
service's error put beside the field it concerns, and what a quote or a trade says."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from forecast.market import lmsr, plans
from forecast.market.lmsr import Quote
from forecast.market.money import fmt, fmt_exact, from_units, typed_amount
from forecast.services import trading
from forecast.services.errors import Conflict, DomainError, Invalid, NotFound
from forecast.web.forms import TradeForm

AMOUNT_FIELDS = {"buy": "spend", "sell": "sell", "probability": "probability"}


class MissingAmount(Invalid):
    """The amount box is empty: an error on a trade, just a hint on a live quote."""


def _money_text(value: str | None) -> str | None:
    """What was typed in an amount box: spaces and thousands separators go ("1,000")."""
    return typed_amount(value or "") or None


@dataclass(frozen=True)
class Holding:
    """The market and the player's side of it as the page read them: what the form's
    shortcuts (max, all) and a stated probability are worked out from.  The trade
    re-prices on the locked rows, and refuses if the market moved past them."""

    q: list[int]
    b: int
    labels: list[str]
    held: list[int]
    balance: int


def fill(form: TradeForm, outcome_ids: list[int], holding: Holding) -> None:
    """Put the exact amount of the form's shortcut in its box: the largest buy ("max") or
    the whole holding ("all"), to the unit.  Invalid when there is none."""
    i = _outcome_index(form, outcome_ids)
    label = holding.labels[i]
    if form.current_mode() == "sell":
        if holding.held[i] <= 0:
            raise Invalid(f"You hold no shares of {label}.", field="sell")
        form.sell.data = str(from_units(holding.held[i]))
        return
    form.mode.data = "buy"
    if holding.balance < 0:
        raise Invalid(
            f"You owe {fmt_exact(-holding.balance)} points: sell to repay it first.", field="spend"
        )
    spend = plans.max_buy(holding.q, holding.b, i, holding.balance)
    if spend <= 0:
        raise Invalid(
            f"You cannot buy {label} now: you have no points, or its price is at the limit.",
            field="spend",
        )
    form.spend.data = str(from_units(spend))


def _outcome_id(form: TradeForm, outcome_ids: list[int] | None) -> int:
    """The chosen outcome's id, one of ``outcome_ids`` when given (else the trade checks it)."""
    try:
        outcome_id = int(form.outcome.data or "")
    except (TypeError, ValueError):
        outcome_id = None
    if outcome_id is None or (outcome_ids is not None and outcome_id not in outcome_ids):
        raise Invalid("Choose an outcome.", field="outcome")
    return outcome_id


def _outcome_index(form: TradeForm, outcome_ids: list[int]) -> int:
    return outcome_ids.index(_outcome_id(form, outcome_ids))


def order_of(
    form: TradeForm, outcome_ids: list[int] | None = None, holding: Holding | None = None
) -> tuple[trading.Order, str | None]:
    """The order the form describes, and what to tell the player about it (a stated
    probability: which outcome is traded and why); Invalid names the form's field.

    With the ``holding`` (and the question's ``outcome_ids``), a stated probability
    trades from the side that can (plans.plan_to_probability: below the market on a
    binary question it buys the other outcome); without it, it trades the chosen
    outcome as the API does.  Without ``outcome_ids`` the trade checks the outcome.
    """
    outcome_id = _outcome_id(form, outcome_ids)
    mode = form.current_mode()
    field = AMOUNT_FIELDS[mode]
    text = _money_text(getattr(form, field).data)
    if text is None:
        prompts = {
            "buy": "Type how many points to spend.",
            "sell": "Type how many shares to sell.",
            "probability": "Type your probability, like 35 for 35%.",
        }
        raise MissingAmount(prompts[mode], field=field)
    if len(text) > 60:
        raise Invalid("Type a number, like 25 or 12.5.", field=field)
    try:
        if mode == "buy":
            return trading.parse_order(outcome_id=outcome_id, spend=text), None
        if mode == "sell":
            return trading.parse_order(outcome_id=outcome_id, sell=text), None
        try:
            percent = Decimal(text.rstrip("%").strip())
        except InvalidOperation:
            percent = None
        if percent is None or not percent.is_finite() or not 0 < percent < 100:
            raise Invalid(
                "Your probability is a number between 0 and 100, like 35.", field="probability"
            )
        max_spend = _money_text(form.max_spend.data)
        if max_spend is not None and len(max_spend) > 60:
            raise Invalid("Type a number, like 25 or 12.5.", field="max_spend")
        target = float(percent / 100)
        if holding is None:
            order = trading.parse_order(
                outcome_id=outcome_id, to_probability=target, max_spend=max_spend
            )
            return order, None
        return _planned(outcome_ids or [], outcome_id, target, max_spend, holding)
    except Invalid as e:
        if e.field == "to_probability":
            e.field = "probability"
        raise


def _planned(
    outcome_ids: list[int], outcome_id: int, target: float, max_spend: str | None, h: Holding
) -> tuple[trading.Order, str]:
    """The order for a stated probability, from plans.plan_to_probability."""
    i = outcome_ids.index(outcome_id)
    try:
        plan = plans.plan_to_probability(h.q, h.b, i, target, h.held, h.labels)
    except lmsr.MarketError as e:
        raise Conflict(str(e), code=e.code) from None
    if not plan.trades:
        raise Conflict(plan.note, code="not_enough_shares", field="probability")
    traded = outcome_ids[plan.outcome]
    if plan.sell is not None:
        return trading.parse_order(outcome_id=traded, sell=from_units(plan.sell)), plan.note
    order = trading.parse_order(
        outcome_id=traded, to_probability=plan.to_probability, max_spend=max_spend
    )
    return order, plan.note


def attach(form: TradeForm, err: DomainError) -> None:
    """Put a service's message next to the field it concerns, or above the form."""
    mode = form.current_mode()
    by_code = {
        "insufficient_balance": AMOUNT_FIELDS[mode],
        "probability_limit": AMOUNT_FIELDS[mode],
        "invalid_trade": AMOUNT_FIELDS[mode],
        "not_enough_shares": AMOUNT_FIELDS[mode],
    }
    name = err.field or by_code.get(err.code)
    if isinstance(err, NotFound):
        name = "outcome"
    field = getattr(form, name, None) if name else None
    if field is not None and name in ("outcome", "spend", "sell", "probability", "max_spend"):
        field.errors = [*field.errors, err.message]
    else:
        form.form_errors.append(err.message)


def error_status(err: DomainError) -> int:
    """409 for a conflict with the state of things (funds, a reused form), else 422."""
    return 409 if isinstance(err, Conflict) else 422


def quote_view(
    q: Quote, labels: list[str], balance: int, order: trading.Order, note: str | None = None
) -> dict:
    """What partials/_quote.html shows of a quote (``labels``: the outcomes' in order;
    ``note``: what order_of said of a stated probability)."""
    index = q.outcome
    return {
        "note": note,
        "outcome": labels[index],
        "index": index,
        "shares": q.shares,
        "cost": q.cost,
        "before": q.probabilities_before[index],
        "after": q.probabilities_after[index],
        "balance_after": balance - q.cost,
        "capped": q.capped,
        "target": order.to_probability,
    }


def done_message(result: trading.TradeResult) -> str:
    """'Bought 71.30 shares of YES for 50.00 points. Your balance is 950.00 points.'"""
    t, label = result.trade, result.outcome.label
    if result.replayed:
        return "That trade was already placed; it was not placed twice."
    if t.shares >= 0:
        text = f"Bought {fmt_exact(t.shares)} shares of {label} for {fmt(t.cost)} points."
    else:
        text = f"Sold {fmt_exact(-t.shares)} shares of {label} for {fmt(-t.cost)} points."
    return f"{text} Your balance is {fmt(result.balance)} points."
