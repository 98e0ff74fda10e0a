"""The whole benchmark in one command: generate, serve, load (several rounds), resolve, RSS.

    python bench/run.py --size small --db sqlite
    python bench/run.py --size company --db postgres --rounds 3

Generates the data when the database is empty (or with --generate), starts
bench/server.py (the site with the floor, as `forecast serve` serves it), rate limits off,
runs every load phase --rounds times against that one server, reads each
server's RSS, stops the server, then times resolving a question with
min(10,000, players) holders.  Prints one table of medians with each figure
as a ratio to its floor, and writes it all to bench/out/results_<size>_<db>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import generate, load, resolve  # noqa: E402
from bench.common import (  # noqa: E402
    OUT,
    SIZES,
    TOP_UP_TO,
    database_url,
    table,
    tidy,
    top_up_holders,
    warm_cache,
)
from forecast.cli import SERVE_THREADS  # noqa: E402


def trades_in(url: str) -> int:
    """How many trades the database holds (0 without a trade table)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        if "trade" not in inspect(engine).get_table_names():
            return 0
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM trade")).scalar())
    finally:
        engine.dispose()


GROWN = 1.5  # a database past this many times its size's trades has drifted


def grown(size: str, trades: int) -> str | None:
    """A warning when earlier runs have grown the data well past its size: each run adds
    about 2,000 trades a round, and the small size's ratios drift down as it grows."""
    made = SIZES[size][2]
    if trades <= GROWN * made:
        return None
    return (
        f"warning: the database holds {trades:,} trades, {trades / made:.1f}x the {size} "
        f"size's {made:,} (earlier runs add theirs): --generate for numbers comparable "
        "with a fresh run"
    )


def summarise(rounds: list[dict[str, load.Stats]]) -> list[dict]:
    """Medians over rounds of each phase's figures and of its ratios to its floor."""
    out = []
    for name in rounds[0]:
        runs = [r[name] for r in rounds if name in r]
        floor_name = load.FLOOR_OF.get(name)
        row = {
            "phase": name,
            "floor": floor_name,
            "requests": sum(s.requests for s in runs),
            "non_2xx": sum(v for s in runs for k, v in s.statuses.items() if not load.answered(k)),
            "rps": statistics.median(s.rps for s in runs),
            "p50_ms": statistics.median(s.pct(50) for s in runs),
            "p95_ms": statistics.median(s.pct(95) for s in runs),
            "p99_ms": statistics.median(s.pct(99) for s in runs),
            "max_ms": max(max(s.latencies, default=0) for s in runs) * 1000,
        }
        measured = [s.cpu_ms() for s in runs if s.cpu]
        if measured:  # CPU per request by kind (load.CpuProbe), and how busy the cores were
            row["cpu_ms"] = {k: statistics.median(m[k] for m in measured) for k in measured[0]}
            row["busy"] = statistics.median(s.busy() for s in runs if s.cpu)
        pairs = [(r[name], r[floor_name]) for r in rounds if name in r and floor_name in r]
        if pairs:  # its floor was measured too (--phases may leave it out)
            row["rps_ratio"] = statistics.median(s.rps / f.rps for s, f in pairs)
            row["p99_ratio"] = statistics.median(s.pct(99) / f.pct(99) for s, f in pairs)
            row["p50_ratio"] = statistics.median(s.pct(50) / f.pct(50) for s, f in pairs)
        out.append(row)
    return out


def show(rows: list[dict]) -> str:
    body = []
    for r in rows:
        body.append(
            [
                r["phase"],
                f"{r['requests']}",
                f"{r['non_2xx']}",
                f"{r['rps']:.0f}",
                f"{r['p50_ms']:.1f}",
                f"{r['p95_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['max_ms']:.0f}",
                f"{r['rps_ratio']:.2f}x" if "rps_ratio" in r else "(floor)",
                f"{r['p99_ratio']:.2f}x" if "p99_ratio" in r else "",
                load.cpu_text(r.get("cpu_ms", {}), r.get("busy")),
            ]
        )
    header = ["phase", "reqs", "non-2xx", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    return table(body, header + ["req/s / floor", "p99 / floor", load.CPU_HEADER])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="small", choices=sorted(SIZES))
    ap.add_argument("--db", default="sqlite", help="sqlite, postgres, or a database URL")
    ap.add_argument("--generate", action="store_true", help="regenerate the data first")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=2000, help="per phase and round")
    ap.add_argument("--seconds", type=float, default=15, help="per phase and round")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--workers", type=int, help="server threads (default: forecast's default)")
    ap.add_argument("--phases", default=",".join(load.PHASES))
    ap.add_argument("--slowest", type=int, default=0, help="print each phase's N slowest requests")
    ap.add_argument("--no-resolve", action="store_true")
    ap.add_argument("--resolve-runs", type=int, default=3)
    ap.add_argument("--out", type=Path, help="results JSON (default bench/out/results_...)")
    args = ap.parse_args(argv)
    url = database_url(args.db, args.size)
    kind = "sqlite" if url.startswith("sqlite") else "pg"
    tokens_file = OUT / f"tokens_{args.size}_{kind}.json"
    say = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    result: dict = {"size": args.size, "db": kind, "sizes": SIZES[args.size]}
    trades = trades_in(url) if tokens_file.exists() else 0  # no tokens: no data to load
    if args.generate or not trades:
        say(f"generating {args.size} data in {url.split('@')[-1]}")
        gen = generate.main(
            ["--size", args.size, "--db", url, "--reset", "--tokens-file", str(tokens_file)]
        )
        result["generate_s"] = gen["seconds"]
        trades = gen["trades"]  # on a database it reset: all it holds
    result["trades_before"] = trades
    if (warning := grown(args.size, trades)) is not None:
        say(warning)
    granted = top_up_holders(url, tokens_file, "public")
    say(f"token holders topped up to {TOP_UP_TO:g} points: {granted}")
    if (tidied := tidy(url)) is not None:
        say(tidied)
    say(f"page cache warmed in {warm_cache(url):.1f} s")
    target = load.read_target(url, tokens_file, "public", min_balance=load.MIN_BALANCE)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    server = load.Server(url, workers=args.workers, log=OUT / f"serve_{args.size}_{kind}.log")
    cpu = load.CpuProbe.for_site(url, server)
    rounds: list[dict[str, load.Stats]] = []
    try:
        server.wait()
        result["workers"] = args.workers or SERVE_THREADS
        for k in range(args.rounds):
            say(f"round {k + 1} of {args.rounds}")
            rounds.append(
                load.measure(
                    "127.0.0.1",
                    server.port,
                    target,
                    phases=phases,
                    requests=args.requests,
                    seconds=args.seconds,
                    concurrency=args.concurrency,
                    warmup=args.warmup if k == 0 else 0,
                    progress=say,
                    cpu=cpu,
                )
            )
            say(load.report(rounds[-1]))
            for name, stats in rounds[-1].items() if args.slowest else ():
                say(f"{name}: the {args.slowest} slowest (start in phase, latency, path)")
                say("\n".join(stats.slowest(args.slowest)))
        result["rss_mb"] = [round(v, 1) for v in server.rss_mb().values()]
    finally:
        server.stop()
    result["phases"] = summarise(rounds) if rounds else []
    result["rounds"] = [[s.as_dict() for s in r.values()] for r in rounds]
    if not args.no_resolve:
        holders = min(10_000, SIZES[args.size][0])
        say(f"resolution with {holders} holders")
        t = time.perf_counter()
        result["resolution"] = resolve.main(
            ["--db", url, "--size", args.size, "--holders", str(holders)]
            + ["--runs", str(args.resolve_runs)]
        )
        result["resolution"]["wall_s"] = round(time.perf_counter() - t, 2)
    out = args.out or OUT / f"results_{args.size}_{kind}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"\n{args.size} ({', '.join(f'{n:,}' for n in SIZES[args.size])}) on {kind}, ", end="")
    print(f"{result.get('workers')} threads, {args.concurrency} connections, {args.rounds} rounds")
    print(show(result["phases"]))
    if result.get("rss_mb"):
        print("RSS of the server: " + ", ".join(f"{v:.0f} MB" for v in result["rss_mb"]))
    if "resolution" in result:
        r = result["resolution"]
        print(
            f"resolution, {r['holders']} holders: {r['resolve_s']:.3f} s (undo {r['undo_s']:.3f} s)"
        )
    print(f"results in {out}")
    return result


if __name__ == "__main__":
    main()
