"""Exact money: points and shares as integers of a smallest unit.

One point (and one share) is ``UNIT`` units.  Stored balances, costs and
share counts are ``int``; floats never reach storage.  Conversions from user
input go through :class:`decimal.Decimal` so ``0.1`` means exactly a tenth.
Rounding is always in the market maker's favour: shares a player receives
round down, points a player pays round up, points a player receives round down.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

UNIT = 10_000
"""Units in one point or one share (four decimal places)."""

DECIMALS = 4

# Largest amount a single input may name: a trillion points.  Far beyond any
# game, small enough that every amount fits a BIGINT many times over.
MAX_POINTS = Decimal(10) ** 12


class MoneyError(ValueError):
    """An amount that is not a finite, positive number in range."""


def to_units(value: object, *, field: str = "amount", allow_zero: bool = False) -> int:
    """Convert user input (str, int, float, Decimal) to an exact count of units.

    Rounds down to the smallest unit (the player never names more than they
    typed).  Raises MoneyError for NaN, infinities, booleans, non-numbers,
    negative amounts, zero (unless ``allow_zero``) and amounts over MAX_POINTS.
    """
    if isinstance(value, bool) or value is None:
        raise MoneyError(f"{field} must be a number.")
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise MoneyError(f"{field} must be a finite number.")
            d = Decimal(repr(value))
        elif isinstance(value, (int, Decimal)):
            d = Decimal(value)
        elif isinstance(value, str):
            d = Decimal(value.strip())
        else:
            raise MoneyError(f"{field} must be a number.")
    except InvalidOperation:
        raise MoneyError(f"{field} must be a number.") from None
    if not d.is_finite():
        raise MoneyError(f"{field} must be a finite number.")
    if d < 0:
        raise MoneyError(f"{field} must be positive.")
    if d > MAX_POINTS:
        raise MoneyError(f"{field} is too large (at most {MAX_POINTS:,}).")
    units = int((d * UNIT).to_integral_value(rounding=ROUND_FLOOR))
    if units == 0 and not allow_zero:
        raise MoneyError(f"{field} must be more than zero (at least 0.0001).")
    return units


def from_units(units: int) -> Decimal:
    """The exact Decimal value of a count of units (for display and JSON)."""
    return Decimal(units).scaleb(-DECIMALS)


def to_float(units: int) -> float:
    """A JSON-friendly number; exact to four decimals for any realistic amount."""
    return float(from_units(units))


def ceil_units(value: Decimal) -> int:
    """Points the player pays: round a Decimal number of units up."""
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def floor_units(value: Decimal) -> int:
    """Shares or points the player receives: round a Decimal number of units down."""
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def fmt(units: int, places: int = 2) -> str:
    """Human text for an amount: ``1234567`` -> ``'123.46'`` (display only)."""
    q = Decimal(1).scaleb(-places)
    return f"{from_units(units).quantize(q):,}"


def fmt_exact(units: int) -> str:
    """An amount to the unit, with at least two decimals: ``1672376`` -> ``'167.2376'``,
    ``400000`` -> ``'40.00'``.  What a check compared, so a message never shows two
    amounts that look equal when one was refused for exceeding the other."""
    text = f"{from_units(units):,.{DECIMALS}f}"
    return text[:-2] + text[-2:].rstrip("0") if text.endswith("0") else text


_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


def typed_amount(text: str) -> str:
    """What a person typed in an amount field, ready for ``to_units``: surrounding
    spaces go, and commas go when they group thousands ("1,000.5"); any other comma
    stays, so to_units refuses it rather than guessing."""
    text = text.strip().replace("\u00a0", "").replace(" ", "")
    return text.replace(",", "") if _GROUPED.match(text) else text
