"""Where one kind of request spends its time: N requests in this process, under cProfile.

    python bench/hotspots.py --size company --db sqlite question      # the question page
    python bench/hotspots.py --size small --db postgres trade --sort tottime
    python bench/hotspots.py --size company --db sqlite leaderboard-compute

Targets: floor-page, floor-write, home, question (rotating questions),
question-one (the same question: what a view costs when nothing changed),
question-traded (each view right after a trade on its question, the trade untimed),
leaderboard, trade (through the API, 0.01 points, rotating tokens), and
leaderboard-compute (the leaderboard's version check and computation
without HTTP, timed three times).  Uses a database that bench/generate.py
filled (its tokens file for trades).  Prints milliseconds per request,
function calls per request (steadier than time on a busy machine) and the
profile's top lines.  Prints only; asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, SIZES, database_url  # noqa: E402

TARGETS = (
    "floor-page",
    "floor-write",
    "home",
    "question",
    "question-one",
    "question-traded",
    "leaderboard",
    "trade",
    "leaderboard-compute",
)


def _open_questions(url: str) -> list[tuple[int, int]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT q.id, min(o.id) FROM question q JOIN outcome o "
                        "ON o.question_id = q.id WHERE q.status = 'open' GROUP BY q.id "
                        "ORDER BY q.id"
                    )
                )
            ]
    finally:
        engine.dispose()


def in_process_client(url: str):  # noqa: ANN201
    """A test client of the app on ``url``, as the benchmark serves it (the floor on, rate
    limits off)."""
    os.environ.update(
        FORECAST_DATABASE_URL=url,
        FORECAST_RATELIMIT="off",
        FORECAST_INSTANCE_PATH=str(OUT / "instance"),
    )
    from bench.server import bench_app

    return bench_app().test_client()


def bench_tokens(url: str, size: str, tokens_file: Path | None = None) -> list[str]:
    """The API tokens bench/generate.py wrote for ``url``'s data."""
    kind = "sqlite" if url.startswith("sqlite") else "pg"
    path = tokens_file or OUT / f"tokens_{size}_{kind}.json"
    return [t["token"] for t in json.loads(path.read_text())["tokens"]]


def trade_as_next_holder(client, tokens: list[str], k: int, qid: int, oid: int) -> None:  # noqa: ANN001
    """Trade 0.01 points through the API as the first token holder from the ``k``-th on
    with points left; exits when none could."""
    for j in range(len(tokens)):
        r = client.post(
            f"/api/v1/questions/{qid}/trades",
            json={"outcome": oid, "spend": 0.01},
            headers={"Authorization": f"Bearer {tokens[(k + j) % len(tokens)]}"},
        )
        if r.status_code != 409:
            break
    if r.status_code != 201:
        sys.exit(f"trade: {r.status_code} {r.get_data(as_text=True)[:200]}")


def leaderboard_compute(url: str) -> None:
    from sqlmodel import Session, create_engine, select

    from forecast.models import Competition
    from forecast.services import standings

    engine = create_engine(url)
    with Session(engine) as s:
        comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
        for _ in range(3):  # outside an app there is no cache: each run computes afresh
            t = time.perf_counter()
            standings._version(s, comp, None)
            checked = time.perf_counter() - t
            t = time.perf_counter()
            rows = standings._rank(s, comp, "net_worth", None, ())
            compute = time.perf_counter() - t
            t = time.perf_counter()
            standings.open_values(s, comp)
            values = time.perf_counter() - t
            print(
                f"version check {checked * 1000:.1f} ms, leaderboard {compute * 1000:.0f} ms "
                f"(open positions valued in {values * 1000:.0f} ms), {len(rows)} players"
            )
    engine.dispose()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("target", choices=TARGETS)
    ap.add_argument("--size", default="small", choices=sorted(SIZES))
    ap.add_argument("--db", default="sqlite", help="sqlite, postgres, or a database URL")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--sort", default="cumulative", help="a pstats sort key (cumulative, tottime)")
    ap.add_argument("--lines", type=int, default=30)
    ap.add_argument("--tokens-file", type=Path)
    args = ap.parse_args(argv)
    url = database_url(args.db, args.size)
    if args.target == "leaderboard-compute":
        leaderboard_compute(url)
        return
    client = in_process_client(url)
    questions = _open_questions(url)
    tokens: list[str] = []
    if args.target in ("trade", "question-traded"):
        tokens = bench_tokens(url, args.size, args.tokens_file)

    profile: cProfile.Profile | None = None
    untimed = [0.0]  # seconds spent on requests that are not the target (question-traded)

    def one(k: int) -> None:
        qid, oid = questions[k % len(questions)] if questions else (0, 0)
        if args.target == "floor-page":
            r = client.get("/_bench/page")
        elif args.target == "floor-write":
            r = client.post("/_bench/write")
        elif args.target == "home":
            r = client.get("/")
        elif args.target == "question":
            r = client.get(f"/questions/{qid}")
        elif args.target == "question-traded":
            # a view right after a trade on its question: what the load driver's question
            # phase meets after its trade phase (the trade itself is not timed or profiled)
            if profile is not None:
                profile.disable()
            started = time.perf_counter()
            trade_as_next_holder(client, tokens, k, qid, oid)
            untimed[0] += time.perf_counter() - started
            if profile is not None:
                profile.enable()
            r = client.get(f"/questions/{qid}")
        elif args.target == "question-one":
            r = client.get(f"/questions/{questions[0][0]}")
        elif args.target == "leaderboard":
            r = client.get("/c/public/leaderboard")
        else:
            r = client.post(
                f"/api/v1/questions/{qid}/trades",
                json={"outcome": oid, "spend": 0.01},
                headers={"Authorization": f"Bearer {tokens[k % len(tokens)]}"},
            )
        if r.status_code >= 300:
            sys.exit(f"{args.target}: {r.status_code} {r.get_data(as_text=True)[:200]}")

    for k in range(5):  # warm: the first requests build caches
        one(k)
    started = time.perf_counter()
    for k in range(args.requests):
        one(k + args.requests)
    plain = time.perf_counter() - started - untimed[0]
    untimed[0] = 0.0
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for k in range(args.requests):
        one(k)
    profile.disable()
    elapsed = time.perf_counter() - started - untimed[0]
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    print(
        f"{args.target}: {plain / args.requests * 1000:.2f} ms a request, "
        f"{elapsed / args.requests * 1000:.2f} ms under the profiler, "
        f"{stats.total_calls / args.requests:,.0f} function calls a request"
    )
    stats.sort_stats(args.sort).print_stats(args.lines)
    print(out.getvalue())


if __name__ == "__main__":
    main()
