"""Scoring: net worth, time-averaged Brier scores, calibration buckets.

Pure functions over plain values.  Forecasts are probabilities (floats): they
are judgements, not money, so floats are right here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


def brier(forecast: Mapping[int, float], winner: int) -> float:
    """Sum over outcomes of (f_k - o_k)^2: 0 is perfect, 2 the worst."""
    return sum((p - (1.0 if k == winner else 0.0)) ** 2 for k, p in forecast.items())


def time_averaged_brier(
    forecasts: Sequence[tuple[datetime, Mapping[int, float]]],
    winner: int,
    close: datetime,
) -> float | None:
    """Brier score averaged over time from the first forecast to ``close``.

    ``forecasts`` are (when, probabilities by outcome id), oldest first; each
    stands until the next.  Forecasts after ``close`` are ignored.  Returns
    None when there is no forecast before the close.  A single forecast made
    at the very close counts alone.
    """
    usable = [(t, f) for t, f in forecasts if t <= close]
    if not usable:
        return None
    total = (close - usable[0][0]).total_seconds()
    if total <= 0:
        return brier(usable[-1][1], winner)
    acc = 0.0
    for (t, f), nxt in zip(usable, [*usable[1:], (close, None)], strict=True):
        acc += brier(f, winner) * (nxt[0] - t).total_seconds()
    return acc / total


@dataclass(frozen=True)
class Bucket:
    lower: float  # 0.0, 0.1, ... 0.9
    count: int
    hits: int
    mean_forecast: float

    @property
    def frequency(self) -> float | None:
        return self.hits / self.count if self.count else None


def calibration(pairs: Iterable[tuple[float, bool]]) -> list[Bucket]:
    """Ten buckets of 10%: how often forecasts in each bucket came true.

    ``pairs`` are (forecast probability of an outcome, whether it happened).
    A forecast of exactly 1.0 falls in the top bucket.
    """
    counts = [0] * 10
    hits = [0] * 10
    sums = [0.0] * 10
    for p, happened in pairs:
        # round first: 1 - 0.9 is 0.0999..., which belongs in the 10% bucket
        k = min(int(round(p * 10, 9)), 9)
        counts[k] += 1
        hits[k] += bool(happened)
        sums[k] += p
    return [
        Bucket(k / 10, counts[k], hits[k], sums[k] / counts[k] if counts[k] else (k + 0.5) / 10)
        for k in range(10)
    ]


def position_value(shares: Mapping[int, int], probabilities: Mapping[int, float]) -> int:
    """Mark-to-market value (units) of shares at the given probabilities, rounded down."""
    return int(sum(s * probabilities.get(k, 0.0) for k, s in shares.items()) // 1)


def settlement_payout(
    status: str, winner: int | None, shares: Mapping[int, int], spent: int
) -> int:
    """What a settled question paid one member (units): on a resolution one point a
    winning share held (short holdings pay nothing), on a cancellation the points they
    put in (``spent``: costs paid minus proceeds received).  What resolution.resolve and
    resolution.cancel book; 0 for a question not settled."""
    if status == "cancelled":
        return spent
    if status == "resolved" and winner is not None:
        return max(shares.get(winner, 0), 0)
    return 0
