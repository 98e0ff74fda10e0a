"""The connection pool and the SQLite writers' queue (forecast.db)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

import forecast.db


def test_a_dead_idle_connection_is_replaced_not_handed_out(db, is_postgres, monkeypatch):
    if not is_postgres:
        pytest.skip("PostgreSQL's connection pool")
    with db.engine.connect() as conn:
        dead = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    killer = create_engine(db.url, poolclass=NullPool)
    with killer.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": dead})
    killer.dispose()
    monkeypatch.setattr(forecast.db, "PING_AFTER", 0.0)  # it has been idle "long enough"
    with db.engine.connect() as conn:  # pinged, found dead, replaced: no error here
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != dead


def test_a_connection_is_pinged_only_after_it_sat_idle(db, is_postgres, monkeypatch):
    if not is_postgres:
        pytest.skip("PostgreSQL's connection pool")
    pings = []
    real = forecast.db._ping
    monkeypatch.setattr(forecast.db, "_ping", lambda c: pings.append(1) or real(c))
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    pings.clear()
    with db.engine.connect() as conn:  # back in the pool a moment ago: no round trip
        conn.execute(text("SELECT 2"))
    assert pings == []
    monkeypatch.setattr(forecast.db, "PING_AFTER", 0.0)
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 3"))
    assert pings == [1]


def test_sqlite_writers_take_turns_in_the_kernel_queue(db, is_postgres):
    if is_postgres:
        pytest.skip("SQLite's write lock")
    assert db._writer_lock is not None
    inside, overlaps = [], []

    def write(s):
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
    # Only a transaction that has not written yet can start another (SQLite has one
    # writer), but that must not queue behind its own thread's turn.
    assert db.transaction(lambda s: db.transaction(lambda inner: 42)) == 42


def test_a_busy_sqlite_file_at_begin_is_an_operational_error_and_retried(tmp_path):
    """BEGIN IMMEDIATE goes to the driver directly; another program holding the write
    lock still makes it SQLAlchemy's OperationalError, which transaction() retries."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    path = tmp_path / "busy.db"
    database = forecast.db.Database(f"sqlite:///{path}")

    @event.listens_for(database.engine, "connect")
    def _short_wait(dbapi_connection, record):  # noqa: ANN001
        dbapi_connection.execute("PRAGMA busy_timeout=20")

    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # no queue
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(OperationalError, match="locked"), database.write_engine.connect() as c:
        c.begin()
    timer = threading.Timer(0.1, other.rollback)
    timer.start()
    try:  # retried until the other program lets go
        assert database.transaction(lambda s: s.execute(text("SELECT 1")).scalar()) == 1
    finally:
        timer.join()
        other.close()
        database.dispose()


def test_sqlite_checkpoints_after_the_writers_lock_is_let_go(db, is_postgres, monkeypatch):
    """SQLite's own checkpoint ran inside a commit, with every other writer queued behind
    it; Database.transaction checkpoints every CHECKPOINT_EVERY commits once the lock is
    let go, and the automatic one is only a backstop."""
    if is_postgres:
        assert db.checkpoint() is None
        pytest.skip("SQLite's write-ahead log")
    with db.engine.connect() as conn:
        pragma = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pragma == forecast.db.CHECKPOINT_BACKSTOP
    monkeypatch.setattr(forecast.db, "CHECKPOINT_EVERY", 3)
    db._commits = 0
    held_then, answers = [], []
    real = type(db).checkpoint

    def spy(self):
        held_then.append(getattr(self._turn, "held", False))
        answers.append(real(self))
        return answers[-1]

    monkeypatch.setattr(type(db), "checkpoint", spy)

    def write(s):
        s.exec(text("CREATE TABLE IF NOT EXISTS t_ckpt (x INTEGER)"))
        s.exec(text("INSERT INTO t_ckpt VALUES (1)"))

    db.transaction(lambda s: db.transaction(write))  # one inside another: counts once
    db.transaction(write)
    assert answers == []
    db.transaction(write)
    assert len(answers) == 1 and held_then == [False]
    busy, in_log, copied = answers[0]
    assert busy == 0 and in_log > 0 and copied == in_log  # nothing else was reading

    def fails(s):
        write(s)
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):  # a transaction that fails is no commit
        db.transaction(fails)
    assert db._commits == 0


def test_a_failed_checkpoint_is_logged_and_the_write_stands(db, is_postgres, monkeypatch, caplog):
    """The checkpoint comes after the commit: when it fails, the write is done all the
    same, and the caller gets its result, not an error that would invite a second try."""
    if is_postgres:
        pytest.skip("SQLite's write-ahead log")
    monkeypatch.setattr(forecast.db, "CHECKPOINT_EVERY", 1)

    def broken(self):
        raise OSError("disk I/O error")

    monkeypatch.setattr(type(db), "checkpoint", broken)

    def write(s):
        s.exec(text("CREATE TABLE IF NOT EXISTS t_ckpt2 (x INTEGER)"))
        s.exec(text("INSERT INTO t_ckpt2 VALUES (7)"))
        return "done"

    assert db.transaction(write) == "done"
    assert "checkpointing the write-ahead log failed" in caplog.text
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT x FROM t_ckpt2").scalar() == 7


def test_a_request_checkpoints_once_its_read_transaction_is_over(app, db, is_postgres, monkeypatch):
    """forecast.db.transaction (the web's) lets the request's read session go before the
    checkpoint: a read transaction left open holds back what the checkpoint may copy."""
    if is_postgres:
        pytest.skip("SQLite's write-ahead log")
    from flask import g

    reading = []
    monkeypatch.setattr(
        type(db), "after_commit", lambda self: reading.append(g.db_session.in_transaction())
    )
    with app.test_request_context("/"):
        session = forecast.db.get_session()
        session.exec(text("SELECT 1"))
        assert session.in_transaction()
        forecast.db.transaction(lambda s: s.exec(text("SELECT 2")))
    assert reading == [False]
