"""The benchmark floor: the cheapest write and the cheapest page, for bench/ to compare against.

Registered only when FORECAST_BENCH_FLOOR=1.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("bench", __name__, url_prefix="/_bench")
