"""Conservation soak: concurrent bots trade, sell, trade to probabilities, and a moderator
resolves, cancels and undoes, all through the API of a served site.  Afterwards the ledger
audits exactly and every wallet holds what its own recorded history implies."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import requests
from served import headers

from forecast.market.money import UNIT
from forecast.models import Trade, utcnow

SECONDS = 15
PLAYERS = 4
START = 1000


def units(x: float) -> int:
    return round(x * UNIT)


@dataclass
class Book:
    """What one account's API answers say it did."""

    trades: dict[int, dict] = field(default_factory=dict)  # trade id -> answer (+ question)
    ops: Counter = field(default_factory=Counter)

    def held(self, question_id: int, outcome_id: int) -> int:
        return sum(
            units(t["shares"])
            for t in self.trades.values()
            if t["question"] == question_id and t["outcome"] == outcome_id
        )


class Bot:
    def __init__(self, site, token: str, slug: str, seed: int) -> None:
        self.site, self.token, self.slug = site, token, slug
        self.rng = random.Random(seed)
        self.book = Book()
        self.http = requests.Session()
        self.failures: list[str] = []

    def call(self, method: str, path: str, *, json=None, key: str | None = None):
        """One request; a dropped connection is retried with the same Idempotency-Key."""
        extra = {"Idempotency-Key": key} if key else {}
        for _ in range(5):
            try:
                r = self.http.request(
                    method,
                    self.site.url(path),
                    json=json,
                    headers=headers(self.token, **extra),
                    timeout=60,
                )
            except requests.ConnectionError:
                if key is None and method != "GET":
                    raise
                time.sleep(0.2)
                continue
            self.book.ops[f"{method} {r.status_code}"] += 1
            if r.status_code >= 500:
                self.failures.append(f"{method} {path} {json} -> {r.status_code} {r.text}")
            return r
        raise AssertionError(f"no answer for {method} {path}")

    def questions(self) -> list[dict]:
        return self.call("GET", f"/competitions/{self.slug}/questions").json()

    def trade(self, question: dict, body: dict) -> None:
        r = self.call(
            "POST", f"/questions/{question['id']}/trades", json=body, key=uuid.uuid4().hex
        )
        if r.status_code == 201:
            answer = r.json()["trade"]
            self.book.trades[answer["id"]] = {**answer, "question": question["id"]}
        elif r.status_code != 409:
            self.failures.append(f"trade {body} -> {r.status_code} {r.text}")

    def step(self) -> None:
        open_qs = [q for q in self.questions() if q["status"] == "open"]
        if not open_qs:
            time.sleep(0.05)
            return
        q = self.rng.choice(open_qs)
        outcome = self.rng.choice(q["outcomes"])["id"]
        roll = self.rng.random()
        if roll < 0.4:
            body = {"outcome": outcome, "spend": round(self.rng.uniform(0.5, 40), 4)}
        elif roll < 0.65:
            held = self.book.held(q["id"], outcome)
            if held <= 0:
                body = {"outcome": outcome, "spend": round(self.rng.uniform(0.5, 10), 4)}
            else:
                part = max(1, int(held * self.rng.uniform(0.1, 1.0)))
                body = {"outcome": outcome, "sell": part / UNIT}
        elif roll < 0.9:
            body = {"outcome": outcome, "to_probability": round(self.rng.uniform(0.05, 0.95), 3)}
            if self.rng.random() < 0.4:
                body["max_spend"] = round(self.rng.uniform(1, 30), 2)
        else:
            r = self.call(
                "POST", f"/questions/{q['id']}/quote", json={"outcome": outcome, "spend": 5}
            )
            if r.status_code not in (200, 409):
                self.failures.append(f"quote -> {r.status_code} {r.text}")
            return
        self.trade(q, body)


class Moderator(Bot):
    """The competition's owner: trades too, and creates, resolves, cancels and undoes."""

    def step(self) -> None:
        roll = self.rng.random()
        qs = self.questions()
        if roll < 0.5 or not qs:
            super().step()
            return
        if roll < 0.6 or sum(q["status"] == "open" for q in qs) < 3:
            self.create()
            return
        q = self.rng.choice(qs)
        path = f"/questions/{q['id']}/resolution"
        if q["status"] in ("resolved", "cancelled"):
            r = self.call("DELETE", path, json={"note": "soak undo"})
        elif roll < 0.85:
            winner = self.rng.choice(q["outcomes"])["id"]
            r = self.call("POST", path, json={"outcome": winner, "note": "soak"})
        else:
            r = self.call("POST", path, json={"cancel": True, "note": "soak"})
        if r.status_code not in (200, 409):
            self.failures.append(f"{path} -> {r.status_code} {r.text}")
        time.sleep(0.1)

    def create(self) -> None:
        n = self.rng.choice([2, 2, 3, 5])
        body = {
            "title": f"Soak question {uuid.uuid4().hex[:8]}?",
            "close_at": (utcnow() + timedelta(days=1)).isoformat(),
            "liquidity": self.rng.choice([50, 100, 300]),
        }
        if n > 2:
            body |= {"kind": "multiple_choice", "outcomes": [f"Option {k}" for k in range(n)]}
        r = self.call("POST", f"/competitions/{self.slug}/questions", json=body)
        if r.status_code != 201:
            self.failures.append(f"create -> {r.status_code} {r.text}")


def expected_balance(book: Book, final: dict[int, dict]) -> int:
    """Start, minus every trade's cost, plus what each settled question paid back."""
    balance = START * UNIT - sum(units(t["cost"]) for t in book.trades.values())
    by_question: dict[int, list[dict]] = defaultdict(list)
    for t in book.trades.values():
        by_question[t["question"]].append(t)
    for qid, trades in by_question.items():
        q = final[qid]
        if q["status"] == "resolved":
            winner = q["resolution"]["outcome"]
            balance += sum(units(t["shares"]) for t in trades if t["outcome"] == winner)
        elif q["status"] == "cancelled":
            balance += sum(units(t["cost"]) for t in trades)
    return balance


def test_conservation_under_a_concurrent_random_mix(site):
    slug = f"soak-{uuid.uuid4().hex[:6]}"
    owner_token = site.quick_user(f"{slug}-owner")
    r = requests.post(
        site.url("/competitions"),
        json={"name": "Soak", "slug": slug, "starting_balance": START},
        headers=headers(owner_token),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    code = r.json()["join_code"]
    moderator = Moderator(site, owner_token, slug, seed=0)
    for _ in range(4):
        moderator.create()
    bots = [moderator]
    for k in range(PLAYERS):
        token = site.quick_user(f"{slug}-p{k}")
        r = requests.post(
            site.url(f"/competitions/{slug}/join"),
            json={"code": code},
            headers=headers(token),
            timeout=30,
        )
        assert r.status_code == 200, r.text
        bots.append(Bot(site, token, slug, seed=k + 1))

    stop = time.monotonic() + SECONDS
    errors: list[BaseException] = []

    def run(bot: Bot) -> None:
        try:
            while time.monotonic() < stop:
                bot.step()
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(b,)) for b in bots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SECONDS + 120)
    for b in bots:
        b.http.close()
    assert not errors, errors
    failures = [f for b in bots for f in b.failures]
    assert not failures, failures[:5]

    ops = sum((b.book.ops for b in bots), Counter())
    final = {q["id"]: q for q in moderator.questions()}
    statuses = Counter(q["status"] for q in final.values())
    trades = sum(len(b.book.trades) for b in bots)
    print(
        f"\nsoak: {sum(ops.values())} requests in {SECONDS}s by {len(bots)} clients, "
        f"{trades} trades; {dict(sorted(ops.items()))}; questions {dict(statuses)}"
    )
    assert trades > 50 and ops["POST 200"] + ops["DELETE 200"] > 5

    audit = site.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr
    for bot in bots:
        me = requests.get(site.url("/me"), headers=headers(bot.token), timeout=30).json()
        wallet = next(m for m in me["memberships"] if m["competition"] == slug)
        assert units(wallet["balance"]) == expected_balance(bot.book, final), me["username"]
    # every trade the answers reported is in the database, and no other
    with site.db.session() as s:
        booked = {
            t.id for t in s.exec(Trade.__table__.select().where(Trade.question_id.in_(list(final))))
        }
    assert booked == {tid for b in bots for tid in b.book.trades}
