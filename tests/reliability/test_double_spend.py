"""Two worker processes, one wallet: 100 simultaneous trades that only 10 can pay for."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import requests
from served import headers

from forecast.models import utcnow

ATTEMPTS = 100


def test_a_hundred_concurrent_trades_from_one_account_that_can_afford_ten(site):
    # The site admin writes a deep market in the public competition through the API.
    close_at = (utcnow() + timedelta(days=30)).isoformat()
    r = requests.post(
        site.url("/competitions/public/questions"),
        json={"title": "Double spend?", "close_at": close_at, "liquidity": 100_000},
        headers=headers(site.admin_token),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    question = r.json()
    yes = question["outcomes"][0]["id"]

    token = site.cli_user("spender")  # 1,000 points in public: ten trades of 100
    me = requests.get(site.url("/me"), headers=headers(token), timeout=30).json()
    assert me["memberships"] == [
        {"competition": "public", "role": "player", "balance": 1000.0, "net_worth": 1000.0}
    ]

    barrier = threading.Barrier(ATTEMPTS)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def trade() -> None:
        barrier.wait(timeout=60)
        resp = requests.post(
            site.url(f"/questions/{question['id']}/trades"),
            json={"outcome": yes, "spend": 100},
            headers=headers(token),
            timeout=120,
        )
        with lock:
            answers.append((resp.status_code, resp.json()))

    threads = [threading.Thread(target=trade) for _ in range(ATTEMPTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)

    statuses = Counter(status for status, _ in answers)
    codes = Counter(body["error"]["code"] for status, body in answers if status != 201)
    print(f"\ndouble spend: {ATTEMPTS} attempted, statuses {dict(statuses)}, errors {dict(codes)}")
    assert len(answers) == ATTEMPTS
    assert statuses == {201: 10, 409: 90}
    assert codes == {"insufficient_balance": 90}
    ok = sorted((b for s, b in answers if s == 201), key=lambda b: b["trade"]["id"])
    assert [b["trade"]["cost"] for b in ok] == [100.0] * 10
    assert sorted(b["balance"] for b in ok) == [100.0 * k for k in range(10)]

    me = requests.get(site.url("/me"), headers=headers(token), timeout=30).json()
    assert me["memberships"][0]["balance"] == 0.0
    positions = requests.get(
        site.url(f"/questions/{question['id']}/positions"), headers=headers(token), timeout=30
    ).json()
    held = {p["outcome"]: p for p in positions}
    assert held[yes]["spent"] == 1000.0
    assert held[yes]["shares"] == round(sum(b["trade"]["shares"] for b in ok), 4)

    audit = site.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr
    # the access log has request lines, never the bearer tokens
    log = site.log()
    assert "POST /api/v1/questions/" in log
    assert token not in log and site.admin_token not in log
    assert "Authorization" not in log
