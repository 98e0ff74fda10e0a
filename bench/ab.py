"""Two commits served in turns against the same data: what a change buys, on a machine
whose speed wanders.

    python bench/ab.py 00935c2 --size company --db postgres --pairs 3
    python bench/ab.py HEAD~2 HEAD --size small --db sqlite --generate \\
        --phases "floor write,trade (API)"

Checks out BASE (and HEAD, if given; else it measures this working tree) as
git worktrees in a temporary directory, their bench/out linked to this
tree's, then runs bench/run.py for each in turns, --pairs times: base, head,
head, base, base, head...  Each run serves its own commit's code with its
own floor, against the same database (so, without --generate, the two must
share their migrations: it refuses two commits whose migrations differ in any
file).
With --generate each run makes the database afresh with its own migrations, so
the two may differ.  Turns, rather than all of one then all of the other, so that a machine that
slows down or speeds up during the hour counts against both alike, and each
side goes first as often as the other, as each run adds its trades.  --generate makes the
data afresh before every run (a second or two at small size; each run adds
its trades, and the ratios drift down as the data grows).

Prints, for each phase, each side's median over the pairs and its range:
requests a second and p99 as ratios to their floor (each run's own), the CPU
a request (server + database + client, load.CpuProbe) and that CPU as a ratio
to its floor's in the same run, then the change of the median.  The runs'
result files are kept in bench/out/ab_<side>_<k>.json.  Prints only; asserts
nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, ROOT, table  # noqa: E402

MIGRATIONS = "forecast/migrations/versions"


def checkout(rev: str, dest: Path) -> Path:
    """``rev`` as a detached worktree at ``dest``, its bench/out this tree's (made here
    if this tree has none yet: a fresh clone's)."""
    add = ["git", "worktree", "add", "--detach", str(dest), rev]
    subprocess.run(add, cwd=ROOT, check=True, capture_output=True, text=True)
    try:
        OUT.mkdir(parents=True, exist_ok=True)
        out = dest / "bench" / "out"
        if out.exists() and not out.is_symlink():
            shutil.rmtree(out)
        out.symlink_to(OUT, target_is_directory=True)
    except BaseException:
        remove(dest)
        raise
    return dest


def remove(tree: Path) -> None:
    """Take a worktree ``checkout`` made away again, and git's record of it."""
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=False)


def migrations(tree: Path) -> dict[str, str]:
    """Each migration of ``tree`` by file name, with a digest of its text: migrations are
    sometimes mended in place, so the same names may be a different schema."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((tree / MIGRATIONS).glob("*.py"))
    }


def order(k: int) -> tuple[str, str]:
    """The sides' order in the k-th pair (from 1): base first in odd pairs, head first in
    even ones, so that neither always runs on the data the other's run has just grown."""
    return ("base", "head") if k % 2 else ("head", "base")


def summary(results: dict[str, list[dict]]) -> list[dict]:
    """Per phase and side (``results``: each side's run.py results, in turn order): the
    values of each run, for req/s ÷ floor, p99 ÷ floor, CPU ms a request (server,
    database and client) and that CPU ÷ its floor's in the same run (which takes out
    how fast the machine was during that run)."""
    rows = []
    sides = list(results)
    phases = [p["phase"] for p in results[sides[0]][0]["phases"]]
    for phase in phases:
        row: dict = {"phase": phase}
        for side in sides:
            row[side] = {"rps_ratio": [], "p99_ratio": [], "cpu_ms": [], "cpu_ratio": []}
            for run in results[side]:
                by_name = {p["phase"]: p for p in run["phases"]}
                got, floor = by_name[phase], by_name.get(by_name[phase].get("floor"))
                for key in ("rps_ratio", "p99_ratio"):
                    if key in got:
                        row[side][key].append(got[key])
                if got.get("cpu_ms"):
                    cpu = sum(got["cpu_ms"].values())
                    row[side]["cpu_ms"].append(cpu)
                    if floor is not None and floor.get("cpu_ms"):
                        row[side]["cpu_ratio"].append(cpu / sum(floor["cpu_ms"].values()))
        rows.append(row)
    return rows


def _spread(values: list[float], unit: str) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:.2f}{unit} ({min(values):.2f}-{max(values):.2f})"


def _change(a: list[float], b: list[float]) -> str:
    if not a or not b:
        return ""
    before, after = statistics.median(a), statistics.median(b)
    return f"{(after - before) / before:+.0%}" if before else ""


def show(rows: list[dict], labels: dict[str, str]) -> str:
    """``labels``: each side's name in the header (base, head)."""
    base, head = list(labels)
    body = []
    for row in rows:
        for key, label, unit in (
            ("rps_ratio", "req/s ÷ floor", "x"),
            ("p99_ratio", "p99 ÷ floor", "x"),
            ("cpu_ms", "CPU ms/req", ""),
            ("cpu_ratio", "CPU ÷ floor's", "x"),
        ):
            a, b = row[base][key], row[head][key]
            if a or b:
                body.append(
                    [row["phase"], label, _spread(a, unit), _spread(b, unit), _change(a, b)]
                )
    return table(body, ["phase", "figure", labels[base], labels[head], "change"])


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("base", help="the commit to compare against")
    ap.add_argument("head", nargs="?", help="the commit to measure (default: this working tree)")
    ap.add_argument("--pairs", type=int, default=2, help="runs of each, in turns")
    ap.add_argument("--generate", action="store_true", help="make the data afresh before each run")
    ap.add_argument("--size", default="small")
    ap.add_argument("--db", default="sqlite")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--phases", help="run.py's --phases (default: all of them)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="forecast-ab-") as tmp:
        trees: dict[str, Path] = {}
        try:
            trees["base"] = checkout(args.base, Path(tmp) / "base")
            trees["head"] = checkout(args.head, Path(tmp) / "head") if args.head else ROOT
            if not args.generate and migrations(trees["base"]) != migrations(trees["head"]):
                sys.exit(
                    "the two commits' migrations differ: they cannot share one database "
                    "(--generate makes it afresh for each run)"
                )
            results: dict[str, list[dict]] = {"base": [], "head": []}
            for k in range(1, args.pairs + 1):
                for side in order(k):
                    tree = trees[side]
                    out = OUT / f"ab_{side}_{k}.json"
                    cmd = [sys.executable, str(tree / "bench" / "run.py"), "--size", args.size]
                    cmd += ["--db", args.db, "--rounds", str(args.rounds), "--no-resolve"]
                    cmd += ["--requests", str(args.requests), "--out", str(out)]
                    cmd += ["--generate"] if args.generate else []
                    cmd += ["--phases", args.phases] if args.phases else []
                    print(f"pair {k} of {args.pairs}: {side}", flush=True)
                    env = {**os.environ, "PYTHONPATH": str(tree)}
                    subprocess.run(cmd, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
                    results[side].append(json.loads(out.read_text()))
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    remove(tree)
    rows = summary(results)
    labels = {"base": args.base, "head": args.head or "working tree"}
    runs = f"{args.pairs} runs each, in turns"
    print(f"{args.size} · {args.db}: {labels['base']} against {labels['head']}, {runs}")
    print(show(rows, labels))
    return rows


if __name__ == "__main__":
    main()
