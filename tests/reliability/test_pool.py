"""The connection pool and SQLite's write lock (forecast.db)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

import forecast.db


def test_a_dead_idle_connection_is_replaced_not_handed_out(db, is_postgres):
    if not is_postgres:
        pytest.skip("PostgreSQL's connection pool")
    with db.engine.connect() as conn:
        dead = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    killer = create_engine(db.url, poolclass=NullPool)
    with killer.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": dead})
    killer.dispose()
    with db.engine.connect() as conn:  # pinged, found dead, replaced: no error here
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != dead


def test_sqlite_writers_take_turns(db, is_postgres):
    """BEGIN IMMEDIATE: a write transaction begins only when no other one is open."""
    if is_postgres:
        pytest.skip("SQLite's write lock")
    inside, overlaps = [], []

    def write(s):
        s.execute(text("SELECT 1"))  # begins the transaction
        inside.append(1)
        if len(inside) > 1:
            overlaps.append(1)
        time.sleep(0.01)
        inside.pop()

    threads = [threading.Thread(target=db.transaction, args=(write,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []


def test_a_transaction_begun_inside_another_does_not_wait_for_itself(db):
    # Only a transaction that has not begun yet can start another (SQLite has one writer).
    assert db.transaction(lambda s: db.transaction(lambda inner: 42)) == 42


def test_a_busy_sqlite_file_at_begin_is_an_operational_error_and_retried(tmp_path):
    """Another program holding the write lock makes BEGIN IMMEDIATE fail with
    SQLAlchemy's OperationalError once the busy timeout is over; transaction() retries."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    path = tmp_path / "busy.db"
    database = forecast.db.Database(f"sqlite:///{path}")

    @event.listens_for(database.engine, "connect")
    def _short_wait(dbapi_connection, record):  # noqa: ANN001
        dbapi_connection.execute("PRAGMA busy_timeout=20")

    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(OperationalError, match="locked"), database.write_engine.connect() as c:
        c.begin()
    # lets go well before the retries give up (8 busy waits of 20 ms, and sleeps)
    timer = threading.Timer(0.05, other.rollback)
    timer.start()
    try:  # retried until the other program lets go
        assert database.transaction(lambda s: s.execute(text("SELECT 1")).scalar()) == 1
    finally:
        timer.join()
        other.close()
        database.dispose()
