"""Fill a competition with players, questions and trades, fast, through the market code.

    python bench/generate.py --size small --db sqlite
    python bench/generate.py --players 10000 --questions 200 --trades 1000000 --db postgres

Runs the migrations first, then writes the tokens of the first --tokens players
to --tokens-file (JSON) for bench/load.py, and checks the ledger (the same
check as `forecast audit`) unless --no-audit.  Run it with no server writing
to the same database.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bulk  # noqa: E402
from bench.common import OUT, SIZES, Progress, database_url, tidy  # noqa: E402
from forecast.db import Database  # noqa: E402
from forecast.services import audit, site  # noqa: E402


def reset(url: str) -> None:
    """Start from an empty database: delete the SQLite file or drop every table on PostgreSQL."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), help="preset players/questions/trades")
    ap.add_argument("--players", type=int)
    ap.add_argument("--questions", type=int)
    ap.add_argument("--trades", type=int)
    ap.add_argument("--db", default="sqlite", help="sqlite, postgres, or a database URL")
    ap.add_argument("--slug", default="public", help="competition to fill (default: public)")
    ap.add_argument("--prefix", default="player", help="player names: prefix00001, ...")
    ap.add_argument("--tokens", type=int, default=100, help="API tokens to make (first players)")
    ap.add_argument("--tokens-file", type=Path, help="where to write them (JSON)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=5000, help="trades per transaction")
    ap.add_argument("--reset", action="store_true", help="empty the database first")
    ap.add_argument("--no-audit", action="store_true")
    args = ap.parse_args(argv)
    size = args.size or "custom"
    players, questions, trades = SIZES.get(args.size, (None, None, None))
    players = args.players if args.players is not None else players
    questions = args.questions if args.questions is not None else questions
    trades = args.trades if args.trades is not None else trades
    if None in (players, questions, trades):
        ap.error("give --size or all of --players, --questions, --trades")
    url = database_url(args.db, size)
    if args.reset:
        reset(url)
    t0 = time.perf_counter()
    site.upgrade(url)
    migrate = time.perf_counter() - t0
    db = Database(url)
    try:
        summary = bulk.generate(
            db,
            players=players,
            questions_=questions,
            trades=trades,
            slug=args.slug,
            prefix=args.prefix,
            tokens=args.tokens,
            seed=args.seed,
            batch_size=args.batch,
            progress=Progress(),
        )
        result = {
            "url": url.split("@")[-1],
            "competition": summary.competition,
            "players": players,
            "questions": len(summary.questions),
            "trades": summary.booked.trades,
            "rejected_orders": summary.booked.rejected,
            "batches": summary.booked.batches,
            "seconds": {
                "migrate": round(migrate, 2),
                **{k: round(v, 2) for k, v in summary.seconds.items()},
            },
            "question_ids": summary.questions,
            "admin": summary.admin,
            "password": summary.password,
        }
        if not args.no_audit:
            t = time.perf_counter()
            with db.session() as s:
                problems = audit.audit(session=s)
            result["seconds"]["audit"] = round(time.perf_counter() - t, 2)
            result["audit"] = "ok" if not problems else problems[:20]
            if problems:
                print("\n".join(problems[:20]), file=sys.stderr)
    finally:
        db.dispose()
    if (tidied := tidy(url, always=True)) is not None:  # as after any bulk load
        print(tidied, file=sys.stderr)
    tokens_file = (
        args.tokens_file
        or OUT / f"tokens_{size}_{'sqlite' if url.startswith('sqlite') else 'pg'}.json"
    )
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(
        json.dumps({**result, "tokens": [{"username": u, "token": t} for u, t in summary.tokens]})
    )
    shown = {k: v for k, v in result.items() if k != "question_ids"}
    print(json.dumps(shown, indent=2))
    print(f"tokens written to {tokens_file}", file=sys.stderr)
    if result.get("audit", "ok") != "ok":
        sys.exit(1)
    return result


if __name__ == "__main__":
    main()
