"""Engines, one session per request, and the transaction helper.

Reads use ``get_session()`` (one per request, closed at teardown).  Every use
case that writes runs inside :meth:`Database.transaction`: one transaction that
takes the write lock up front (BEGIN IMMEDIATE on SQLite; SELECT ... FOR
UPDATE in the services on PostgreSQL) and is retried when the database reports
a serialization failure, a deadlock or a busy SQLite file.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from types import SimpleNamespace
from typing import TypeVar

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: SQLite's busy timeout alone
    fcntl = None

from flask import current_app, g
from sqlalchemy import JSON, Table, bindparam, create_engine, event, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InvalidRequestError,
    OperationalError,
)
from sqlalchemy.orm import class_mapper
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_PG = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_recipe(engine)
        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=20, pool_recycle=1800)
    _ping_when_idle(engine)
    return engine


PING_AFTER = 5.0  # seconds a pooled connection may sit idle and be used without a ping


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling, as pool_pre_ping does it, for idle connections only.

    A connection back in the pool less than PING_AFTER seconds ago is handed
    out as it is (a busy site would otherwise pay a round trip per request
    for "SELECT 1"); one idle longer is pinged first, and a dead one is
    replaced (DisconnectionError makes the pool try a new connection).
    """

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection, connection_record):  # noqa: ANN001
        connection_record.info["forecast_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, connection_record, connection_proxy):  # noqa: ANN001
        idle_since = connection_record.info.get("forecast_idle_since")
        if idle_since is not None and time.monotonic() - idle_since < PING_AFTER:
            return
        try:
            _ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(str(exc)) from exc


def _ping(dbapi_connection) -> None:  # noqa: ANN001
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    dbapi_connection.rollback()


# SQLite copies its write-ahead log back into the database (a checkpoint) when a commit
# finds the log past wal_autocheckpoint pages: by default 1,000, about every 50 trades,
# and inside the commit, so with the writers' lock held (Database._one_writer) while it
# writes those pages and syncs: 6-7 ms in which no other process could write, a quarter
# of the time the lock is held over a run of trades.  Outside the lock but in the
# request it still cost the request that did it 20-25 ms (two fsyncs), about 0.7 ms a
# trade.  So each process checkpoints in a thread of its own (_Checkpointer), woken every
# CHECKPOINT_EVERY commits of the process (PASSIVE: writers and readers go on
# meanwhile, and the request that woke it does not wait); the automatic one is kept only
# as a backstop, for writers that do not come through Database.transaction.
CHECKPOINT_EVERY = 32
CHECKPOINT_BACKSTOP = 10_000  # pages (of 4 KB)


def _sqlite_recipe(engine: Engine) -> None:
    """SQLAlchemy's documented pysqlite recipe: we emit BEGIN ourselves.

    Writers begin with BEGIN IMMEDIATE so the write lock is taken before the
    first read of the transaction; readers keep a plain (deferred) BEGIN.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, connection_record):  # noqa: ANN001
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_BACKSTOP}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001
        immediate = conn.get_execution_options().get("forecast_write", False)
        # On the DBAPI connection itself: the same statement without an execution
        # context around it (every request begins one); a busy file still comes out
        # as SQLAlchemy's OperationalError, which Database.transaction retries.
        sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        dbapi = conn.connection.dbapi_connection
        try:
            dbapi.execute(sql)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise dbapi_error(sql, None, exc, conn.dialect, dbapi) from exc


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.write_engine = self.engine.execution_options(forecast_write=True)
        self.is_sqlite = url.startswith("sqlite")
        path = make_url(url).database if self.is_sqlite else None
        in_memory = not path or path == ":memory:" or path.startswith("file::memory:")
        self._writer_lock = None if fcntl is None or in_memory else f"{path}.writers"
        self._turn = threading.local()  # this thread holds the writers' lock
        self._checkpointer = _Checkpointer(self) if self._writer_lock is not None else None
        # Reads outside a transaction block: on PostgreSQL no BEGIN and ROLLBACK around
        # them, two round trips fewer a request.  Under READ COMMITTED (PostgreSQL's
        # default, and ours) each statement takes its own snapshot anyway, so a read
        # block was not one snapshot either; SQLite keeps its transaction (there a
        # read transaction is one snapshot, and costs no round trip).
        self.autocommit_engine = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def read_session(self) -> Session:
        """A session for a request's reads (see autocommit_engine); never for writes."""
        return Session(self.autocommit_engine, expire_on_commit=False)

    def read_one(self, statement: Prepared, params: dict) -> tuple | None:
        """The first row of one read statement (None if none), on a pooled connection of
        its own and outside any transaction (autocommit: on PostgreSQL no BEGIN and
        ROLLBACK around it).  Every API request reads its token so.  The connection
        goes back to the pool as it came, or, if it broke, not at all.
        """
        pooled = self.engine.raw_connection()
        dialect = self.engine.dialect
        dbapi = pooled.dbapi_connection
        try:
            compiled = statement.compiled_for(dialect)
            if self.is_sqlite:  # no BEGIN is sent for a bare cursor: autocommit already
                return compiled.run(dbapi, params, "one")
            with _autocommit(dbapi, dialect):
                return compiled.run(dbapi, params, "one")
        except DBAPIError as exc:
            if exc.connection_invalidated:
                pooled.invalidate(exc)
            raise
        finally:
            if not self.is_sqlite and pooled.dbapi_connection is not None and dbapi.autocommit:
                pooled.invalidate()  # its mode could not be set back: never pooled so
            pooled.close()  # back to the pool (an invalidated one is discarded)

    def transaction(
        self,
        fn: Callable[[Session], T],
        *,
        attempts: int = 8,
        retry_integrity: bool = False,
        after: bool = True,
    ) -> T:
        """Run ``fn(session)`` in one write transaction and commit; retry when the database asks.

        Domain errors raised by ``fn`` roll back and propagate unchanged.
        ``retry_integrity`` retries a unique-constraint race once the winner
        has committed (idempotency keys, joins), so ``fn`` then sees its row.
        ``after``: count the commit for a checkpoint here (``after_commit``); a caller
        that still holds a read transaction passes False and calls it once that is over.
        """
        for attempt in range(1, attempts + 1):
            with self._one_writer(), Session(self.write_engine, expire_on_commit=False) as session:
                try:
                    result = fn(session)
                    session.commit()
                    break
                except (OperationalError, IntegrityError) as exc:
                    session.rollback()
                    if attempt == attempts or not self._retryable(exc, retry_integrity):
                        raise
                    log.info("retrying transaction after %s (attempt %d)", exc.orig, attempt)
                except BaseException:
                    session.rollback()
                    raise
            time.sleep(random.uniform(0, 0.01 * attempt))  # outside the writers' queue
        if after:
            self.after_commit()
        return result

    def after_commit(self) -> None:
        """SQLite: count a commit; every CHECKPOINT_EVERY commits of this process, wake
        its checkpointing thread (_Checkpointer) and go on without waiting for it.  Best
        with no read transaction open in this thread: a checkpoint cannot copy what a
        reader may still see, and a log not copied to its end cannot start over."""
        if self._checkpointer is None or getattr(self._turn, "held", False):
            return  # PostgreSQL, a database in memory, or a transaction inside another
        self._checkpointer.committed()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """SQLite: copy what the write-ahead log holds back into the database, as far as
        readers allow, without waiting for writers (PASSIVE); SQLite's answer
        (busy, frames in the log, frames copied), or None on PostgreSQL."""
        if not self.is_sqlite:
            return None
        pooled = self.engine.raw_connection()
        try:
            return tuple(
                pooled.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            )
        finally:
            pooled.close()

    @contextmanager
    def _one_writer(self) -> Iterator[None]:
        """SQLite: queue for the write lock in the kernel (flock on a file beside the
        database), so a writer starts the moment the one before it commits.

        Without it a second process's BEGIN IMMEDIATE waits in SQLite's busy
        handler, which sleeps in steps of 1, 2, 5, 10 ms... however soon the
        lock is free.  Every process of the site writes through here; another
        program writing the file still works, through the busy timeout.
        A no-op on PostgreSQL (rows are locked in the transaction) and for an
        in-memory database.
        """
        if self._writer_lock is None or getattr(self._turn, "held", False):
            yield  # a transaction begun inside another one (tests do) queues as it did before
            return
        fd = os.open(self._writer_lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # each open file is its own holder: threads queue too
            self._turn.held = True
            yield
        finally:
            self._turn.held = False
            os.close(fd)  # releases it

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
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()


class _Checkpointer:
    """A SQLite database's checkpoints, in a daemon thread of this process: it counts the
    process's commits and, every CHECKPOINT_EVERY, wakes the thread (started on the first
    wake), which checkpoints once per wake-up, however many wakes came meanwhile.
    A checkpoint comes after commits that are done: one that fails is logged, and the
    next copies what it did not.  A forked child (a gunicorn worker of an app loaded
    before the fork) starts afresh, with locks and a thread of its own; after ``stop``
    (Database.dispose) the next wake starts a new thread, as a disposed engine connects
    again when used."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._fresh()

    def _fresh(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()  # not the parent's, which a fork may have left held
        self._thread: threading.Thread | None = None
        self._state: SimpleNamespace | None = None  # the running thread's: wanted, stopped
        self._commits = 0  # since the last wake

    def committed(self) -> None:
        """Count a commit; every CHECKPOINT_EVERY, wake the thread and go on."""
        if self._pid != os.getpid():
            self._fresh()
        with self._lock:
            self._commits += 1
            if self._commits < CHECKPOINT_EVERY:
                return
            self._commits = 0
            if self._thread is None or not self._thread.is_alive():
                self._state = SimpleNamespace(wanted=threading.Event(), stopped=False)
                self._thread = threading.Thread(
                    target=self._run, args=(self._state,), name="sqlite-checkpoint", daemon=True
                )
                self._thread.start()
            state = self._state
        state.wanted.set()

    def stop(self) -> None:
        """Let the thread finish its checkpoint, if any, and end."""
        with self._lock:
            thread, state = self._thread, self._state
            self._thread = self._state = None
        if state is not None:
            state.stopped = True
            state.wanted.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self, state: SimpleNamespace) -> None:
        while True:
            state.wanted.wait()
            state.wanted.clear()
            if state.stopped:
                return
            try:
                self._db.checkpoint()
            except Exception:  # maintenance: the next one copies back what this one did not
                log.warning("checkpointing the write-ahead log failed", exc_info=True)


@contextmanager
def _autocommit(dbapi, dialect) -> Iterator[None]:  # noqa: ANN001
    """psycopg: autocommit on for the block, then as it was (if it cannot be set back,
    the caller sees dbapi.autocommit still on and drops the connection)."""
    try:
        was = dbapi.autocommit
        dbapi.autocommit = True
    except dialect.loaded_dbapi.Error as exc:
        raise dbapi_error("SET autocommit", None, exc, dialect, dbapi) from exc
    try:
        yield
    finally:
        with suppress(dialect.loaded_dbapi.Error):
            dbapi.autocommit = was


def detached(model: type[T], values: Mapping[str, object]) -> T:
    """An object of the mapped ``model`` holding ``values`` (its columns, by name) as the ORM
    would load them, but in no session: for a row read through Prepared that a page
    shows as it would show the ORM's object.  Read it; never add it to a session (it
    would be a new row).  A fraction of an ORM load's cost: no identity map, no result
    object, no events."""
    obj = class_mapper(model).class_manager.new_instance()  # configures the mappers, if new
    instance_dict(obj).update(values)
    return obj


class Prepared:
    """A Core statement compiled once per dialect and run on the DBAPI cursor of the
    session's connection, inside the session's transaction.

    For the hottest statements (a trade's), where SQLAlchemy's work around each
    execution (about 40 us: the compiled cache lookup, the execution context, the
    result object) cost more than SQLite took to run them.  Values go through the
    columns' own bind processors and rows through their result processors, as
    SQLAlchemy would do it; the driver's errors come out as SQLAlchemy's
    (IntegrityError, OperationalError...), so Database.transaction retries as it
    does for any statement.  No expanding (IN) parameters.  ``column_keys``: for
    an INSERT of a table, the columns given (every call gives the same ones).
    """

    def __init__(self, statement: Executable, *, column_keys: Sequence[str] | None = None):
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def compiled_for(self, dialect) -> _Compiled:  # noqa: ANN001
        key = (dialect.name, dialect.driver, dialect.paramstyle, dialect.server_version_info)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _Compiled(self.statement, dialect, self.column_keys)
        return compiled

    def _run(self, session: Session, params, fetch: str | None, *, many: bool = False):  # noqa: ANN001, ANN202
        conn = _connection(session)
        compiled = self.compiled_for(conn.dialect)
        try:
            return compiled.run(conn.connection.dbapi_connection, params, fetch, many=many)
        except DBAPIError as exc:
            if exc.connection_invalidated:  # a dead connection: never back to the pool
                conn.invalidate(exc)
            raise

    def rows(self, session: Session, params: dict) -> list[tuple]:
        """Every row, each a tuple of the selected columns' values."""
        return self._run(session, params, "all")

    def first(self, session: Session, params: dict) -> tuple | None:
        """The first row, or None."""
        return self._run(session, params, "one")

    def write(self, session: Session, params: dict) -> int | None:
        """Run a write; returns an INSERT's new id (RETURNING, or the cursor's lastrowid)."""
        return self._run(session, params, "id")

    def write_many(self, session: Session, rows: list[dict]) -> None:
        """Run a write once per row (the driver's executemany)."""
        self._run(session, rows, None, many=True)


def _connection(session: Session) -> Connection:
    """``session.connection()`` (which begins the session's transaction when it has not),
    asked once per transaction: a trade runs up to eight Prepared statements, and each
    ask costs about 10 us of SQLAlchemy's bookkeeping."""
    transaction = session.get_transaction()
    kept = session.info.get("forecast_connection")
    if kept is not None and kept[0] is transaction and transaction.is_active:
        return kept[1]  # (inactive after a failed flush: session.connection() says so)
    conn = session.connection()
    session.info["forecast_connection"] = (session.get_transaction(), conn)
    return conn


def dbapi_error(sql: str, params, exc: Exception, dialect, dbapi=None, cursor=None) -> DBAPIError:  # noqa: ANN001
    """The driver's error ``exc`` as SQLAlchemy's (IntegrityError, OperationalError...),
    marked connection_invalidated when it says the connection is gone."""
    gone = dbapi is not None and dialect.is_disconnect(exc, dbapi, cursor)
    return DBAPIError.instance(
        sql, params, exc, dialect.loaded_dbapi.Error, connection_invalidated=gone, dialect=dialect
    )


class _Compiled:
    """A statement compiled for one dialect: its SQL, parameter order and processors."""

    def __init__(self, statement: Executable, dialect, column_keys) -> None:  # noqa: ANN001
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("Prepared runs no Python-side column defaults: give every column")
        self.sql = compiled.string
        self.returns = bool(getattr(compiled, "effective_returning", None))
        self.dialect = dialect
        # Values the statement holds itself (the 1 of "trade_count + 1"), by name; every
        # other parameter must be given (as SQLAlchemy insists: never a silent NULL).
        self.required = {name for bind, name in compiled.bind_names.items() if bind.required}
        self.fixed = {
            name: value
            for name, value in compiled.construct_params(_check=False).items()
            if name not in self.required
        }
        self.names = list(compiled.positiontup) if compiled.positional else None
        self.binds = {
            name: process
            for bind, name in compiled.bind_names.items()
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        # Each selected column that has a result processor, with its place in the row
        # (only those are touched: a leaderboard reads 10,000 rows of mostly integers).
        columns = getattr(statement, "selected_columns", None) or []
        self.results = [
            (k, process)
            for k, c in enumerate(columns)
            if (process := c.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
        ]

    def values(self, params: dict) -> dict | list:
        if not self.required <= params.keys():
            missing = ", ".join(sorted(self.required - params.keys()))
            raise InvalidRequestError(f"A value is required for bind parameter(s) {missing}")
        values = {**self.fixed, **params}
        for name, process in self.binds.items():
            if name in values:
                values[name] = process(values[name])
        return values if self.names is None else [values[n] for n in self.names]

    def run(self, dbapi, params, fetch: str | None = None, *, many: bool = False):  # noqa: ANN001, ANN201
        """Execute on ``dbapi`` and fetch: "all" rows, "one" row (or None), the new "id",
        or nothing.  Every driver call is inside: its errors come out as SQLAlchemy's."""
        cursor = None
        try:
            cursor = dbapi.cursor()
            if many:
                cursor.executemany(self.sql, [self.values(p) for p in params])
                return None
            cursor.execute(self.sql, self.values(params))
            if fetch == "all":
                return self.processed(cursor.fetchall())
            if fetch == "one":
                row = cursor.fetchone()
                return None if row is None else self.processed([row])[0]
            if fetch == "id":
                if self.returns:
                    row = cursor.fetchone()
                    return None if row is None else row[0]
                return getattr(cursor, "lastrowid", None)
            return None
        except self.dialect.loaded_dbapi.Error as exc:
            raise dbapi_error(self.sql, params, exc, self.dialect, dbapi, cursor) from exc

    def processed(self, rows: list) -> list[tuple]:
        if not self.results:
            return [tuple(r) for r in rows]
        out = []
        for row in rows:
            r = list(row)
            for k, p in self.results:
                if (v := r[k]) is not None:
                    r[k] = p(v)
            out.append(tuple(r))
        return out


def get_db() -> Database:
    return current_app.extensions["forecast_db"]


def get_session() -> Session:
    """The request's read session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = get_db().read_session()
    return g.db_session


def close_session(exc: BaseException | None = None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        s.close()


def transaction(fn: Callable[[Session], T], **kw) -> T:
    """Run a use case in one write transaction on the app's database."""
    db = get_db()
    result = db.transaction(fn, after=False, **kw)
    # The request's read session may hold a stale snapshot; start it afresh.
    s = g.get("db_session")
    if s is not None:
        s.rollback()
        s.expire_all()
    db.after_commit()  # with the read transaction over: a checkpoint can copy everything
    return result


def _unnest(dialect, table: Table, rows: list[dict]) -> tuple[list[str], list[str], str, dict]:
    """PostgreSQL: the rows as parallel arrays, ``unnest(...) AS v(c0, c1, ...)``.

    Returns (column names, the select expression of each, the FROM item, params).
    Values go through each column's type (aware datetimes become naive UTC);
    JSON travels as text and is cast back.
    """
    names = list(rows[0])
    params: dict[str, list] = {}
    arrays, selects = [], []
    for k, name in enumerate(names):
        col = table.c[name]
        values = [row[name] for row in rows]
        impl = col.type.impl if isinstance(col.type, TypeDecorator) else col.type
        if isinstance(impl, JSON):
            values = [None if v is None else json.dumps(v) for v in values]
            arrays.append(f"CAST(:a{k} AS TEXT[])")
            selects.append(f"CAST(v.c{len(arrays) - 1} AS JSON)")
        else:
            process = col.type.bind_processor(dialect)
            if process is not None:
                values = [process(v) for v in values]
            sql_type = impl.compile(dialect=dialect)
            if arrays and _all_same(values):
                # One value for every row (a resolution's kind, time, competition): sent
                # once, not as an array of thousands of copies for the driver to dump.
                selects.append(f"CAST(:a{k} AS {sql_type})")
                params[f"a{k}"] = values[0]
                continue
            arrays.append(f"CAST(:a{k} AS {sql_type}[])")
            selects.append(f"v.c{len(arrays) - 1}")
        params[f"a{k}"] = values
    aliases = ", ".join(f"c{k}" for k in range(len(arrays)))
    return names, selects, f"unnest({', '.join(arrays)}) AS v({aliases})", params


def _all_same(values: list) -> bool:
    first = values[0]
    return all(v == first and type(v) is type(first) for v in values)


def insert_many(
    session: Session, table: Table, rows: list[dict], *, returning: Sequence[str] = ()
) -> list[tuple]:
    """INSERT many rows at once: thousands of ledger rows, scores, trades.

    On PostgreSQL one ``INSERT ... SELECT FROM unnest(array, ...)`` (a
    statement with tens of thousands of placeholders costs the driver more
    than the server); elsewhere the driver's executemany.  Every row names
    the same columns.  With ``returning`` column names, returns those
    columns of the new rows, in no particular order.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        stmt = table.insert()
        if returning:
            stmt = stmt.returning(*(table.c[n] for n in returning))
            return [tuple(r) for r in session.execute(stmt, rows)]
        session.execute(stmt, rows)
        return []
    prep = dialect.identifier_preparer
    names, selects, source, params = _unnest(dialect, table, rows)
    sql = (
        f"INSERT INTO {prep.format_table(table)} ({', '.join(prep.quote(n) for n in names)}) "
        f"SELECT {', '.join(selects)} FROM {source}"
    )
    if returning:
        sql += " RETURNING " + ", ".join(prep.quote(n) for n in returning)
        return [tuple(r) for r in session.execute(text(sql), params)]
    session.execute(text(sql), params)
    return []


def update_many(session: Session, table: Table, key: str, rows: list[dict]) -> None:
    """UPDATE many rows at once, each matched on column ``key`` and given the other values.

    On PostgreSQL one ``UPDATE ... FROM unnest(...)``; elsewhere executemany.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        stmt = (
            table.update()
            .where(table.c[key] == bindparam(f"_{key}"))
            .values({n: bindparam(f"_{n}") for n in rows[0] if n != key})
        )
        session.execute(stmt, [{f"_{n}": v for n, v in row.items()} for row in rows])
        return
    prep = dialect.identifier_preparer
    names, selects, source, params = _unnest(dialect, table, rows)
    sets = ", ".join(
        f"{prep.quote(n)} = {expr}" for n, expr in zip(names, selects, strict=True) if n != key
    )
    match = selects[names.index(key)]
    name = prep.format_table(table)
    sql = f"UPDATE {name} SET {sets} FROM {source} WHERE {name}.{prep.quote(key)} = {match}"
    session.execute(text(sql), params)
