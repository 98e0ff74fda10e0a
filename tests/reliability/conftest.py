"""A real site for the reliability tests: `forecast serve --workers 2` on loopback.

One server for the whole session, on a SQLite file or, when
FORECAST_TEST_DATABASE_URL names a PostgreSQL database, on a scratch database
created next to it (its name plus "_serve") and dropped afterwards: the
per-test fixtures TRUNCATE the test database, which a running server must
not share.  Each test makes its own accounts and competitions there, so the
tests do not depend on each other's order.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess

import pytest
from served import FORECAST, PG_URL, Site, free_port, pg_drop, pg_scratch, wait_until_serving

from forecast.db import Database


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Site:
    tmp = tmp_path_factory.mktemp("served")
    if PG_URL:
        database_url = pg_scratch(PG_URL, "_serve")
    else:
        database_url = f"sqlite:///{tmp / 'site.db'}"
    port = free_port()
    env = {
        **os.environ,
        "FORECAST_DATABASE_URL": database_url,
        "FORECAST_INSTANCE_PATH": str(tmp / "instance"),
        "FORECAST_SECRET_KEY": secrets.token_hex(32),
        "FORECAST_RATELIMIT": "off",
    }
    log_path = tmp / "serve.log"
    log = open(log_path, "wb")  # noqa: SIM115 -- closed at teardown
    cmd = [FORECAST, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]

    def spawn() -> subprocess.Popen:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    proc = spawn()
    site = Site(f"http://127.0.0.1:{port}", database_url, env, proc, log_path, spawn=spawn)
    try:
        wait_until_serving(site.base, proc, log_path)
        site.admin_token = site.cli_user("admin")  # the first account: the site's admin
        site.db = Database(database_url)
        yield site
    finally:
        site.proc.send_signal(signal.SIGINT)  # waitress: closes its sockets and exits
        try:
            site.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            site.proc.kill()
            site.proc.wait(timeout=10)
        log.close()
        if site.db is not None:
            site.db.dispose()
        if PG_URL:
            pg_drop(database_url)
