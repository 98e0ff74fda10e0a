"""`forecast serve` as it runs by default keeps one budget per token for all of its
threads: a burst of concurrent trades gets exactly the limit through; a 429 names the
real wait."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import requests
from security_helpers import TOKEN_RE

from forecast.models import utcnow

LIMIT = 10
BURST = 30


def _cli(env: dict, *args: str, input: str | None = None) -> str:
    exe = Path(sys.executable).with_name("forecast")
    done = subprocess.run(
        [str(exe), *args], env=env, input=input, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_burst_of_trades_gets_exactly_the_limit_through(serve):
    base, _, env = serve(FORECAST_RATELIMIT=f"trade={LIMIT} per minute")
    _cli(env, "user", "create", "bot", input="quiet-harbour-lantern\n")
    token = _cli(env, "token", "create", "bot").strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    q = requests.post(
        f"{base}/api/v1/competitions/public/questions",
        json={"title": "Burst?", "close_at": (utcnow() + timedelta(days=3)).isoformat()},
        headers=auth,
        timeout=30,
    )
    assert q.status_code == 201, q.text
    yes = q.json()["outcomes"][0]["id"]
    barrier = threading.Barrier(BURST)
    statuses: list[int] = []
    lock = threading.Lock()

    def trade() -> None:
        barrier.wait(timeout=30)
        r = requests.post(
            f"{base}/api/v1/questions/{q.json()['id']}/trades",
            json={"outcome": yes, "spend": 1},
            headers=auth,
            timeout=60,
        )
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=trade) for _ in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(statuses) == [201] * LIMIT + [429] * (BURST - LIMIT), statuses
    assert "Audit OK" in _cli(env, "audit")


def test_a_login_429_says_the_real_wait(serve):
    base, _, _ = serve(FORECAST_RATELIMIT="login=3 per minute")
    browser = requests.Session()
    token = TOKEN_RE.search(browser.get(f"{base}/login", timeout=30).text).group(1)
    answers = [
        browser.post(
            f"{base}/login",
            data={"csrf_token": token, "username": "alice", "password": "not-her-password"},
            allow_redirects=False,
            timeout=30,
        )
        for _ in range(5)
    ]
    assert [r.status_code for r in answers] == [422, 422, 422, 429, 429]
    for r in answers[3:]:
        assert 1 <= int(r.headers["Retry-After"]) <= 60, r.headers
