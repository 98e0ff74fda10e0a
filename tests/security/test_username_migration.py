"""Migration 0007 stops with a list of the usernames that differ only in case, before it
changes anything; once they are renamed it goes through."""

from __future__ import annotations

import os

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from forecast.services import site

PG_URL = os.environ.get("FORECAST_TEST_DATABASE_URL", "")


@pytest.fixture
def scratch_url(tmp_path):
    """An empty database: a SQLite file, or a PostgreSQL database beside the test one."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    import psycopg

    admin = make_url(PG_URL).set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    name = f"{make_url(PG_URL).database}_migration"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_clashing_names_are_listed_and_nothing_changes(scratch_url):
    cfg = site.alembic_config(scratch_url)
    command.upgrade(cfg, "0006")
    engine = create_engine(scratch_url)
    insert = text(
        'INSERT INTO "user" (username, password_hash, is_admin, is_active, created_at) '
        "VALUES (:n, 'x', false, true, CURRENT_TIMESTAMP)"
    )
    try:
        with engine.begin() as conn:
            for n in ("Alice", "alice", "bob", "Carol", "CAROL", "carol"):
                conn.execute(insert, {"n": n})
        with pytest.raises(RuntimeError) as failed:
            command.upgrade(cfg, "head")
        message = str(failed.value)
        assert "Alice, alice; CAROL, Carol, carol." in message and "bob" not in message
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0006"
        with engine.begin() as conn:
            conn.execute(text("UPDATE \"user\" SET username = 'alice2' WHERE username = 'alice'"))
            conn.execute(text("DELETE FROM \"user\" WHERE username IN ('CAROL', 'carol')"))
        command.upgrade(cfg, "head")
        with pytest.raises(Exception, match="(?i)unique"), engine.begin() as conn:
            conn.execute(insert, {"n": "ALICE"})
    finally:
        engine.dispose()
