"""The benchmark floor: the cheapest write and the cheapest page, for bench/ to compare against.

bench/server.py registers it on the app it serves; the shipped package never
does.  The write goes through the same transaction helper as a trade (BEGIN IMMEDIATE on
SQLite, retries) and inserts one row into ``bench_floor``, a table of its own
created on first use and kept out of SQLModel.metadata so migrations and the
ledger never see it.  The page renders a tiny template through layout.html.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text

from forecast.db import get_db, transaction
from forecast.extensions import csrf
from forecast.models import utcnow

bp = Blueprint("bench", __name__, url_prefix="/_bench", template_folder="templates")
csrf.exempt(bp)

_CREATE = {
    "sqlite": "CREATE TABLE IF NOT EXISTS bench_floor "
    "(id INTEGER PRIMARY KEY, created_at TIMESTAMP NOT NULL)",
    "postgresql": "CREATE TABLE IF NOT EXISTS bench_floor "
    "(id BIGSERIAL PRIMARY KEY, created_at TIMESTAMP NOT NULL)",
}
_ready: set[str] = set()


def _ensure_table() -> None:
    db = get_db()
    if db.url in _ready:
        return
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            # Two workers creating it at once collide in pg_type, IF NOT EXISTS or not.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('bench_floor'))"))
        conn.execute(text(_CREATE[db.engine.dialect.name]))
    _ready.add(db.url)


@bp.post("/write")
def write():
    """Insert one row in one write transaction."""
    _ensure_table()
    now = utcnow().replace(tzinfo=None)
    new_id = transaction(
        lambda s: s.execute(
            text("INSERT INTO bench_floor (created_at) VALUES (:at) RETURNING id"), {"at": now}
        ).scalar_one()
    )
    return jsonify({"id": new_id}), 201


@bp.get("/page")
def page():
    """Render a minimal page through the site layout."""
    return render_template("bench/floor.html")
