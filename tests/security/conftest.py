"""Fixtures for the hardening tests: a client signed in as someone, with a CSRF token."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from security_helpers import csrf, get


@pytest.fixture
def signed_in(app):
    """signed_in(user, path="/"): a test client signed in as ``user`` and a CSRF token."""

    def make(user, path: str = "/", application=None):
        client = (application or app).test_client()
        with client.session_transaction() as sess:
            sess["_user_id"] = str(user.id)
            sess["_fresh"] = True
        return client, csrf(client, path)

    return make


@pytest.fixture
def limited_app(db, database_url, tmp_path):
    """limited_app(login="2 per minute", ...): an app with rate limits on, in memory."""
    from forecast import config, create_app

    made = []

    def make(**limits):
        cfg = config.TestingConfig(database_url, str(tmp_path / f"limited{len(made)}"))
        cfg.RATELIMIT_ENABLED = True
        cfg.RATELIMIT_STORAGE_URI = "memory://"
        for name, value in limits.items():
            setattr(cfg, f"RATELIMIT_{name.upper()}", value)
        app = create_app(cfg)
        if not db.is_sqlite:
            app.extensions["forecast_db"] = db
        made.append(app)
        return app

    yield make
    for app in made:
        if db.is_sqlite:
            app.extensions["forecast_db"].dispose()


@pytest.fixture
def serve(tmp_path):
    """serve(**env): `forecast serve --workers 2` on 127.0.0.1 over a fresh SQLite site;
    returns (base URL, port, env).  Stopped at the end of the test."""
    procs = []

    def start(**extra: str):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        env = {
            **os.environ,
            "FORECAST_INSTANCE_PATH": str(tmp_path / "inst"),
            "FORECAST_DATABASE_URL": f"sqlite:///{tmp_path / 'site.db'}",
            "FORECAST_SECRET_KEY": "k" * 64,
            **extra,
        }
        exe = Path(sys.executable).with_name("forecast")
        log_path = tmp_path / "serve.log"
        log = open(log_path, "wb")  # noqa: SIM115 -- closed at teardown
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
        proc = subprocess.Popen([str(exe), *args], env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append((proc, log))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                get(base + "/", timeout=2)
                return base, port, env
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)

    yield start
    for proc, log in procs:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
