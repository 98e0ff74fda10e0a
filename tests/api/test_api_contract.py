"""The JSON API against API.md: every endpoint, the error shape, the statuses and their order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_helpers import error_code
from sqlmodel import func, select

from forecast.market.money import UNIT
from forecast.models import ApiToken, LedgerEntry, Membership, Position, Trade, User, utcnow
from forecast.services import access, accounts, audit, resolution, trading

NEW_Q = {"title": "Will it rain?", "liquidity": 500}


def close_at(days: int = 7) -> str:
    return (utcnow() + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def count(db, model, *where) -> int:
    with db.session() as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def balance_units(db, user, comp) -> int:
    with db.session() as s:
        return access.membership(s, user.id, comp.id).balance


# ---------------------------------------------------------------- tokens


def test_me_needs_a_valid_token(api, world, db, tx):
    r = api.get("/me")
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    for header in ("Bearer nope", "Basic dXNlcjpwYXNz", "Bearer", "Token " + world.tokens["alice"]):
        r = api.get("/me", headers={"Authorization": header})
        assert r.status_code == 401, header
    r = api.as_(world.tokens["alice"]).get("/me")
    assert r.status_code == 200
    assert r.get_json() == {
        "username": "alice",
        "is_admin": False,
        "memberships": [
            {"competition": "public", "role": "player", "balance": 1000.0, "net_worth": 1000.0}
        ],
    }
    me = api.as_(world.tokens["carol"]).get("/me").get_json()
    assert {m["competition"]: m["role"] for m in me["memberships"]} == {
        "public": "player",
        "club": "owner",
    }
    assert api.as_(world.tokens["admin"]).get("/me").get_json()["is_admin"] is True


def test_revoked_tokens_and_disabled_accounts_get_401(api, world, db, tx):
    alice = api.as_(world.tokens["alice"])
    assert alice.get("/me").status_code == 200
    with db.session() as s:
        tid = s.exec(select(ApiToken.id).where(ApiToken.user_id == world.alice.id)).one()
    tx(lambda s: accounts.revoke_token(session=s, user_id=world.alice.id, token_id=tid))
    assert alice.get("/me").status_code == 401
    assert (
        alice.post(
            f"/questions/{world.q.id}/trades", {"outcome": world.yes, "spend": 1}
        ).status_code
        == 401
    )

    def disable(s):
        s.get(User, world.bob.id).is_active = False

    tx(disable)
    assert api.as_(world.tokens["bob"]).get("/me").status_code == 401


def test_tokens_are_stored_hashed_and_last_use_is_written_at_most_once_a_minute(api, world, db, tx):
    plain = world.tokens["alice"]
    with db.session() as s:
        row = s.exec(select(ApiToken).where(ApiToken.user_id == world.alice.id)).one()
        assert row.token_hash == accounts.hash_token(plain) and plain not in row.token_hash
        assert row.last_used_at is None
    alice = api.as_(plain)
    alice.get("/me")
    with db.session() as s:
        first = s.get(ApiToken, row.id).last_used_at
    assert first is not None
    alice.get("/me")
    with db.session() as s:
        assert s.get(ApiToken, row.id).last_used_at == first  # no write within the minute

    def age(s):
        s.get(ApiToken, row.id).last_used_at = first - timedelta(minutes=2)

    tx(age)
    alice.get("/me")
    with db.session() as s:
        assert s.get(ApiToken, row.id).last_used_at > first - timedelta(seconds=1)


def test_a_trade_reads_its_token_in_its_own_transaction_and_records_its_use(api, world, db, tx):
    """On PostgreSQL the trade route reads the token inside the trade's transaction
    (api._IN_TRANSACTION): the same answers as every other route, and the token's use is
    recorded whether the market takes the trade or not."""
    path = f"/questions/{world.q.id}/trades"
    good = {"outcome": world.yes, "spend": 1}
    for header in ("Bearer nope", "Basic dXNlcjpwYXNz", "Bearer", "Token " + world.tokens["alice"]):
        r = api.post(path, json=good, headers={"Authorization": header})
        assert r.status_code == 401 and error_code(r) == "unauthorized", header
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.post(path, json=good).status_code == 401
    assert count(db, Trade) == 0  # none of those traded
    with db.session() as s:
        token = s.exec(select(ApiToken).where(ApiToken.user_id == world.alice.id)).one()
        assert token.last_used_at is None
    r = api.as_(world.tokens["alice"]).post(path, json={"outcome": world.yes, "spend": 10**6})
    assert r.status_code == 409  # refused by the market: the token was used all the same
    with db.session() as s:
        assert s.get(ApiToken, token.id).last_used_at is not None

    def forget(s):
        s.get(ApiToken, token.id).last_used_at = None

    tx(forget)
    r = api.as_(world.tokens["alice"]).post(path, json=good)
    assert r.status_code == 201
    with db.session() as s:
        assert s.get(ApiToken, token.id).last_used_at is not None
    assert balance_units(db, world.alice, world.public) == 999 * UNIT


def test_a_trade_with_an_unknown_token_opens_no_write_transaction_on_sqlite(
    api, world, db, monkeypatch
):
    """On SQLite a write transaction takes the write lock first: a made-up token must not."""
    if not db.is_sqlite:
        pytest.skip("SQLite's write lock")
    opened = []
    real = type(db).transaction
    monkeypatch.setattr(
        type(db), "transaction", lambda self, fn, **kw: opened.append(1) or real(self, fn, **kw)
    )
    path = f"/questions/{world.q.id}/trades"
    r = api.as_("fc_made_up").post(path, json={"outcome": world.yes, "spend": 1})
    assert r.status_code == 401 and opened == []


# ---------------------------------------------------------------- the error shape and order


def test_checks_run_in_the_documented_order(api, world, client):
    q, yes = world.q.id, world.yes
    anon = api
    alice = api.as_(world.tokens["alice"])
    bob_in_club = api.as_(world.tokens["bob"])  # not a member of the private club
    good = {"outcome": yes, "spend": 10}
    path = f"/questions/{q}/trades"

    # 400/413 before 401
    assert anon.post(path, data="not json", content_type="application/json").status_code == 400
    assert anon.post(path, json=[good]).status_code == 400
    r = anon.post(path, data=b"{" + b" " * (1024 * 1024 + 10) + b"}")
    assert r.status_code == 413 and error_code(r) == "body_too_large"
    # 401 before 404
    assert anon.post("/questions/999999/trades", json=good).status_code == 401
    assert api.as_("fc_wrong").post("/questions/999999/trades", json=good).status_code == 401
    # 404/403 before 422
    assert alice.post("/questions/999999/trades", json={"outcome": "x"}).status_code == 404
    r = bob_in_club.post(f"/questions/{world.cq.id}/trades", json={"outcome": "x"})
    assert r.status_code == 404  # a private competition does not show itself to strangers
    r = alice.post(f"/questions/{q}/trades", json={"outcome": world.cyes, "spend": "x"})
    assert r.status_code == 404  # an outcome of another question
    r = alice.post(f"/questions/{q}/resolution", json={"outcome": "x"})
    assert r.status_code == 403 and error_code(r) == "forbidden"
    # 422 before 409
    r = alice.post(path, json={"outcome": yes, "spend": 1001})
    assert r.status_code == 409 and error_code(r) == "insufficient_balance"
    r = alice.post(path, json={"outcome": yes, "spend": -5})
    assert r.status_code == 422 and error_code(r) == "invalid"
    admin = api.as_(world.tokens["admin"])
    assert admin.post(f"/questions/{q}/resolution", json={"outcome": yes}).status_code == 200
    r = alice.post(path, json={"outcome": yes, "spend": "ten"})
    assert r.status_code == 422
    r = alice.post(path, json=good)
    assert r.status_code == 409 and error_code(r) == "question_not_open"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"spend": 10},
        {"outcome": "1", "spend": 10},
        {"outcome": 1.0, "spend": 10},
        {"outcome": True, "spend": 10},
        {"outcome": None, "spend": 10},
        {"outcome": -1, "spend": 10},
        {"outcome": 0, "spend": 10},
        {"outcome": 10**30, "spend": 10},
        {"outcome": int("9" * 60), "spend": 10},
        {"outcome": "OUTCOME", "spend": "10"},
        {"outcome": "OUTCOME", "spend": True},
        {"outcome": "OUTCOME", "spend": [10]},
        {"outcome": "OUTCOME", "spend": {"points": 10}},
        {"outcome": "OUTCOME", "spend": 0},
        {"outcome": "OUTCOME", "spend": -1},
        {"outcome": "OUTCOME", "spend": 0.00001},
        {"outcome": "OUTCOME", "spend": 10**40},
        {"outcome": "OUTCOME", "spend": 1e300},
        {"outcome": "OUTCOME", "spend": 10, "sell": 10},
        {"outcome": "OUTCOME", "spend": 10, "to_probability": 0.5},
        {"outcome": "OUTCOME"},
        {"outcome": "OUTCOME", "to_probability": 0},
        {"outcome": "OUTCOME", "to_probability": 1},
        {"outcome": "OUTCOME", "to_probability": 1.5},
        {"outcome": "OUTCOME", "to_probability": "0.5"},
        {"outcome": "OUTCOME", "spend": 10, "max_spend": 5},
        {"outcome": "OUTCOME", "to_probability": 0.6, "max_spend": -1},
        {"outcome": "OUTCOME", "sell": "all"},
    ],
)
def test_wrong_types_and_ranges_are_422(api, world, db, body):
    body = {k: (world.yes if v == "OUTCOME" else v) for k, v in body.items()}
    r = api.as_(world.tokens["alice"]).post(f"/questions/{world.q.id}/trades", json=body)
    assert r.status_code == 422, (body, r.get_json())
    assert error_code(r) == "invalid"
    assert count(db, Trade) == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"nope",
        b"[]",
        b"42",
        b'"text"',
        b"null",
        b'{"outcome": 1,',
        b'{"outcome": NaN, "spend": 1}',
        b'{"outcome": 1, "spend": Infinity}',
        b"\xff\xfe{}",
        b'{"title": "\\ud800"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_bodies_that_are_not_json_objects_are_400(api, world, raw):
    r = api.as_(world.tokens["alice"]).post(
        f"/questions/{world.q.id}/trades", data=raw, content_type="application/json"
    )
    assert r.status_code == 400, r.get_json()
    assert error_code(r) == "bad_request"


def test_huge_numbers_in_json_are_422_not_500(api, world):
    alice = api.as_(world.tokens["alice"])
    raw = f'{{"outcome": {world.yes}, "spend": 1{"0" * 5000}}}'
    r = alice.post(f"/questions/{world.q.id}/trades", data=raw, content_type="application/json")
    assert r.status_code == 422
    raw = '{"outcome": 1%s, "spend": 1}' % ("0" * 5000)
    r = alice.post(f"/questions/{world.q.id}/trades", data=raw, content_type="application/json")
    assert r.status_code == 422
    raw = f'{{"outcome": {world.yes}, "spend": 1e999}}'
    r = alice.post(f"/questions/{world.q.id}/trades", data=raw, content_type="application/json")
    assert r.status_code == 422


def test_unknown_routes_wrong_methods_and_ids_answer_json(api, world):
    alice = api.as_(world.tokens["alice"])
    for path in ("/nope", "/questions/abc", "/questions/-1", "/questions/99999999999999999999999"):
        r = alice.get(path)
        assert r.status_code == 404 and error_code(r) == "not_found", path
    r = alice.delete("/me")
    assert r.status_code == 405 and error_code(r) == "method_not_allowed"
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    r = alice.get(f"/questions/{world.q.id}/trades")
    assert r.status_code == 405
    assert api.client.get("/api/nothing").get_json()["error"]["code"] == "not_found"
    r = alice.get("/competitions/%00/questions")
    assert r.status_code == 404


def test_security_headers_and_no_caching_on_api_answers(api, world):
    for r in (
        api.get(f"/questions/{world.q.id}"),
        api.get("/me"),
        api.get("/nope"),
        api.as_(world.tokens["alice"]).post(f"/questions/{world.q.id}/trades", data="x"),
        api.get("/openapi.json"),
    ):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["Referrer-Policy"] == "same-origin"
        assert r.mimetype == "application/json"
    assert api.get(f"/questions/{world.q.id}").headers["Cache-Control"] == "no-store"


def test_the_api_ignores_the_session_cookie(api, client, world):
    with client.session_transaction() as sess:
        sess["_user_id"] = str(world.alice.id)
        sess["_fresh"] = True
    r = api.post(f"/questions/{world.q.id}/trades", json={"outcome": world.yes, "spend": 10})
    assert r.status_code == 401  # so no cross-site request can trade with a browser's cookie


# ---------------------------------------------------------------- trading


def test_a_trade_answers_exactly_what_was_booked(api, world, db):
    alice = api.as_(world.tokens["alice"])
    r = alice.post(f"/questions/{world.q.id}/trades", json={"outcome": world.yes, "spend": 12.3456})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert set(body) == {"trade", "balance"}
    assert set(body["trade"]) == {"id", "outcome", "shares", "cost", "probability_after"}
    with db.session() as s:
        t = s.get(Trade, body["trade"]["id"])
        member = access.membership(s, world.alice.id, world.public.id)
        probs = trading.held_shares(s, member, world.q.id)
    assert body["trade"]["outcome"] == world.yes
    assert body["trade"]["cost"] == 12.3456 and t.cost == 123456
    assert round(body["trade"]["shares"] * UNIT) == t.shares == probs[world.yes]
    assert round(body["balance"] * UNIT) == member.balance == 1000 * UNIT - 123456
    assert body["trade"]["probability_after"] == t.probabilities[str(world.yes)] > 0.5

    # sell half back: negative shares and cost
    half = t.shares // 2 / UNIT
    r = alice.post(f"/questions/{world.q.id}/trades", json={"outcome": world.yes, "sell": half})
    assert r.status_code == 201
    sold = r.get_json()["trade"]
    assert sold["shares"] == -half and sold["cost"] < 0
    r = alice.post(f"/questions/{world.q.id}/trades", json={"outcome": world.yes, "sell": 10**6})
    assert r.status_code == 409 and error_code(r) == "not_enough_shares"


def test_to_probability_moves_the_market_there_and_max_spend_caps_it(api, world):
    alice = api.as_(world.tokens["alice"])
    path = f"/questions/{world.q.id}/trades"
    r = alice.post(path, json={"outcome": world.yes, "to_probability": 0.7})
    assert r.status_code == 201
    assert abs(r.get_json()["trade"]["probability_after"] - 0.7) < 1e-3
    r = alice.post(path, json={"outcome": world.yes, "to_probability": 0.9, "max_spend": 5})
    assert r.status_code == 201
    assert r.get_json()["trade"]["cost"] == 5.0
    assert r.get_json()["trade"]["probability_after"] < 0.9
    # selling back down to 0.6 with shares held
    r = alice.post(path, json={"outcome": world.yes, "to_probability": 0.6})
    assert r.status_code == 201 and r.get_json()["trade"]["shares"] < 0
    # bob holds nothing: pushing YES down by selling is refused
    r = api.as_(world.tokens["bob"]).post(path, json={"outcome": world.yes, "to_probability": 0.2})
    assert r.status_code == 409 and error_code(r) == "not_enough_shares"
    r = alice.post(path, json={"outcome": world.yes, "to_probability": 0.9999})
    assert r.status_code == 409 and error_code(r) == "probability_limit"
    q = api.get(f"/questions/{world.q.id}").get_json()
    assert abs(sum(o["probability"] for o in q["outcomes"]) - 1) < 1e-9


def test_idempotency_key_replays_the_first_answer(api, world, db):
    alice = api.as_(world.tokens["alice"])
    path = f"/questions/{world.q.id}/trades"
    body = {"outcome": world.yes, "spend": 25}
    first = alice.post(path, json=body, headers={"Idempotency-Key": "k-1"})
    again = alice.post(path, json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert count(db, Trade) == 1
    # another trade in between does not change the replayed answer
    alice.post(path, json={"outcome": world.no, "spend": 5})
    assert (
        alice.post(path, json=body, headers={"Idempotency-Key": "k-1"}).get_json()
        == first.get_json()
    )
    r = alice.post(
        path, json={"outcome": world.yes, "spend": 26}, headers={"Idempotency-Key": "k-1"}
    )
    assert r.status_code == 409 and error_code(r) == "idempotency_key_reused"
    # keys belong to an account: bob's "k-1" is his own trade
    r = api.as_(world.tokens["bob"]).post(path, json=body, headers={"Idempotency-Key": "k-1"})
    assert r.status_code == 201 and r.get_json()["trade"]["id"] != first.get_json()["trade"]["id"]
    assert count(db, Trade) == 3
    r = alice.post(path, json=body, headers={"Idempotency-Key": "x" * 201})
    assert r.status_code == 422
    with db.session() as s:
        assert audit.audit(session=s) == []


def test_quote_changes_nothing_and_matches_the_trade(api, world, db):
    alice = api.as_(world.tokens["alice"])
    body = {"outcome": world.no, "spend": 40}
    r = alice.post(f"/questions/{world.q.id}/quote", json=body)
    assert r.status_code == 200
    qt = r.get_json()
    assert qt["cost"] == 40.0 and qt["probability_before"] == 0.5
    assert count(db, Trade) == 0 and balance_units(db, world.alice, world.public) == 1000 * UNIT
    t = alice.post(f"/questions/{world.q.id}/trades", json=body).get_json()["trade"]
    assert (t["shares"], t["cost"], t["probability_after"]) == (
        qt["shares"],
        qt["cost"],
        qt["probability_after"],
    )
    r = api.as_(world.tokens["bob"]).post(f"/questions/{world.cq.id}/quote", json=body)
    assert r.status_code == 404


def test_positions_and_history(api, world):
    alice = api.as_(world.tokens["alice"])
    assert api.get(f"/questions/{world.q.id}/positions").status_code == 401
    r = alice.get(f"/questions/{world.q.id}/positions")
    assert r.status_code == 200
    assert [p["shares"] for p in r.get_json()] == [0.0, 0.0]
    t = alice.post(f"/questions/{world.q.id}/trades", json={"outcome": world.no, "spend": 30})
    shares = t.get_json()["trade"]["shares"]
    rows = {p["outcome"]: p for p in alice.get(f"/questions/{world.q.id}/positions").get_json()}
    assert rows[world.no]["shares"] == shares and rows[world.no]["spent"] == 30.0
    assert rows[world.no]["label"] == "NO"
    hist = api.get(f"/questions/{world.q.id}/history").get_json()
    assert len(hist) == 2
    assert hist[0]["probabilities"] == {str(world.yes): 0.5, str(world.no): 0.5}
    assert hist[1]["probabilities"][str(world.no)] == t.get_json()["trade"]["probability_after"]
    assert hist[0]["at"].endswith("Z") and hist[0]["at"] <= hist[1]["at"]
    r = api.as_(world.tokens["bob"]).get(f"/questions/{world.cq.id}/positions")
    assert r.status_code == 404
    r = api.as_(world.tokens["bob"]).get(f"/questions/{world.cq.id}/history")
    assert r.status_code == 404


# ---------------------------------------------------------------- competitions


def test_create_and_join_competitions(api, world, db):
    alice = api.as_(world.tokens["alice"])
    body = {"name": "Class 7b", "slug": "class-7b", "starting_balance": 250.5}
    assert api.post("/competitions", json=body).status_code == 401
    r = alice.post("/competitions", json=body)
    assert r.status_code == 201
    comp = r.get_json()
    assert comp["slug"] == "class-7b" and comp["starting_balance"] == 250.5
    assert comp["name"] == "Class 7b" and len(comp["join_code"]) == 8
    r = alice.post("/competitions", json=body)
    assert r.status_code == 409 and error_code(r) == "slug_taken"
    for bad in (
        {**body, "slug": "Bad Slug"},
        {**body, "slug": 7},
        {**body, "name": ""},
        {**body, "name": None},
        {**body, "starting_balance": "250"},
        {**body, "starting_balance": -1},
        {**body, "starting_balance": 10**10},
        {**body, "is_listed": "yes"},
        {"name": "x", "slug": "x"},
    ):
        r = alice.post("/competitions", json=bad)
        assert r.status_code == 422, bad

    bob = api.as_(world.tokens["bob"])
    assert bob.post("/competitions/nope/join", json={"code": "X"}).status_code == 404
    assert bob.post("/competitions/class-7b/join", json={}).status_code == 422
    assert bob.post("/competitions/class-7b/join", json={"code": 5}).status_code == 422
    r = bob.post("/competitions/class-7b/join", json={"code": "WRONG"})
    assert r.status_code == 409 and error_code(r) == "wrong_code"
    r = bob.post("/competitions/class-7b/join", json={"code": "ÉCOLE-7b ✓"})  # was a 500
    assert r.status_code == 409 and error_code(r) == "wrong_code"
    r = bob.post("/competitions/class-7b/join", json={"code": comp["join_code"].lower()})
    assert r.status_code == 200
    assert r.get_json() == {
        "competition": "class-7b",
        "role": "player",
        "balance": 250.5,
        "net_worth": 250.5,
    }
    again = bob.post("/competitions/class-7b/join", json={"code": "anything"})
    assert again.status_code == 200 and again.get_json() == r.get_json()
    with db.session() as s:
        assert audit.audit(session=s) == []


def test_question_lists_follow_competition_visibility(api, world):
    r = api.get("/competitions/public/questions")
    assert r.status_code == 200 and [q["id"] for q in r.get_json()] == [world.q.id]
    assert api.get("/competitions/nope/questions").status_code == 404
    assert api.get("/competitions/club/questions").status_code == 404
    assert api.as_(world.tokens["bob"]).get("/competitions/club/questions").status_code == 404
    r = api.as_(world.tokens["erin"]).get("/competitions/club/questions")
    assert r.status_code == 200 and r.get_json()[0]["title"] == "Club question?"
    assert api.as_(world.tokens["admin"]).get("/competitions/club/questions").status_code == 200
    assert api.get(f"/questions/{world.cq.id}").status_code == 404
    assert api.as_(world.tokens["erin"]).get(f"/questions/{world.cq.id}").status_code == 200


def test_a_question_has_the_documented_shape(api, world):
    q = api.get(f"/questions/{world.q.id}").get_json()
    assert {
        "id",
        "competition",
        "title",
        "description",
        "resolution_criteria",
        "kind",
        "status",
        "close_at",
        "liquidity",
        "outcomes",
        "resolution",
    } <= set(q)
    assert q["competition"] == "public" and q["status"] == "open" and q["resolution"] is None
    assert q["liquidity"] == 1000.0 and q["kind"] == "binary"
    assert [(o["label"], o["probability"]) for o in q["outcomes"]] == [("YES", 0.5), ("NO", 0.5)]


def test_moderators_create_questions(api, world, db):
    path = "/competitions/club/questions"
    body = {
        "title": "Who wins?",
        "description": "The final.",
        "resolution_criteria": "The official result.",
        "kind": "multiple_choice",
        "outcomes": ["Reds", "Blues", "Greens"],
        "close_at": close_at(),
        "liquidity": 200,
        "initial_probabilities": [0.5, 0.3, 0.2],
    }
    assert api.post(path, json=body).status_code == 401
    assert api.as_(world.tokens["erin"]).post(path, json=body).status_code == 403
    assert api.as_(world.tokens["bob"]).post(path, json=body).status_code == 404
    assert api.as_(world.tokens["erin"]).post(path, json={"title": 5}).status_code == 403
    r = api.as_(world.tokens["dave"]).post(path, json=body)
    assert r.status_code == 201, r.get_json()
    q = r.get_json()
    assert q["kind"] == "multiple_choice" and q["competition"] == "club"
    assert [round(o["probability"], 6) for o in q["outcomes"]] == [0.5, 0.3, 0.2]
    assert api.as_(world.tokens["admin"]).post(path, json=body).status_code == 201
    # close_at: any time in the future, however near
    soon = (utcnow() + timedelta(seconds=30)).isoformat()
    r = api.as_(world.tokens["dave"]).post(path, json={"title": "Soon?", "close_at": soon})
    assert r.status_code == 201 and r.get_json()["kind"] == "binary"
    dave = api.as_(world.tokens["dave"])
    for bad in (
        {**body, "title": ""},
        {**body, "title": 5},
        {**body, "title": "x" * 301},
        {**body, "title": "nul \u0000 byte"},
        {**body, "kind": "range"},
        {**body, "kind": ["binary"]},
        {**body, "outcomes": ["One"]},
        {**body, "outcomes": "Reds, Blues"},
        {**body, "outcomes": ["A", "a"]},
        {**body, "outcomes": [1, 2]},
        {**body, "close_at": "yesterday"},
        {**body, "close_at": "2001-01-01T00:00:00Z"},
        {**body, "close_at": 1_900_000_000},
        {**body, "close_at": "99999-01-01T00:00:00Z"},
        {**body, "liquidity": 0},
        {**body, "liquidity": 10**11},
        {**body, "liquidity": "100"},
        {**body, "initial_probabilities": [0.5, 0.5]},
        {**body, "initial_probabilities": [0.9, 0.9, 0.9]},
        {**body, "initial_probabilities": ["a", "b", "c"]},
        {**body, "initial_probabilities": 0.5},
        {**body, "description": ["x"]},
        {k: v for k, v in body.items() if k != "close_at"},
        {k: v for k, v in body.items() if k != "title"},
    ):
        r = dave.post(path, json=bad)
        assert r.status_code == 422, (bad, r.get_json())
    assert (
        api.as_(world.tokens["dave"]).post("/competitions/nope/questions", json=body).status_code
        == 404
    )


def test_resolve_cancel_and_undo(api, world, db):
    q, yes, no = world.q.id, world.yes, world.no
    alice, bob = api.as_(world.tokens["alice"]), api.as_(world.tokens["bob"])
    admin = api.as_(world.tokens["admin"])
    a = alice.post(f"/questions/{q}/trades", json={"outcome": yes, "spend": 100}).get_json()
    b = bob.post(f"/questions/{q}/trades", json={"outcome": no, "spend": 60}).get_json()
    path = f"/questions/{q}/resolution"
    assert api.post(path, json={"outcome": yes}).status_code == 401
    assert alice.post(path, json={"outcome": yes}).status_code == 403
    assert admin.post("/questions/999999/resolution", json={"outcome": yes}).status_code == 404
    assert admin.post(path, json={"outcome": world.cyes}).status_code == 404
    for bad in (
        {},
        {"outcome": "YES"},
        {"outcome": yes, "cancel": True},
        {"cancel": "yes"},
        {"cancel": False},
        {"outcome": yes, "note": 5},
        {"outcome": yes, "source_url": "ftp://x"},
        {"cancel": True, "note": ["x"]},
    ):
        r = admin.post(path, json=bad)
        assert r.status_code == 422, bad
    r = admin.post(
        path, json={"outcome": yes, "note": "It rained.", "source_url": "https://x.test/"}
    )
    assert r.status_code == 200
    res = r.get_json()
    assert res["status"] == "resolved"
    assert res["resolution"]["outcome"] == yes and res["resolution"]["note"] == "It rained."
    assert res["resolution"]["at"].endswith("Z")
    me = alice.get("/me").get_json()["memberships"][0]
    assert me["balance"] == round(1000 - 100 + a["trade"]["shares"], 4)
    r = admin.post(path, json={"outcome": no})
    assert r.status_code == 409 and error_code(r) == "already_resolved"
    r = admin.post(path, json={"cancel": True})
    assert r.status_code == 409

    assert alice.delete(path).status_code == 403
    r = admin.delete(path, json={"note": "Wrong source."})
    assert r.status_code == 200 and r.get_json()["status"] == "closed"
    assert r.get_json()["resolution"] is None
    assert alice.get("/me").get_json()["memberships"][0]["balance"] == 900.0
    r = admin.delete(path)
    assert r.status_code == 409 and error_code(r) == "not_resolved"
    assert admin.delete(path, data="nope", content_type="application/json").status_code == 400

    r = admin.post(path, json={"cancel": True, "note": "Ambiguous."})
    assert r.status_code == 200
    res = r.get_json()
    assert res["status"] == "cancelled" and res["resolution"]["cancel"] is True
    assert alice.get("/me").get_json()["memberships"][0]["balance"] == 1000.0
    assert bob.get("/me").get_json()["memberships"][0]["balance"] == 1000.0
    assert b["balance"] == 940.0
    # a club moderator resolves in the club only
    dave = api.as_(world.tokens["dave"])
    assert dave.post(path, json={"outcome": yes}).status_code == 403
    r = dave.post(f"/questions/{world.cq.id}/resolution", json={"outcome": world.cno})
    assert r.status_code == 200
    with db.session() as s:
        assert audit.audit(session=s) == []
        assert s.exec(select(func.count()).select_from(LedgerEntry)).one() > 0


def test_leaderboard(api, world):
    alice = api.as_(world.tokens["alice"])
    alice.post(f"/questions/{world.q.id}/trades", json={"outcome": world.yes, "spend": 100})
    rows = api.get("/competitions/public/leaderboard").get_json()
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    top = rows[0]
    assert set(top) >= {"rank", "username", "net_worth", "balance", "profit", "brier"}
    alice_row = next(r for r in rows if r["username"] == "alice")
    assert alice_row["balance"] == 900.0 and alice_row["brier"] is None
    assert api.get("/competitions/public/leaderboard?by=brier").status_code == 200
    assert api.get("/competitions/public/leaderboard?by=luck").status_code == 422
    assert api.get("/competitions/club/leaderboard").status_code == 404
    assert api.as_(world.tokens["erin"]).get("/competitions/club/leaderboard").status_code == 200


def test_a_closed_question_refuses_trades_but_replays_keys(api, world, db, tx):
    alice = api.as_(world.tokens["alice"])
    path = f"/questions/{world.q.id}/trades"
    body = {"outcome": world.yes, "spend": 10}
    first = alice.post(path, json=body, headers={"Idempotency-Key": "once"})
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=world.admin.id, question_id=world.q.id, outcome_id=world.no
        )
    )
    r = alice.post(path, json=body, headers={"Idempotency-Key": "once"})
    assert r.status_code == 201 and r.get_json() == first.get_json()
    r = alice.post(path, json=body, headers={"Idempotency-Key": "twice"})
    assert r.status_code == 409 and error_code(r) == "question_not_open"
    with db.session() as s:
        assert s.exec(select(func.count()).select_from(Position)).one() == 1
        assert s.exec(select(Membership).where(Membership.user_id == world.alice.id)).one()


def test_a_budget_far_past_the_limit_is_a_409_not_an_overflow(api, world, make_question):
    """A spend of millions on a shallow market used to overflow exp(spend / b): a 500."""
    q = make_question(liquidity=5, title="Shallow?")
    with_outcome = api.get(f"/questions/{q.id}").get_json()["outcomes"][0]["id"]
    alice = api.as_(world.tokens["alice"])
    for spend in (32, 41, 10**6, 10**9, 10**12):  # 32 breaks it by arithmetic, the rest at once
        for path in (f"/questions/{q.id}/quote", f"/questions/{q.id}/trades"):
            r = alice.post(path, json={"outcome": with_outcome, "spend": spend})
            assert r.status_code == 409 and error_code(r) == "probability_limit", (spend, path)
    r = alice.post(f"/questions/{q.id}/quote", json={"outcome": with_outcome, "spend": 30})
    assert r.status_code == 200 and r.get_json()["probability_after"] < 0.999
