"""How deep a question's market is: its liquidity b, from the competition's starting balance.

Spending ``a`` points on a binary question at 50% moves it to
p = 1 - 1 / (2 exp(a / b)).  The default b = S / ln 2 for a starting balance
S means one player's whole starting balance moves a 50% question to at most
75%.  The thinner and deeper presets are multiples of that default.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal, localcontext
from fractions import Fraction

from forecast.market.money import UNIT

MIN_LIQUIDITY = UNIT
MAX_LIQUIDITY = 10**10 * UNIT  # covers the deep preset of the largest starting balance

# name -> (multiple of the default, what it is for), in the order a form lists them
DEPTHS: dict[str, tuple[Fraction, str]] = {
    "thin": (Fraction(1, 2), "prices move fast: a few players can swing a question"),
    "normal": (Fraction(1), "the default"),
    "deep": (Fraction(2), "prices move slowly: it takes many players to move a question"),
}
DEFAULT_DEPTH = "normal"


def default_liquidity(starting_balance: int, depth: str = DEFAULT_DEPTH) -> int:
    """b in units for a competition whose members start with ``starting_balance`` units:
    S / ln 2 times the preset's multiple, rounded up (so the balance moves a question
    no further than the rule says) and kept within
    [MIN_LIQUIDITY, MAX_LIQUIDITY].  Raises KeyError for an unknown ``depth``."""
    multiple = DEPTHS[depth][0]
    with localcontext() as ctx:
        ctx.prec = 40
        b = Decimal(starting_balance) * multiple.numerator / multiple.denominator / Decimal(2).ln()
        units = int(b.to_integral_value(rounding=ROUND_CEILING))
    return min(max(units, MIN_LIQUIDITY), MAX_LIQUIDITY)


def probability_after_spend(b: int, spend: int) -> float:
    """Where ``spend`` units take a binary question at 50% with liquidity ``b`` units:
    1 - 1 / (2 exp(spend / b))."""
    return 1 - 0.5 * math.exp(-spend / b)
