"""A server killed mid-trade leaves no half-written trade, and retries with the same
Idempotency-Key trade exactly once, across processes."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import requests
from served import headers
from sqlalchemy import func, select
from urllib3.exceptions import NewConnectionError

from forecast.market.money import UNIT
from forecast.models import Competition, LedgerEntry, Membership, Trade, User, utcnow
from forecast.services import ledger

CLIENTS = 6


def make_question(site, title: str) -> dict:
    r = requests.post(
        site.url("/competitions/public/questions"),
        json={
            "title": title,
            "close_at": (utcnow() + timedelta(days=30)).isoformat(),
            "liquidity": 10_000,
        },
        headers=headers(site.admin_token),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return r.json()


EXTRA = 100_000  # points granted to the crash test's trader


def _public_wallet(s, name: str) -> Membership:
    return s.exec(
        select(Membership)
        .join(Competition, Competition.id == Membership.competition_id)
        .join(User, User.id == Membership.user_id)
        .where(User.username == name, Competition.slug == "public")
    ).one()[0]


def user_id(site, name: str) -> int:
    with site.db.session() as s:
        return s.exec(select(User.id).where(User.username == name)).one()[0]


def _refused(e: Exception) -> bool:
    reason = getattr(e.args[0], "reason", None) if e.args else None
    return isinstance(reason, NewConnectionError)


def test_sigkill_the_server_while_trades_are_in_flight(site):
    q = make_question(site, "Crash?")
    outcomes = [o["id"] for o in q["outcomes"]]
    name = f"crash-{uuid.uuid4().hex[:6]}"
    token = site.quick_user(name)
    # Trades run until the kills are done, which can take many seconds: a wallet the
    # clients cannot empty meanwhile (a grant, booked in the ledger like a join's).
    site.db.transaction(lambda s: ledger.grant(s, _public_wallet(s, name), EXTRA * UNIT))
    answers: dict[int, dict] = {}  # trade id -> answer
    dropped = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def client(k: int) -> None:
        http = requests.Session()
        n = 0
        while not stop.is_set():
            key = f"{name}-{k}-{n}"
            body = {"outcome": outcomes[n % 2], "spend": 0.5 + (n % 7) / 10}
            n += 1
            # retry a dropped request with its key until it answers (the server restarts)
            retry_until = time.monotonic() + 120
            while time.monotonic() < retry_until:
                try:
                    r = http.post(
                        site.url(f"/questions/{q['id']}/trades"),
                        json=body,
                        headers=headers(token, **{"Idempotency-Key": key}),
                        timeout=60,
                    )
                # A kill can also land after the headers went out: the body breaks off.
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
                    with lock:  # refused: sent while the server was down, so not in flight
                        dropped["refused" if _refused(e) else "connection"] += 1
                    http.close()
                    http = requests.Session()
                    time.sleep(0.1)
                    continue
                assert r.status_code == 201, r.text
                with lock:
                    answers[r.json()["trade"]["id"]] = r.json()["trade"]
                break
            else:
                raise AssertionError(f"{key} never answered")
        http.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    # Six clients keep the server's threads busy, so a kill nearly always lands on a
    # request in flight; kill again (after the restart) until one did.
    pids: list[int] = []
    kill_until = time.monotonic() + 60
    while time.monotonic() < kill_until:
        pids.append(site.proc.pid)
        site.kill_and_restart()
        time.sleep(1.5)
        with lock:
            if dropped["connection"]:
                break
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join(timeout=180)

    # the restarted server serves
    assert site.proc.pid not in pids and site.proc.poll() is None
    assert requests.get(site.url("/me"), headers=headers(token), timeout=30).status_code == 200
    print(
        f"\ncrash: killed servers {pids}; {len(answers)} trades answered, "
        f"{dropped['connection']} dropped connections and {dropped['refused']} refused retried"
    )
    assert dropped["connection"] >= 1  # the kill did hit requests in flight

    uid = user_id(site, name)
    with site.db.session() as s:
        booked = {
            tid: cost
            for tid, cost in s.exec(select(Trade.id, Trade.cost).where(Trade.user_id == uid))
        }
        ledger_rows = dict(
            s.exec(
                select(LedgerEntry.trade_id, func.count())
                .where(LedgerEntry.trade_id.in_(list(booked)))
                .group_by(LedgerEntry.trade_id)
            ).all()
        )
    # exactly the answered trades exist, each with its two ledger rows
    assert set(booked) == set(answers)
    assert all(ledger_rows.get(tid) == 2 for tid in booked), ledger_rows
    assert {tid: round(a["cost"] * UNIT) for tid, a in answers.items()} == booked
    me = requests.get(site.url("/me"), headers=headers(token), timeout=30).json()
    public = next(m for m in me["memberships"] if m["competition"] == "public")
    assert round(public["balance"] * UNIT) == (1000 + EXTRA) * UNIT - sum(booked.values())
    audit = site.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_the_same_idempotency_key_trades_once_across_threads(site):
    q = make_question(site, "Retry?")
    yes = q["outcomes"][0]["id"]
    name = f"retry-{uuid.uuid4().hex[:6]}"
    token = site.quick_user(name)
    path = site.url(f"/questions/{q['id']}/trades")
    body = {"outcome": yes, "spend": 42}
    key = {"Idempotency-Key": "the-one-key"}
    barrier = threading.Barrier(12)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send() -> None:
        barrier.wait(timeout=30)
        r = requests.post(path, json=body, headers=headers(token, **key), timeout=60)
        with lock:
            answers.append((r.status_code, r.json()))

    threads = [threading.Thread(target=send) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [s for s, _ in answers] == [201] * 12
    assert all(a == answers[0][1] for _, a in answers), answers
    # a later retry still answers the first trade; another body with the key is refused
    r = requests.post(path, json=body, headers=headers(token, **key), timeout=30)
    assert r.status_code == 201 and r.json() == answers[0][1]
    r = requests.post(path, json={**body, "spend": 43}, headers=headers(token, **key), timeout=30)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"
    with site.db.session() as s:
        n = s.exec(
            select(func.count()).select_from(Trade).where(Trade.user_id == user_id(site, name))
        )
        assert n.one()[0] == 1
    me = requests.get(site.url("/me"), headers=headers(token), timeout=30).json()
    assert me["memberships"][0]["balance"] == 958.0
