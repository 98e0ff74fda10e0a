"""Engines, one session per request, and the transaction helper.

Reads use ``get_session()`` (one per request, closed at teardown).  Every use
case that writes runs inside :meth:`Database.transaction`: one transaction that
takes the write lock up front (BEGIN IMMEDIATE on SQLite; SELECT ... FOR
UPDATE in the services on PostgreSQL) and is retried when the database reports
a serialization failure, a deadlock or a busy SQLite file.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, SQLModel

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_PG = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for ``url``: SQLite with the recipe below, PostgreSQL with a pool
    that tests each connection before handing it out (``pool_pre_ping``)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_recipe(engine)
        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=20, pool_recycle=1800, pool_pre_ping=True
    )


def _sqlite_recipe(engine: Engine) -> None:
    """SQLAlchemy's documented pysqlite recipe: we emit BEGIN ourselves.

    Writers begin with BEGIN IMMEDIATE so the write lock is taken before the
    first read of the transaction; readers keep a plain (deferred) BEGIN.
    WAL lets readers go on while one writer writes; the busy timeout makes a
    second writer wait for the lock rather than fail.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, connection_record):  # noqa: ANN001
        dbapi_connection.isolation_level = None  # no BEGIN from the driver
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001
        immediate = conn.get_execution_options().get("forecast_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One database: its engine, and ``write_engine`` for write transactions (on
    SQLite they begin with BEGIN IMMEDIATE; on PostgreSQL it is the same engine)."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.write_engine = self.engine.execution_options(forecast_write=True)
        self.is_sqlite = url.startswith("sqlite")

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def transaction(
        self,
        fn: Callable[[Session], T],
        *,
        attempts: int = 8,
        retry_integrity: bool = False,
    ) -> T:
        """Run ``fn(session)`` in one write transaction and commit; retry when the database asks.

        Domain errors raised by ``fn`` roll back and propagate unchanged.
        ``retry_integrity`` retries a unique-constraint race once the winner
        has committed (idempotency keys, joins), so ``fn`` then sees its row.
        """
        for attempt in range(1, attempts + 1):
            with Session(self.write_engine, expire_on_commit=False) as session:
                try:
                    result = fn(session)
                    session.commit()
                    return result
                except (OperationalError, IntegrityError) as exc:
                    session.rollback()
                    if attempt == attempts or not self._retryable(exc, retry_integrity):
                        raise
                    log.info("retrying transaction after %s (attempt %d)", exc.orig, attempt)
                except BaseException:
                    session.rollback()
                    raise
            time.sleep(random.uniform(0, 0.01 * attempt))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _retryable(self, exc: DBAPIError, retry_integrity: bool) -> bool:
        if isinstance(exc, IntegrityError):
            return retry_integrity
        code = getattr(exc.orig, "sqlstate", None)
        if code in RETRYABLE_PG:
            return True
        return self.is_sqlite and "locked" in str(exc.orig)

    def create_all(self) -> None:
        from forecast import models  # noqa: F401

        SQLModel.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        from forecast import models  # noqa: F401

        SQLModel.metadata.drop_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def get_db() -> Database:
    return current_app.extensions["forecast_db"]


def get_session() -> Session:
    """The request's read session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = get_db().session()
    return g.db_session


def close_session(exc: BaseException | None = None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        s.close()


def transaction(fn: Callable[[Session], T], **kw) -> T:
    """Run a use case in one write transaction on the app's database.

    The request's read session ends its transaction before the write and is read
    afresh after it.  On SQLite a read transaction still open when the write
    commits keeps the commit's checkpoint from reaching the end of the
    write-ahead log, so the log could never start over and every later commit
    would checkpoint again.
    """
    s = g.get("db_session")
    if s is not None:
        s.rollback()
    result = get_db().transaction(fn, **kw)
    if s is not None:
        s.rollback()
        s.expire_all()
    return result
