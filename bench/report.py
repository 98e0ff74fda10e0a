"""One markdown table from bench/run.py's result files: every size and database side by side.

    python bench/report.py                       # bench/out/results_<size>_<db>.json
    python bench/report.py --tag v2              # bench/out/results_<size>_<db>_v2.json
    python bench/report.py a.json b.json ...     # any result files

Each figure is the median over the run's rounds, as a ratio to its floor
measured in the same run (trades against the floor write, pages against the
floor page), then the goals (bench/README.md) checked against them.  Prints only;
it never fails on a missed goal (speed is measured here, not asserted).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT  # noqa: E402
from bench.load import cpu_text  # noqa: E402

ORDER = [("small", "sqlite"), ("small", "pg"), ("company", "sqlite"), ("company", "pg")]
PAGES = ("question page", "leaderboard", "home page", "projector")

# The goals a single run can check (bench/README.md): name, phase, how to read it, the
# bound.  The trade's goal is against an earlier commit: bench/ab.py measures it.
GOALS = [
    ("question page p99 <= 3x the floor page", "question page", "p99_ratio", "<=", 3.0),
    ("leaderboard p99 <= 3x the floor page", "leaderboard", "p99_ratio", "<=", 3.0),
    ("projector p99 <= 3x the floor page", "projector", "p99_ratio", "<=", 3.0),
]


def load(paths: list[Path]) -> list[dict]:
    runs = [json.loads(p.read_text()) for p in paths if p.exists()]
    rank = {k: n for n, k in enumerate(ORDER)}
    return sorted(runs, key=lambda r: rank.get((r["size"], r["db"]), 99))


def _phase(run: dict, name: str) -> dict:
    return next((p for p in run["phases"] if p["phase"] == name), {})


def table(runs: list[dict]) -> str:
    heads = [f"{r['size']} · {'PostgreSQL' if r['db'] == 'pg' else 'SQLite'}" for r in runs]
    lines = ["| | " + " | ".join(heads) + " |", "|---" * (len(runs) + 1) + "|"]

    def row(label: str, cell) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in runs) + " |")

    row("floor write, req/s", lambda r: f"{_phase(r, 'floor write').get('rps', 0):.0f}")
    row(
        "floor page, req/s (p99 ms)",
        lambda r: "{:.0f} ({:.1f})".format(
            _phase(r, "floor page").get("rps", 0), _phase(r, "floor page").get("p99_ms", 0)
        ),
    )
    row("trade via API: req/s ÷ floor write", lambda r: _ratio(r, "trade (API)", "rps_ratio"))
    for phase in ("floor write", "trade (API)"):
        row(
            f"{phase}: CPU ms/req, server+db+client (busy)",
            lambda r, phase=phase: cpu_text(
                _phase(r, phase).get("cpu_ms", {}), _phase(r, phase).get("busy")
            ),
        )
    row("trade via API: p99 ÷ floor write p99", lambda r: _ratio(r, "trade (API)", "p99_ratio"))
    for page in PAGES:
        row(f"{page}: p99 ÷ floor page p99", lambda r, page=page: _ratio(r, page, "p99_ratio"))
        row(f"{page}: req/s ÷ floor page", lambda r, page=page: _ratio(r, page, "rps_ratio"))
    row("non-2xx answers", lambda r: str(sum(p.get("non_2xx", 0) for p in r["phases"])))
    row("RSS of the server, MB", lambda r: ", ".join(f"{v:.0f}" for v in r.get("rss_mb", [])))
    row(
        "resolve (undo), s",
        lambda r: (
            "{:.3f} ({:.3f}), {} holders".format(
                r["resolution"]["resolve_s"], r["resolution"]["undo_s"], r["resolution"]["holders"]
            )
            if "resolution" in r
            else ""
        ),
    )
    return "\n".join(lines)


def _ratio(run: dict, phase: str, key: str) -> str:
    value = _phase(run, phase).get(key)
    return f"{value:.2f}x" if value is not None else ""


def goals(runs: list[dict]) -> str:
    out = []
    for label, phase, key, op, bound in GOALS:
        marks = []
        for r in runs:
            value = _phase(r, phase).get(key)
            if value is None:
                continue
            met = value >= bound if op == ">=" else value <= bound
            marks.append(f"{r['size']}/{r['db']} {value:.2f}x {'met' if met else 'MISSED'}")
        out.append(f"- {label}: " + "; ".join(marks))
    for r in runs:
        rss = r.get("rss_mb", [])
        res = r.get("resolution", {})
        out.append(
            f"- {r['size']}/{r['db']}: RSS max {max(rss, default=0):.0f} MB "
            f"({'met' if max(rss, default=0) <= 150 else 'MISSED'} <= 150 MB); "
            f"resolution of {res.get('holders', 0)} holders {res.get('resolve_s', 0):.3f} s "
            f"({'met' if res.get('resolve_s', 99) <= 2 else 'MISSED'} <= 2 s)"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--tag", default="", help="read results_<size>_<db>_<tag>.json")
    args = ap.parse_args(argv)
    suffix = f"_{args.tag}" if args.tag else ""
    names = {"sqlite": ["sqlite"], "pg": ["pg", "postgres"]}
    paths = args.files or [
        next(
            (p for n in names[db] if (p := OUT / f"results_{size}_{n}{suffix}.json").exists()),
            OUT / f"results_{size}_{db}{suffix}.json",
        )
        for size, db in ORDER
    ]
    runs = load(paths)
    if not runs:
        sys.exit(f"no result files among: {', '.join(str(p) for p in paths)}")
    print(table(runs))
    print()
    print(goals(runs))


if __name__ == "__main__":
    main()
