"""Shared bits of the bench scripts: sizes, database URLs, a progress bar, tables."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"

SIZES = {
    # players, questions, trades
    "tiny": (3, 2, 20),
    "small": (30, 20, 2_000),
    "company": (10_000, 200, 1_000_000),
}

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def database_url(db: str, size: str) -> str:
    """`sqlite`: a file in bench/out; `postgres`: database bench_<size>; else a URL."""
    if db == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{OUT / f'bench_{size}.db'}"
    if db in ("postgres", "postgresql", "pg"):
        return PG_DEFAULT.format(name=f"bench_{size}")
    return db


class Progress:
    """A one-line progress bar on stderr: stage, count, rate, time left."""

    def __init__(self, stream=None) -> None:
        self._stream = stream  # None: whatever sys.stderr is when drawing (tests swap it)
        self.stage = ""
        self.finished = ""
        self.started = time.perf_counter()
        self.last = 0.0

    @property
    def stream(self):
        return self._stream or sys.stderr

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage == self.finished and done >= total:
            return  # already drawn complete
        if stage != self.stage:
            if self.stage:
                self.stream.write("\n")
            self.stage, self.started = stage, now
        if done < total and now - self.last < 0.2:
            return
        self.last = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(
            f"\r{stage:>9} [{bar}] {done:>9,}/{total:,} {rate:>9,.0f}/s "
            f"{elapsed:6.1f}s elapsed {left:6.1f}s left"
        )
        if done >= total:
            self.stream.write("\n")
            self.stage, self.finished = "", stage
        self.stream.flush()


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    line = "  ".join(f"{{:{'<' if k == 0 else '>'}{w}}}" for k, w in enumerate(widths))
    out = [line.format(*header), line.format(*["-" * w for w in widths])]
    out += [line.format(*[str(c) for c in r]) for r in rows]
    return "\n".join(out)


def env_for(url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "FORECAST_DATABASE_URL": url}
    env.update(extra)
    return env
