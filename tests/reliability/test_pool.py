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
    # lets go well before the retries give up (8 busy waits of 20 ms, and sleeps)
    timer = threading.Timer(0.05, other.rollback)
    timer.start()
    try:  # retried until the other program lets go
        assert database.transaction(lambda s: s.execute(text("SELECT 1")).scalar()) == 1
    finally:
        timer.join()
        other.close()
        database.dispose()


def _checkpoint_spy(db, monkeypatch, before=None):
    """Record each checkpoint this Database makes (whether this thread held the writers'
    lock, and SQLite's answer), and set an event after each; ``before`` runs first."""
    done, calls = threading.Event(), []
    real = type(db).checkpoint

    def spy(self):
        if self is not db:
            return real(self)
        held, answer = getattr(self._turn, "held", False), None
        try:
            if before is not None:
                before()
            answer = real(self)
            return answer
        finally:
            calls.append((threading.current_thread().name, held, answer))
            done.set()

    monkeypatch.setattr(type(db), "checkpoint", spy)
    return done, calls


def test_sqlite_checkpoints_in_a_thread_of_its_own(db, is_postgres, monkeypatch):
    """SQLite's own checkpoint ran inside a commit, with every other writer queued behind
    it; Database.transaction wakes a thread every CHECKPOINT_EVERY commits, and the
    automatic one is only a backstop."""
    if is_postgres:
        assert db.checkpoint() is None
        pytest.skip("SQLite's write-ahead log")
    with db.engine.connect() as conn:
        pragma = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pragma == forecast.db.CHECKPOINT_BACKSTOP
    monkeypatch.setattr(forecast.db, "CHECKPOINT_EVERY", 3)
    db._checkpointer._commits = 0
    done, calls = _checkpoint_spy(db, monkeypatch)

    def write(s):
        s.exec(text("CREATE TABLE IF NOT EXISTS t_ckpt (x INTEGER)"))
        s.exec(text("INSERT INTO t_ckpt VALUES (1)"))

    db.transaction(lambda s: db.transaction(write))  # one inside another: counts once
    db.transaction(write)
    assert not done.wait(0.2) and calls == []
    db.transaction(write)
    assert done.wait(5)
    [(thread, _, (busy, in_log, copied))] = calls
    assert thread == "sqlite-checkpoint"  # not the writer's: it never waits for one
    assert busy == 0 and in_log > 0 and copied == in_log  # nothing else was reading

    def fails(s):
        write(s)
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):  # a transaction that fails is no commit
        db.transaction(fails)
    assert db._checkpointer._commits == 0


def test_a_commit_does_not_wait_for_the_checkpoint(db, is_postgres, monkeypatch):
    """The checkpoint (two fsyncs: 20-25 ms after a few dozen trades) runs while the
    commits that woke it return, and further commits go on meanwhile."""
    if is_postgres:
        pytest.skip("SQLite's write-ahead log")
    monkeypatch.setattr(forecast.db, "CHECKPOINT_EVERY", 1)
    release = threading.Event()
    done, calls = _checkpoint_spy(db, monkeypatch, before=lambda: release.wait(10))

    def write(s):
        s.exec(text("CREATE TABLE IF NOT EXISTS t_ckpt3 (x INTEGER)"))
        s.exec(text("INSERT INTO t_ckpt3 VALUES (3)"))
        return "done"

    assert [db.transaction(write) for _ in range(3)] == ["done"] * 3  # the first is stuck
    assert calls == []
    release.set()
    assert done.wait(5)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t_ckpt3").scalar() == 3


def test_a_failed_checkpoint_is_logged_and_the_next_one_runs(db, is_postgres, monkeypatch, caplog):
    """The checkpoint comes after the commit: when it fails, the write is done all the
    same, the caller gets its result, and the thread lives on for the next one."""
    if is_postgres:
        pytest.skip("SQLite's write-ahead log")
    monkeypatch.setattr(forecast.db, "CHECKPOINT_EVERY", 1)
    failures = iter([OSError("disk I/O error")])

    def first_fails():
        if (exc := next(failures, None)) is not None:
            raise exc

    done, calls = _checkpoint_spy(db, monkeypatch, before=first_fails)

    def write(s):
        s.exec(text("CREATE TABLE IF NOT EXISTS t_ckpt2 (x INTEGER)"))
        s.exec(text("INSERT INTO t_ckpt2 VALUES (7)"))
        return "done"

    assert db.transaction(write) == "done"
    assert done.wait(5)
    done.clear()
    assert db.transaction(write) == "done"
    assert done.wait(5) and len(calls) == 2 and calls[-1][2][0] == 0
    # logged by the thread before it took the second (the spy's event comes before that)
    assert "checkpointing the write-ahead log failed" in caplog.text
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t_ckpt2").scalar() == 2


def test_a_request_counts_its_commit_once_its_read_transaction_is_over(
    app, db, is_postgres, monkeypatch
):
    """forecast.db.transaction (the web's) lets the request's read session go before the
    commit may wake a checkpoint: a read transaction left open holds back what the
    checkpoint may copy, and a log not copied to its end cannot start over."""
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


def _checkpoint_thread(database):
    return database._checkpointer._thread


def test_a_disposed_database_stops_its_checkpoint_thread_and_starts_one_when_used(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(forecast.db, "CHECKPOINT_EVERY", 1)
    database = forecast.db.Database(f"sqlite:///{tmp_path / 'ck.db'}")
    try:
        database.transaction(lambda s: s.exec(text("CREATE TABLE t (x INTEGER)")))
        first = _checkpoint_thread(database)
        assert first is not None and first.name == "sqlite-checkpoint"
        database.dispose()
        assert not first.is_alive() and _checkpoint_thread(database) is None
        database.transaction(lambda s: s.exec(text("INSERT INTO t VALUES (1)")))
        second = _checkpoint_thread(database)  # used again, as a disposed engine is
        assert second is not None and second is not first and second.is_alive()
    finally:
        database.dispose()


def test_a_forked_process_checkpoints_with_a_thread_and_locks_of_its_own(tmp_path, monkeypatch):
    """A fork copies the checkpointer's lock as it was (held, if another thread of the
    parent held it) and none of its threads: the child starts afresh."""
    monkeypatch.setattr(forecast.db, "CHECKPOINT_EVERY", 1)
    database = forecast.db.Database(f"sqlite:///{tmp_path / 'fork.db'}")
    try:
        database.transaction(lambda s: s.exec(text("CREATE TABLE t (x INTEGER)")))
        parent = _checkpoint_thread(database)
        checkpointer = database._checkpointer
        assert checkpointer._lock.acquire()  # as a parent thread could hold it at the fork
        monkeypatch.setattr(checkpointer, "_pid", -1)  # this process is now "another"
        done = threading.Event()
        writer = threading.Thread(
            target=lambda: (
                database.transaction(lambda s: s.exec(text("INSERT INTO t VALUES (1)"))),
                done.set(),
            )
        )
        writer.start()
        assert done.wait(5), "the write waited for a lock the fork left held"
        writer.join()
        child = _checkpoint_thread(database)
        assert child is not None and child is not parent and child.is_alive()
    finally:
        database.dispose()
