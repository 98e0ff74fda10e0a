"""The trade form and the trading services between them: the order a form describes, a
service's error put beside the field it concerns, and what a quote or a trade says."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from forecast.market.lmsr import Quote
from forecast.market.money import fmt
from forecast.services import trading
from forecast.services.errors import Conflict, DomainError, Invalid, NotFound
from forecast.web.forms import TradeForm

AMOUNT_FIELDS = {"buy": "spend", "sell": "sell", "probability": "probability"}


class MissingAmount(Invalid):
    """The amount box is empty: an error on a trade, just a hint on a live quote."""


def _money_text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def order_of(form: TradeForm, outcome_ids: list[int]) -> trading.Order:
    """The order the form describes; Invalid names the form's field."""
    try:
        outcome_id = int(form.outcome.data or "")
    except (TypeError, ValueError):
        outcome_id = None
    if outcome_id not in outcome_ids:
        raise Invalid("Choose an outcome.", field="outcome")
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
            return trading.parse_order(outcome_id=outcome_id, spend=text)
        if mode == "sell":
            return trading.parse_order(outcome_id=outcome_id, sell=text)
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
        return trading.parse_order(
            outcome_id=outcome_id, to_probability=float(percent / 100), max_spend=max_spend
        )
    except Invalid as e:
        if e.field == "to_probability":
            e.field = "probability"
        raise


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


def quote_view(q: Quote, labels: list[str], balance: int, order: trading.Order) -> dict:
    """What partials/_quote.html shows of a quote (``labels``: the outcomes' in order)."""
    index = q.outcome
    return {
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
        text = f"Bought {fmt(t.shares)} shares of {label} for {fmt(t.cost)} points."
    else:
        text = f"Sold {fmt(-t.shares)} shares of {label} for {fmt(-t.cost)} points."
    return f"{text} Your balance is {fmt(result.balance)} points."
