"""Resolution time for a question with many holders (10,000 by default).

    python bench/resolve.py --db sqlite --size company
    python bench/resolve.py --db postgres --size company --holders 10000 --runs 5

Makes (once) a question in a competition of its own, `bench-wide`, that the
site's first --holders accounts all hold, then times resolving it to YES
(payouts to every holder, Brier scores) and undoing that, --runs times each,
each in one transaction through services.resolution, commit included.
Prints the median and every run.  Run it with no server writing.  On a
PostgreSQL server whose autovacuum is off it first runs VACUUM (ANALYZE), as
bench/run.py does before a load (bench/common.tidy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import select  # noqa: E402

from bench import bulk  # noqa: E402
from bench.common import SIZES, Progress, database_url, tidy  # noqa: E402
from forecast.db import Database  # noqa: E402
from forecast.models import Question, User  # noqa: E402
from forecast.services import audit, resolution, site  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", default="sqlite", help="sqlite, postgres, or a database URL")
    ap.add_argument("--size", default="small", choices=sorted(SIZES))
    ap.add_argument("--holders", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--audit", action="store_true", help="check the ledger afterwards")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    url = database_url(args.db, args.size)
    site.upgrade(url)
    db = Database(url)
    try:
        t = time.perf_counter()
        qid, yes, holders = bulk.wide_question(db, holders=args.holders, progress=Progress())
        setup = time.perf_counter() - t
        with db.session() as s:
            admin_id = s.exec(select(User.id).where(User.username == "bench-admin")).one()
            status = s.get(Question, qid).status
        if status in ("resolved", "cancelled"):  # an interrupted earlier run
            db.transaction(lambda s: resolution.undo(session=s, user_id=admin_id, question_id=qid))
        # As before a load (bench/run.py): on a server whose autovacuum is off, the dead
        # wallet rows of the trades before would otherwise be timed too.
        if (tidied := tidy(url)) is not None:
            print(tidied, file=sys.stderr)
        resolve_s, undo_s = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            db.transaction(
                lambda s: resolution.resolve(
                    session=s, user_id=admin_id, question_id=qid, outcome_id=yes
                )
            )
            resolve_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            db.transaction(lambda s: resolution.undo(session=s, user_id=admin_id, question_id=qid))
            undo_s.append(time.perf_counter() - t)
        result = {
            "db": "sqlite" if db.is_sqlite else "pg",
            "size": args.size,
            "holders": holders,
            "setup_s": round(setup, 2),
            "resolve_s": round(statistics.median(resolve_s), 3),
            "undo_s": round(statistics.median(undo_s), 3),
            "resolve_runs": [round(x, 3) for x in resolve_s],
            "undo_runs": [round(x, 3) for x in undo_s],
        }
        if args.audit:
            with db.session() as s:
                problems = audit.audit(session=s)
            result["audit"] = "ok" if not problems else problems[:10]
    finally:
        db.dispose()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
