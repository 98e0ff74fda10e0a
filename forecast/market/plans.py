"""What a player means, as an order the market maker can price: the largest buy the
balance and the probability limits allow, and a stated probability on either side of
the market.

Pure functions over the market state (``q`` and ``b`` in units, as in lmsr).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from forecast.market import lmsr
from forecast.market.money import floor_units


def _limit_target(q: Sequence[int], b: int, i: int) -> float:
    """The highest probability buying outcome i may reach: P_MAX, or lower when the
    least likely other outcome would fall below P_MIN first (only q_i moves, so the
    others keep their ratios and share 1 - p_i)."""
    others = [p for k, p in enumerate(lmsr.prices(q, b)) if k != i]
    return min(lmsr.P_MAX, 1 - lmsr.P_MIN * math.fsum(others) / min(others))


def max_buy(q: Sequence[int], b: int, i: int, balance: int) -> int:
    """The largest spend (units) on outcome i that the balance covers and that keeps every
    probability within [P_MIN, P_MAX]; 0 when no spend is possible (no balance, or the
    price is at its limit).  lmsr.quote_spend accepts the answer."""
    if balance <= 0:
        return 0
    p = lmsr.prices_exact(q, b)[i]
    t = _limit_target(q, b, i)
    with localcontext(lmsr._CTX):
        d = Decimal(repr(t))
        delta = Decimal(b) * ((d / (1 - d)).ln() - (p / (1 - p)).ln())
    shares = floor_units(delta)
    budget = balance if shares <= 0 else min(balance, lmsr.buy_cost(q, b, i, shares))
    step = 1
    while budget > 0:
        try:
            lmsr.quote_spend(q, b, i, budget)
        except lmsr.ProbabilityLimit:
            budget -= step  # the rounded budget can buy a hair past the limit
            step *= 2
            continue
        except lmsr.InvalidTrade:  # too small to buy a unit of a share
            return 0
        return budget
    return 0


@dataclass(frozen=True)
class Plan:
    """How to trade for a stated probability of outcome ``about``.

    ``outcome`` is the outcome to trade, with either ``to_probability`` (its own
    target) or ``sell`` (units of it, all the player holds); neither when there is
    nothing to trade.  ``reaches`` says whether the trade takes the market to the
    stated probability; ``note`` says in words what the trade is and, when it falls
    short, what else would move the market.
    """

    about: int
    outcome: int
    to_probability: float | None
    sell: int | None
    reaches: bool
    note: str

    @property
    def trades(self) -> bool:
        return self.to_probability is not None or self.sell is not None


def plan_to_probability(
    q: Sequence[int], b: int, i: int, target: float, held: Sequence[int], labels: Sequence[str]
) -> Plan:
    """The order that moves outcome i toward ``target``, from the side that can.

    Above the market: buy outcome i up to the target.  Below it on a binary
    question: buy the other outcome up to 1 - target.  Below it with more
    outcomes: sell the player's shares of i, all of them when that is not enough,
    and say that buying the other outcomes moves it further.  Raises lmsr's
    InvalidTrade for a target outside (0, 1) or already at the market,
    ProbabilityLimit outside [P_MIN, P_MAX].
    """
    if isinstance(target, bool) or not isinstance(target, (int, float)):
        raise lmsr.InvalidTrade("Probability must be a number.")
    if not math.isfinite(target) or not 0 < target < 1:
        raise lmsr.InvalidTrade("Probability must be between 0 and 1.")
    if not lmsr.P_MIN <= target <= lmsr.P_MAX:
        raise lmsr.ProbabilityLimit("Probabilities stay between 0.1% and 99.9%.")
    p = lmsr.prices_exact(q, b)[i]
    with localcontext(lmsr._CTX):
        t = Decimal(repr(float(target)))
        delta = Decimal(b) * ((t / (1 - t)).ln() - (p / (1 - p)).ln())
    if floor_units(abs(delta)) == 0:
        raise lmsr.InvalidTrade("The probability is already there.")
    label = labels[i]
    if delta > 0:
        return Plan(i, i, target, None, True, f"Buys {label} until it is at {_pct(target)}.")
    if len(q) == 2:
        other = 1 - i
        return Plan(
            i,
            other,
            1 - target,
            None,
            True,
            f"Buys {labels[other]}: {label} below the market's {_pct(float(p))} is a bet on "
            f"{labels[other]}, so this buys {labels[other]} until {label} is at {_pct(target)}.",
        )
    needed = floor_units(-delta)
    further = f"To move {label} lower, buy the outcomes you think more likely than the market does."
    if held[i] <= 0:
        return Plan(i, i, None, None, False, f"You hold no shares of {label} to sell. {further}")
    if held[i] >= needed:
        return Plan(i, i, target, None, True, f"Sells {label} until it is at {_pct(target)}.")
    return Plan(
        i,
        i,
        None,
        held[i],
        False,
        f"Sells all your shares of {label}; that moves it only part of the way. {further}",
    )


def _pct(p: float) -> str:
    return f"{p * 100:.1f}%"
