"""`forecast serve` keeps answering while a few clients send slowly or not at all.

Talks only to 127.0.0.1, and every wait is bounded: the whole test takes seconds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

SLOW_CLIENTS = 6  # more than the server has threads (--workers 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float) -> tuple[int, float]:
    began = time.monotonic()
    with urllib.request.urlopen(url, timeout=timeout) as r:
        r.read()
        return r.status, time.monotonic() - began


@pytest.fixture
def served(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "FORECAST_INSTANCE_PATH": str(tmp_path / "inst"),
        "FORECAST_DATABASE_URL": f"sqlite:///{tmp_path / 'site.db'}",
        "FORECAST_SECRET_KEY": "k" * 64,
    }
    exe = Path(sys.executable).with_name("forecast")
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 -- closed below
    proc = subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                _get(base + "/", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        yield base, port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_slow_and_idle_clients_do_not_starve_the_site(served):
    base, port = served
    dribblers = []
    idle = []
    try:
        for _ in range(SLOW_CLIENTS):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            dribblers.append(s)
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        # Each slow client sends one more header line now and then, never the blank
        # line that ends its request; meanwhile others ask for the home page.
        slowest = 0.0
        for i in range(6):
            for s in dribblers:
                s.sendall(f"X-Slow-{i}: {'a' * 10}\r\n".encode())
            status, took = _get(base + "/", timeout=5)
            assert status == 200
            slowest = max(slowest, took)
            time.sleep(0.5)
        assert slowest < 3, slowest
    finally:
        for s in dribblers + idle:
            s.close()
