"""The site as `forecast serve` serves it, plus the benchmark floor (bench/floor.py).

    FORECAST_DATABASE_URL=... python bench/server.py --port 5001 [--workers N]

Migrates and seeds an empty site as `forecast serve` does, registers the floor's
routes (/_bench/write, /_bench/page) on the app, and serves it with the same
server (forecast.cli.serve_app: one process, --workers threads).  bench/load.py
starts it; the shipped package never registers the floor.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask  # noqa: E402

from bench import floor  # noqa: E402
from forecast import create_app  # noqa: E402
from forecast.cli import SERVE_THREADS, prepare_site, serve_app  # noqa: E402


def bench_app() -> Flask:
    """The app with the floor's routes."""
    app = create_app()
    app.register_blueprint(floor.bp)
    return app


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=SERVE_THREADS, help="threads that run requests")
    args = ap.parse_args(argv)
    app = bench_app()
    with app.app_context():
        prepare_site()
    print(f"Serving on http://{args.host}:{args.port} with {args.workers} threads", flush=True)
    serve_app(app, host=args.host, port=args.port, workers=args.workers)


if __name__ == "__main__":
    main()
