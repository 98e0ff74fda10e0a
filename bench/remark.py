"""How long the leaderboard's marks take to catch up after a burst of trades.

    python bench/remark.py --db postgres --size company
    python bench/remark.py --db sqlite --size company --per-question 5 --bursts 2

Builds the `public` competition's marks (queries.open_values: every open
holding valued at the current probabilities, kept by this process), times a
look when nothing changed, then --bursts times places --per-question trades
of 0.01 points on every open question through services.trading (players with
points to spend) and times the look that brings the marks up to date.  At
the end it checks that the kept marks equal marks made afresh.  It adds
trades to the database, as the load driver does.  Prints only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.common import SIZES, database_url  # noqa: E402
from forecast.db import Database  # noqa: E402
from forecast.models import Competition  # noqa: E402
from forecast.services import queries, trading  # noqa: E402
from forecast.services.errors import DomainError  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="company", choices=sorted(SIZES))
    ap.add_argument("--db", default="sqlite", help="sqlite, postgres, or a database URL")
    ap.add_argument("--per-question", type=int, default=5)
    ap.add_argument("--bursts", type=int, default=2)
    args = ap.parse_args(argv)
    db = Database(database_url(args.db, args.size))
    with db.engine.connect() as conn:
        markets = conn.execute(
            text(
                "SELECT q.id, min(o.id) FROM question q JOIN outcome o ON o.question_id = q.id "
                "JOIN competition c ON c.id = q.competition_id "
                "WHERE q.status = 'open' AND c.slug = 'public' GROUP BY q.id ORDER BY q.id"
            )
        ).all()
        players = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT m.user_id FROM membership m JOIN competition c "
                    "ON c.id = m.competition_id WHERE c.slug = 'public' AND m.balance > 10000 "
                    "ORDER BY m.id LIMIT 50"
                )
            )
        ]
    if not markets or not players:
        sys.exit("no open question or no player with points: run bench/generate.py first")

    def look() -> tuple[float, dict]:
        with Session(db.engine) as s:
            comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
            started = time.perf_counter()
            values = queries.open_values(s, comp)
            return time.perf_counter() - started, values

    print(f"marks built: {look()[0]:.2f} s")
    print(f"a look with nothing changed: {look()[0] * 1000:.1f} ms")
    values: dict = {}
    for _ in range(args.bursts):
        placed = 0
        for k, (qid, oid) in enumerate(markets):
            for j in range(args.per_question):
                order = trading.parse_order(outcome_id=oid, spend=0.01)
                user = players[(k * args.per_question + j) % len(players)]
                try:
                    db.transaction(
                        lambda s, u=user, q=qid, o=order: trading.trade(
                            session=s, user_id=u, question_id=q, order=o
                        )
                    )
                    placed += 1
                except DomainError:
                    pass  # a closed market or an empty wallet: skip it
        seconds, values = look()
        print(f"after {placed} trades on all {len(markets)} open questions: {seconds:.2f} s")
    queries._MARKS.clear()
    seconds, fresh = look()
    print(f"marks made afresh: {seconds:.2f} s; equal to the kept ones: {fresh == values}")
    db.dispose()


if __name__ == "__main__":
    main()
