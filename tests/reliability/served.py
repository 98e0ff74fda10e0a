"""Helpers for the served site of the reliability tests (see conftest.py there)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy.engine import make_url

from forecast.db import Database
from forecast.services import accounts

PG_URL = os.environ.get("FORECAST_TEST_DATABASE_URL", "")
FORECAST = str(Path(sys.executable).with_name("forecast"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin_conninfo(url: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


def pg_scratch(url: str, suffix: str) -> str:
    """Create (afresh) a database named after ``url``'s plus ``suffix``; returns its URL."""
    import psycopg

    name = f"{make_url(url).database}{suffix}"
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def pg_drop(url: str) -> None:
    import psycopg

    name = make_url(url).database
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Site:
    base: str
    database_url: str
    env: dict
    proc: subprocess.Popen
    log_path: Path
    admin_token: str = ""
    db: Database | None = None
    spawn: Callable[[], subprocess.Popen] | None = None
    _n: int = field(default=0)

    def url(self, path: str) -> str:
        return f"{self.base}/api/v1{path}"

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [FORECAST, *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def cli_user(self, name: str, *, admin: bool = False) -> str:
        """`forecast user create NAME` then `forecast token create NAME`; returns the token."""
        args = ["user", "create", name, *(["--admin"] if admin else [])]
        r = self.cli(*args, input="a-long-password\n")
        assert r.returncode == 0, r.stderr + r.stdout
        r = self.cli("token", "create", name)
        assert r.returncode == 0, r.stderr + r.stdout
        return r.stdout.strip().splitlines()[-1]

    def quick_user(self, name: str) -> str:
        """An account and token written straight to the site's database (faster than the CLI)."""

        def use_case(s):
            user = accounts.create_user(session=s, username=name, password="a-long-password")
            return accounts.create_token(session=s, user_id=user.id, name="reliability")[1]

        return self.db.transaction(use_case)

    def audit(self) -> subprocess.CompletedProcess:
        return self.cli("audit")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill_and_restart(self) -> None:
        """SIGKILL the server wherever it is, then start it again on the same port."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = self.spawn()
        wait_until_serving(self.base, self.proc, self.log_path)


def headers(token: str, **extra: str) -> dict:
    return {"Authorization": f"Bearer {token}", **extra}


def wait_until_serving(base: str, proc: subprocess.Popen, log_path: Path, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("forecast serve exited:\n" + log_path.read_text())
        try:
            if requests.get(base + "/api/v1/openapi.json", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError("forecast serve did not answer:\n" + log_path.read_text())
