"""Hanson's logarithmic market scoring rule, exact to the smallest unit.

State: ``q[i]``, the shares of outcome i the market maker has sold, in units
(see money.UNIT), and the liquidity ``b``, also in units.  Cost
``C(q) = b ln sum_j exp(q_j / b)``; price ``p_i = exp(q_i/b) / sum_j exp(q_j/b)``.

Everything that decides money is computed with :mod:`decimal` at 50 digits and
log-sum-exp, then rounded for the house: shares a player gets round down,
points a player pays round up, points a player receives round down.  So for
every trade ``0 <= cost - (C(after) - C(before)) < 1 unit``.  A spend is first
worked out in doubles with a bound on their error, and that answer is taken
only when the bound shows the 50-digit one would be the same integer
(:func:`shares_for_budget`).

Errors are :class:`MarketError` subclasses with a message fit for a player.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext

from forecast.market.money import UNIT, ceil_units, floor_units, fmt_exact

P_MIN = 0.001
P_MAX = 0.999
MIN_OUTCOMES = 2
MAX_OUTCOMES = 20

_CTX = Context(prec=50)
# Costs are computed to 50 digits; nudging by far more than that error before
# rounding makes an exact-integer result round for the house, never for the player.
_EPS = Decimal("1e-30")


class MarketError(ValueError):
    """A trade the market maker refuses; ``code`` matches the API's error codes."""

    code = "market_error"


class ProbabilityLimit(MarketError):
    code = "probability_limit"


class NotEnoughShares(MarketError):
    code = "not_enough_shares"


class InvalidTrade(MarketError):
    code = "invalid_trade"


@dataclass(frozen=True)
class Quote:
    """What a trade does: ``shares`` > 0 bought or < 0 sold, ``cost`` > 0 paid or < 0 received."""

    outcome: int
    shares: int
    cost: int
    probabilities_before: tuple[float, ...]
    probabilities_after: tuple[float, ...]
    capped: bool = False  # a to_probability buy stopped short by max_spend


def _d(x: int | Decimal) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(x)


def cost(q: Sequence[int], b: int) -> Decimal:
    """C(q) in units, exact to 50 digits (log-sum-exp, no overflow)."""
    with localcontext(_CTX):
        bd = _d(b)
        xs = [_d(qi) / bd for qi in q]
        m = max(xs)
        s = sum((x - m).exp() for x in xs)
        return bd * (m + s.ln())


def prices_exact(q: Sequence[int], b: int) -> list[Decimal]:
    """Probabilities as Decimals that sum to 1 within 1e-45."""
    with localcontext(_CTX):
        bd = _d(b)
        xs = [_d(qi) / bd for qi in q]
        m = max(xs)
        es = [(x - m).exp() for x in xs]
        s = sum(es)
        return [e / s for e in es]


def prices(q: Sequence[int], b: int) -> tuple[float, ...]:
    """Probabilities as floats (display, forecasts, charts)."""
    m = max(q)
    es = [math.exp((qi - m) / b) for qi in q]
    s = math.fsum(es)
    return tuple(e / s for e in es)


def initial_state(b: int, probabilities: Sequence[float] | None, n: int) -> list[int]:
    """Opening q for chosen probabilities (q_i = b ln p_i), or zeros for uniform odds.

    Raises InvalidTrade when the probabilities are not n numbers in
    [P_MIN, P_MAX] that sum to 1 (within 1e-6).
    """
    check_shape(n, b)
    if probabilities is None:
        return [0] * n
    ps = list(probabilities)
    if len(ps) != n:
        raise InvalidTrade(f"Give one opening probability per outcome ({n}).")
    for p in ps:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p):
            raise InvalidTrade("Opening probabilities must be numbers.")
        if not P_MIN <= p <= P_MAX:
            raise InvalidTrade(f"Opening probabilities must be between {P_MIN} and {P_MAX}.")
    if abs(math.fsum(ps) - 1) > 1e-6:
        raise InvalidTrade("Opening probabilities must add up to 1 (100%).")
    with localcontext(_CTX):
        return [int((_d(b) * Decimal(repr(float(p))).ln()).to_integral_value()) for p in ps]


def check_shape(n: int, b: int) -> None:
    if not MIN_OUTCOMES <= n <= MAX_OUTCOMES:
        raise InvalidTrade(f"A question has {MIN_OUTCOMES} to {MAX_OUTCOMES} outcomes.")
    if b <= 0:
        raise InvalidTrade("Liquidity must be positive.")


def _check_outcome(q: Sequence[int], i: int) -> None:
    if not 0 <= i < len(q):
        raise InvalidTrade("No such outcome.")


def _moved(q: Sequence[int], i: int, delta: int) -> list[int]:
    after = list(q)
    after[i] += delta
    return after


def _check_limits(after: Sequence[int], b: int) -> tuple[float, ...]:
    ps = prices(after, b)
    if min(ps) < P_MIN or max(ps) > P_MAX:
        raise ProbabilityLimit(
            "That trade would take a probability outside 0.1%–99.9%; trade a smaller amount."
        )
    return ps


def buy_cost(q: Sequence[int], b: int, i: int, shares: int) -> int:
    """Points (units) to buy ``shares`` of outcome i, rounded up."""
    with localcontext(_CTX):
        return ceil_units(cost(_moved(q, i, shares), b) - cost(q, b) + _EPS)


def sell_proceeds(q: Sequence[int], b: int, i: int, shares: int) -> int:
    """Points (units) paid for selling ``shares`` of outcome i, rounded down."""
    with localcontext(_CTX):
        return floor_units(cost(q, b) - cost(_moved(q, i, -shares), b) - _EPS)


def shares_for_budget(q: Sequence[int], b: int, i: int, budget: int) -> int:
    """Shares (units, rounded down) that ``budget`` units buy of outcome i.

    shares = b ln(1 + (exp(a/b) - 1) / p_i).  In doubles when they decide it
    (:func:`_float_shares`: the same integer in a tenth of the time), else at 50
    digits (:func:`_exact_shares`).
    """
    shares = _float_shares(q, b, i, budget)
    return _exact_shares(q, b, i, budget) if shares is None else shares


# The float filter in front of the exact spend, as in Shewchuk's robust geometric
# predicates: a double computation with a bound on its error decides when the bound
# cannot change the answer, and the exact computation decides the rest.
_U = 2.0**-53  # a double's unit roundoff: one operation's relative error
# The bound in _float_estimate is first-order and takes libm's exp, expm1 and log1p
# within 2 ulps (glibc's are within 1): 1024 times it covers what that leaves out.
_SAFETY = 1024.0
_X_MAX = 700.0  # e^-700 is a normal double, and n of them over the smallest price stay finite
_GAP_MIN = 1e-20  # see _float_estimate: far above the exact path's 1e-30 nudge


def _floor_if_clear(value: float, err: float) -> int | None:
    """floor(v), the same for every v within ``err`` of ``value``; None when it is not."""
    k = math.floor(value)
    if value - k > err and k + 1 - value > err:
        return k
    return None


def _float_shares(q: Sequence[int], b: int, i: int, budget: int) -> int | None:
    """:func:`_exact_shares` worked out in doubles, or None when they cannot tell.

    Their answer is floor(S) when S lies farther than its error bound from every
    integer (see _float_estimate): then it is the floor of the exact S, and the
    50-digit path (its error near 1e-40 of S, its nudge 1e-30) gives the same
    k = floor(S).  Its check that k shares cost at most the budget passes too:
    C(S) - C(k) >= p (S - k), as the price only rises along the way, and S - k
    exceeds the bound less the doubles' actual error, which is under 1/_SAFETY
    of it; so the check is kept only when p times the bound is above _GAP_MIN.
    """
    estimate = _float_estimate(q, b, i, budget)
    if estimate is None:
        return None
    shares, err, p = estimate
    k = _floor_if_clear(shares, err)
    if k is None or p * err < _GAP_MIN:
        return None
    return k


def _float_estimate(
    q: Sequence[int], b: int, i: int, budget: int
) -> tuple[float, float, float] | None:
    """The shares a budget buys, in doubles: (S, a bound on its error, the price p_i),
    or None for numbers past a double's range.

    S = b ln(1 + y/p), with a = budget / b, y = expm1(a), p = e_i / sum e_j and
    e_j = exp(x_j), x_j = (q_j - max q) / b <= 0.  Relative errors to first
    order, in units of u = 2^-53 (a rounded operation: 1; a libm function:
    taken as 4, i.e. 2 ulps): x_j and a, 1 each (Python rounds a quotient of
    ints once); e_j, |x_j| from its argument and 4, so with X = max |x_j| the
    sum (fsum, rounded once) X + 5 and p 2X + 10; y, (1 + a) from its
    argument (expm1's condition number for a > 0) and 4; z = y/p, 2X + a + 16;
    log1p(z) for z > 0 has a condition number below 1, so 2X + a + 20;
    S = b log1p(z) with b made a double, 2X + a + 22.  The bound returned is
    (2X + a + 30) u times _SAFETY.  With X <= _X_MAX no e_j is subnormal.
    """
    if budget <= 0 or b <= 0:  # outside the derivation (log1p of z < 0)
        return None
    try:
        x_max = (max(q) - min(q)) / b  # -min x_j, rounded as each x_j is
        if x_max > _X_MAX:
            return None
        p = prices(q, b)[i]
        a = budget / b
        shares = b * math.log1p(math.expm1(a) / p)
    except OverflowError:  # an int or exp past a double's range
        return None
    if not math.isfinite(shares):  # a quotient past the largest double is inf, not an error
        return None
    return shares, shares * (2 * x_max + a + 30) * _U * _SAFETY, p


def _exact_shares(q: Sequence[int], b: int, i: int, budget: int) -> int:
    """shares_for_budget at 50 digits, via expm1/ln for stability."""
    p = prices_exact(q, b)[i]
    with localcontext(_CTX):
        bd = _d(b)
        a = _d(budget) / bd
        shares = bd * (1 + (a.exp() - 1) / p).ln()
    s = floor_units(shares - _EPS)
    # The 50-digit result can sit a hair above the true value; never let the
    # booked shares cost more than the budget.
    while s > 0 and _buy_cost_at(p, b, s) > budget:
        s -= 1
    return s


def _buy_cost_at(p: Decimal, b: int, shares: int) -> int:
    """buy_cost from the outcome's exact price ``p``: only q_i moves, so
    C(after) - C(before) = b ln(1 - p + p exp(shares / b)), one exp and one ln
    (buy_cost takes an exp per outcome, twice); rounded up the same way."""
    with localcontext(_CTX):
        bd = _d(b)
        return ceil_units(bd * (1 + p * ((_d(shares) / bd).exp() - 1)).ln() + _EPS)


def quote_spend(q: Sequence[int], b: int, i: int, budget: int) -> Quote:
    """Buy outcome i for exactly ``budget`` units: the player pays the whole budget.

    Raises InvalidTrade for a budget <= 0 or too small to buy a unit of a
    share, ProbabilityLimit past [P_MIN, P_MAX].
    """
    _check_outcome(q, i)
    if budget <= 0:
        raise InvalidTrade("Spend must be more than zero.")
    # Moving p_i from p to t costs b ln((1 - p) / (1 - t)), at most b ln 1000 < 7b for
    # t = P_MAX: any larger budget breaks the limit, and exp(budget / b) for a huge one
    # would overflow even 50-digit decimals.
    if budget > 8 * b:
        raise ProbabilityLimit(
            "That trade would take a probability outside 0.1%–99.9%; trade a smaller amount."
        )
    before = prices(q, b)
    shares = shares_for_budget(q, b, i, budget)
    if shares <= 0:
        raise InvalidTrade("That amount is too small to buy any shares.")
    after = _check_limits(_moved(q, i, shares), b)
    return Quote(i, shares, budget, before, after)


def quote_sell(q: Sequence[int], b: int, i: int, shares: int, held: int) -> Quote:
    """Sell ``shares`` units of outcome i out of ``held``; proceeds round down.

    Raises NotEnoughShares when shares > held, ProbabilityLimit past the limits.
    """
    _check_outcome(q, i)
    if shares <= 0:
        raise InvalidTrade("Shares to sell must be more than zero.")
    if shares > held:
        raise NotEnoughShares(
            f"You hold {fmt_exact(held)} shares of this outcome; you cannot sell "
            f"{fmt_exact(shares)}."
        )
    before = prices(q, b)
    after = _check_limits(_moved(q, i, -shares), b)
    return Quote(i, -shares, -sell_proceeds(q, b, i, shares), before, after)


def quote_to_probability(
    q: Sequence[int],
    b: int,
    i: int,
    target: float,
    held: int,
    max_spend: int | None = None,
) -> Quote:
    """Trade outcome i until its probability is ``target``.

    Only q_i moves, so shares = b (logit(t) - logit(p_i)) for any number of
    outcomes: a buy when t is above p_i, a sale when below.  A buy is capped
    by ``max_spend`` (then ``capped`` is True).  Shares round toward zero, so
    the price stops a hair short of the target (well within 0.001).
    Raises InvalidTrade for a target outside (0, 1) or equal to the price,
    ProbabilityLimit outside [P_MIN, P_MAX], NotEnoughShares for a sale
    beyond ``held``.
    """
    _check_outcome(q, i)
    if isinstance(target, bool) or not isinstance(target, (int, float)):
        raise InvalidTrade("Probability must be a number.")
    if not math.isfinite(target) or not 0 < target < 1:
        raise InvalidTrade("Probability must be between 0 and 1.")
    if not P_MIN <= target <= P_MAX:
        raise ProbabilityLimit("Probabilities stay between 0.1% and 99.9%.")
    p = prices_exact(q, b)[i]
    with localcontext(_CTX):
        t = Decimal(repr(float(target)))
        delta = _d(b) * (((t / (1 - t)).ln()) - (p / (1 - p)).ln())
    if delta >= 0:
        shares = floor_units(delta)
        if shares == 0:
            raise InvalidTrade("The probability is already there.")
        price = buy_cost(q, b, i, shares)
        if max_spend is not None and price > max_spend:
            return _capped(quote_spend(q, b, i, max_spend))
        before = prices(q, b)
        after = _check_limits(_moved(q, i, shares), b)
        return Quote(i, shares, price, before, after)
    shares = floor_units(-delta)
    if shares == 0:
        raise InvalidTrade("The probability is already there.")
    return quote_sell(q, b, i, shares, held)


def _capped(quote: Quote) -> Quote:
    return Quote(
        quote.outcome,
        quote.shares,
        quote.cost,
        quote.probabilities_before,
        quote.probabilities_after,
        capped=True,
    )


def liquidation_value(q: Sequence[int], b: int, held: Sequence[int]) -> int:
    """Points (units) the market maker pays now for all of ``held`` sold together.

    ``held[j]`` is a player's shares (units, >= 0) of outcome j.  The value is
    C(q) - C(q - held), rounded down as a sale's proceeds are
    (:func:`sell_proceeds`): a holding of one outcome fetches exactly what
    selling it would.  Net worth marks open positions at this value
    (DESIGN.md, Scoring).  0 when nothing is held.  Raises InvalidTrade for
    a holding of the wrong length or with a negative number of shares.
    """
    if len(held) != len(q) or min(held) < 0:
        raise InvalidTrade("A holding is a number of shares >= 0 per outcome.")
    return liquidation_values(q, b, [{j: h for j, h in enumerate(held) if h}])[0]


def liquidation_values(
    q: Sequence[int], b: int, holdings: Iterable[Mapping[int, int]]
) -> list[int]:
    """:func:`liquidation_value` of each of many holdings in one market, each given as
    {outcome index: shares held (units, > 0)}: a market's holders in one pass.

    Each is taken in doubles when their error bound decides it
    (:func:`_float_liquidation`), else at 50 digits.  Raises InvalidTrade for
    an outcome index out of range or a number of shares <= 0.
    """
    n = len(q)
    ps = prices(q, b)
    # 1 - p_i as the sum of the other prices: no cancellation when p_i is near 1
    others = [math.fsum(ps[:i] + ps[i + 1 :]) for i in range(n)]
    x_max = (max(q) - min(q)) / b
    c = None  # C(q) at 50 digits, once a holding needs it
    values = []
    for held in holdings:
        if not held:
            values.append(0)
            continue
        if min(held.values()) <= 0 or not all(0 <= j < n for j in held):
            raise InvalidTrade("A holding is a number of shares > 0 of outcomes of the question.")
        value = _float_liquidation(ps, others, x_max, b, held)
        if value is None:
            if c is None:
                c = cost(q, b)
            after = [qi - held.get(j, 0) for j, qi in enumerate(q)]
            with localcontext(_CTX):
                value = max(floor_units(c - cost(after, b) - _EPS), 0)
        values.append(value)
    return values


def _float_liquidation(
    ps: Sequence[float], others: Sequence[float], x_max: float, b: int, held: Mapping[int, int]
) -> int | None:
    """C(q) - C(q - h) rounded down, in doubles, or None when they cannot tell.

    With p_j the prices and t_j = h_j / b, C(q) - C(q - h) = -b ln s where
    s = sum_j p_j exp(-t_j) = 1 - w and w = sum_j p_j (-expm1(-t_j)): every
    term of either sum is >= 0, so neither cancels (for one outcome i held,
    s = (the other prices' sum) + p_i exp(-t_i)).  For w <= 1/2 it is
    -b log1p(-w), else -b log(s).  Relative errors to first order, in units
    of u (as in _float_estimate; X = x_max, H = max t_j): p_j, 2X + 10, and a
    sum of prices one more; expm1(-t_j), 5 (its condition number is below 1
    for t_j >= 0), exp(-t_j), H + 4; a sum of products, one more than its
    worst term; log1p(-w) for w <= 1/2 and log(s) for s <= 1/2 have
    condition numbers at most 2, and 3 covers a w chosen by the rounded sum;
    times b, 2.  So at most 3 (2X + H + 17) + 6 < 6X + 3H + 60, times
    _SAFETY.  With X + H <= _X_MAX every term is a normal double.  Taken when
    no integer lies within the bound (and the bound is far above the exact
    path's 1e-30 nudge), so the floor is the exact path's.
    """
    if len(held) == 1:
        ((i, h),) = held.items()
        t_max = h / b
        if x_max + t_max > _X_MAX:
            return None
        w = ps[i] * -math.expm1(-t_max)
        if w <= 0.5:
            value = -b * math.log1p(-w)
        else:
            value = -b * math.log(others[i] + ps[i] * math.exp(-t_max))
    else:
        t_max = max(held.values()) / b
        if x_max + t_max > _X_MAX:
            return None
        w = math.fsum([ps[j] * -math.expm1(-h / b) for j, h in held.items()])
        if w <= 0.5:
            value = -b * math.log1p(-w)
        else:  # an outcome not held adds its p_j
            value = -b * math.log(
                math.fsum([p * math.exp(-held.get(j, 0) / b) for j, p in enumerate(ps)])
            )
    err = value * (6 * x_max + 3 * t_max + 60) * _U * _SAFETY
    if not math.isfinite(value) or err < _GAP_MIN:
        return None
    return _floor_if_clear(value, err)


def max_loss(q0: Sequence[int], b: int) -> Decimal:
    """The market maker's worst loss from opening state q0: max_k (C(q0) - q0_k), in units."""
    c0 = cost(q0, b)
    with localcontext(_CTX):
        return max(c0 - _d(qk) for qk in q0)


__all__ = [
    "UNIT",
    "Quote",
    "MarketError",
    "ProbabilityLimit",
    "NotEnoughShares",
    "InvalidTrade",
    "cost",
    "prices",
    "prices_exact",
    "initial_state",
    "buy_cost",
    "sell_proceeds",
    "shares_for_budget",
    "quote_spend",
    "quote_sell",
    "quote_to_probability",
    "max_loss",
    "liquidation_value",
    "liquidation_values",
]
