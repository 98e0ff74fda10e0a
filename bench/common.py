"""Shared bits of the bench scripts: sizes, database URLs, a progress bar, tables."""

from __future__ import annotations

import json
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


def tidy(url: str, *, always: bool = False) -> str | None:
    """PostgreSQL: VACUUM (ANALYZE) the database when its server's autovacuum is off (or
    ``always``, after a bulk load); returns what was done, or None.

    Autovacuum does this on its own on a server left at PostgreSQL's defaults.
    This machine's server runs with it off, and there nothing ever removes the
    dead rows that every trade leaves in the wallets' table (a company run
    left 84,000 beside 20,000 live ones) or gathers the planner's statistics:
    the leaderboard's read of every wallet grew run after run.  SQLite: nothing.
    """
    from sqlalchemy import create_engine, text

    if url.startswith("sqlite"):
        return None
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            off = conn.execute(text("SHOW autovacuum")).scalar() != "on"
            if not (off or always):
                return None
            started = time.perf_counter()
            conn.execute(text("VACUUM (ANALYZE)"))
            why = "autovacuum is off on this server" if off else "after a bulk load"
            return f"VACUUM (ANALYZE) in {time.perf_counter() - started:.1f} s ({why})"
    finally:
        engine.dispose()


def warm_cache(url: str) -> float:
    """Read the database's files into the system's page cache; returns the seconds it took.

    On this machine the kernel evicts a file that sits idle (DAMON reclaim), and a
    run's first views then read from disk (0.5-2 s each): what is measured is the
    game, not the disk.  SQLite: the file read through; PostgreSQL: pg_prewarm's
    'read' mode on every table and index (the extension is created if missing).
    """
    from sqlalchemy import create_engine, make_url, text

    started = time.perf_counter()
    if url.startswith("sqlite"):
        path = make_url(url).database
        for name in (path, f"{path}-wal"):
            if name and os.path.exists(name):
                with open(name, "rb") as f:
                    while f.read(1 << 22):
                        pass
        return time.perf_counter() - started
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
        conn.execute(
            text(
                "SELECT pg_prewarm(c.oid::regclass, 'read') FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')"
            )
        )
    engine.dispose()
    return time.perf_counter() - started


# Before a load the token holders' wallets are topped up through the ledger (benchmark
# trades spend them: at 0.01 points a trade, 100 points last 10,000 trades).
TOP_UP_BELOW = 50.0
TOP_UP_TO = 100.0


def top_up_holders(url: str, tokens_file: Path, slug: str) -> int:
    """``top_up`` the holders of the tokens in ``tokens_file`` (bench/generate.py's)."""
    holders = [t["username"] for t in json.loads(Path(tokens_file).read_text())["tokens"]]
    return top_up(url, holders, slug, below=TOP_UP_BELOW, to=TOP_UP_TO)


def top_up(url: str, usernames: list[str], slug: str, *, below: float, to: float) -> int:
    """Grant the token holders whose wallet in ``slug`` holds less than ``below`` points
    enough to hold ``to`` (a grant through the ledger, as a join's: the audit stays
    exact).  Benchmark trades spend these wallets; returns how many were topped up."""
    from sqlmodel import select

    from forecast.db import Database
    from forecast.market.money import UNIT
    from forecast.models import Competition, Membership, User
    from forecast.services import ledger

    db = Database(url)

    def run(session) -> int:  # noqa: ANN001
        rows = session.exec(
            select(Membership)
            .join(User, User.id == Membership.user_id)
            .join(Competition, Competition.id == Membership.competition_id)
            .where(Competition.slug == slug, User.username.in_(usernames))
            .with_for_update()
        ).all()
        poor = [m for m in rows if m.balance < below * UNIT]
        for m in poor:
            ledger.grant(session, m, int(to * UNIT) - m.balance)
        return len(poor)

    try:
        return db.transaction(run)
    finally:
        db.dispose()
