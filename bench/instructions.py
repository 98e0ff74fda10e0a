"""Instructions a request, counted by valgrind: what a change costs, on a machine whose
speed wanders.

    python bench/instructions.py question-kept --size company --db sqlite
    python bench/instructions.py question-redraw floor-page --size company --db postgres

Runs itself again under `valgrind --tool=callgrind` with instrumentation off,
sets up in-process as bench/hotspots.py does (the Flask test client against a
database bench/generate.py filled), and switches the counting on
(`callgrind_control -i on`) only around each target's measured requests.
Prints the instructions executed in this process per request.  They are the
same from run to run within about 0.5 % (the garbage collector is off while
counting), where times on a shared machine wander by 2x from minute to
minute: compare two commits with it, then confirm served with bench/run.py.
The database server's work is not counted (PostgreSQL runs in its own
processes); SQLite's is, inside the process.  Under valgrind a run takes a few
minutes, mostly the setup.

Targets:
  floor-page       the floor page
  floor-write      the floor write
  question-kept    views of --requests questions, each viewed before (nothing changed)
  question-redraw  views of --requests questions, each after 10 trades on it since
                   its last view (the trades are not counted)
  leaderboard      the public leaderboard, viewed before
  home             the home page, viewed before
  trade            trades through the API (0.01 points, rotating tokens and questions)
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SIZES, database_url  # noqa: E402

TARGETS = (
    "floor-page",
    "floor-write",
    "question-kept",
    "question-redraw",
    "leaderboard",
    "home",
    "trade",
)
UNDER = "FORECAST_UNDER_CALLGRIND"  # set in the run under valgrind: its dump directory
TRADES_BEFORE_REDRAW = 10


def counted(out_dir: Path) -> dict[str, int]:
    """Each dump's label (callgrind_control -d LABEL) and the instructions in it."""
    found = {}
    for path in sorted(out_dir.glob("cg.out.*")):
        text = path.read_text(errors="replace")
        label = re.search(r"^desc: Trigger: dump (.+)$", text, re.M)
        total = re.search(r"^totals: (\d+)", text, re.M)
        if label and total:
            found[label.group(1).strip()] = int(total.group(1))
    return found


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True, capture_output=True)


def measure(args: argparse.Namespace) -> None:
    """Under valgrind: set up, then count each target's requests, one dump each."""
    from bench.hotspots import (
        _open_questions,
        bench_tokens,
        in_process_client,
        trade_as_next_holder,
    )
    from forecast.web.questions import _now_step

    url = database_url(args.db, args.size)
    client = in_process_client(url)
    questions = _open_questions(url)
    if not questions:
        sys.exit(f"no open questions in {url}: run bench/generate.py first")
    chosen = [questions[k % len(questions)] for k in range(args.requests)]
    tokens = bench_tokens(url, args.size, args.tokens_file)
    turn = iter(range(10**9))

    def get(path: str) -> None:
        r = client.get(path)
        if r.status_code != 200:
            sys.exit(f"{path}: {r.status_code}")

    def trade(qid: int, oid: int) -> None:
        trade_as_next_holder(client, tokens, next(turn), qid, oid)

    def write() -> None:
        if client.post("/_bench/write").status_code != 201:
            sys.exit("floor write failed")

    paths = {"floor-page": "/_bench/page", "leaderboard": "/c/public/leaderboard", "home": "/"}
    for target in args.targets:
        if target in paths:
            steps = [lambda p=paths[target]: get(p)] * args.requests
        elif target == "floor-write":
            steps = [write] * args.requests
        elif target == "trade":
            steps = [lambda q=q: trade(*q) for q in chosen]
        else:  # the question page
            steps = [lambda q=q: get(f"/questions/{q[0]}") for q in chosen]
        # Pages are drawn again each minute ("2 minutes ago"): a count that a new minute
        # began in, or after its warm-up, is made again (valgrind is slow).
        for _attempt in range(5):
            minute = _now_step()
            for step in steps[:5] if target in ("trade", "floor-write") else steps:
                step()  # warm: each page viewed once (its caches built), a few writes made
            if target == "question-redraw":
                for qid, oid in chosen:
                    for _ in range(TRADES_BEFORE_REDRAW):
                        trade(qid, oid)
            gc.collect()
            gc.disable()
            _control("-z")
            _control("-i", "on")
            for step in steps:
                step()
            _control("-i", "off")
            gc.enable()
            if _now_step() == minute:
                break
        _control("-d", target)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("targets", nargs="+", choices=TARGETS)
    ap.add_argument("--size", default="small", choices=sorted(SIZES))
    ap.add_argument("--db", default="sqlite", help="sqlite, postgres, or a database URL")
    ap.add_argument("--requests", type=int, default=40, help="counted requests per target")
    ap.add_argument("--tokens-file", type=Path)
    args = ap.parse_args(argv)
    if os.environ.get(UNDER):
        measure(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp)
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out_dir / 'cg.out'}",
            sys.executable,
            str(Path(__file__).resolve()),
            *(argv if argv is not None else sys.argv[1:]),
        ]
        done = subprocess.run(cmd, env={**os.environ, UNDER: tmp}, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"valgrind failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
        found = counted(out_dir)
    print(f"{args.size} · {args.db}, {args.requests} requests a target, in this process")
    for target in args.targets:
        total = found.get(target)
        shown = "not counted" if total is None else f"{total / args.requests:,.0f} instructions"
        print(f"{target:16} {shown} a request")


if __name__ == "__main__":
    main()
