"""Fixtures: a fresh database per test, on SQLite by default or on PostgreSQL
when FORECAST_TEST_DATABASE_URL names one (then an unreachable server fails
the run rather than skipping it)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from forecast import create_app
from forecast.config import TestingConfig
from forecast.db import Database
from forecast.market.money import UNIT

PG_URL = os.environ.get("FORECAST_TEST_DATABASE_URL", "")


def pytest_report_header(config):
    return f"forecast database: {PG_URL or 'SQLite (temporary file per test)'}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Database | None]:
    if not PG_URL:
        yield None
        return
    database = Database(PG_URL, pool_size=60)
    with database.engine.connect() as conn:  # fails loudly when the server is not there
        conn.execute(text("select 1"))
    database.drop_all()
    database.create_all()
    yield database
    database.dispose()


@pytest.fixture
def database_url(pg_database, tmp_path) -> str:
    if pg_database is not None:
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with pg_database.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        return PG_URL
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def db(database_url, pg_database) -> Iterator[Database]:
    if pg_database is not None:
        yield pg_database
        # Close idle pooled connections: a 50-thread test would otherwise keep 50 open
        # while later tests start servers of their own (PostgreSQL allows 100 clients).
        pg_database.engine.dispose()
        return
    database = Database(database_url)
    database.create_all()
    yield database
    database.dispose()


@pytest.fixture
def is_postgres(db) -> bool:
    return not db.is_sqlite


@pytest.fixture
def app(db, database_url, tmp_path):
    application = create_app(TestingConfig(database_url, str(tmp_path / "instance")))
    # Share the test's engine so PostgreSQL tests do not open a pool per test.
    if not db.is_sqlite:
        application.extensions["forecast_db"] = db
    yield application
    if db.is_sqlite:
        application.extensions["forecast_db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def tx(db) -> Callable:
    """Run a use case in one transaction: tx(lambda s: service(session=s, ...))."""
    return db.transaction


@pytest.fixture
def make_user(tx):
    from forecast.services import accounts

    counter = iter(range(1, 10_000))

    def make(name: str | None = None, *, admin: bool = False, password: str = "tidy-otter-123"):
        name = name or f"user{next(counter)}"
        return tx(
            lambda s: accounts.create_user(
                session=s, username=name, password=password, is_admin=admin
            )
        )

    return make


@pytest.fixture
def public(tx):
    from forecast.services import competitions

    return tx(lambda s: competitions.ensure_public(session=s))


@pytest.fixture
def make_question(tx, public):
    from datetime import timedelta

    from forecast.models import utcnow
    from forecast.services import questions

    def make(*, competition=None, kind="binary", outcomes=None, liquidity=100, user_id=None, **kw):
        comp = competition or public
        fields = dict(
            title=kw.pop("title", "Will it happen?"),
            kind=kind,
            outcomes=outcomes,
            close_at=kw.pop("close_at", utcnow() + timedelta(days=30)),
            liquidity=liquidity,
            **kw,
        )
        return tx(
            lambda s: questions.create_question(
                session=s, user_id=user_id, competition=comp, check_moderator=False, **fields
            )
        )

    return make


@pytest.fixture
def buy(tx):
    """Trade through the service (setting up a scene, not the thing under test)."""

    from forecast.services import trading

    def place(user, question, outcome_id, **order):
        return tx(
            lambda s: trading.trade(
                session=s,
                user_id=user.id,
                question_id=question.id,
                order=trading.parse_order(outcome_id=outcome_id, **order),
            )
        )

    return place


POINT = UNIT
