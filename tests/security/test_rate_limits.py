"""Rate limits that mean what they say: one reading of the bearer header for the API
and the limiter, per-address limits on logging in and registering, and a Retry-After
that is the real wait."""

from __future__ import annotations

import pytest
from security_helpers import csrf

from forecast.services import accounts
from forecast.services.questions import outcomes_of


def _retry_after(r) -> int:
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= 60, wait
    return wait


def test_one_password_against_many_usernames_is_limited_per_address(limited_app, make_user):
    app = limited_app(login_address="5 per minute")
    client = app.test_client()
    token = csrf(client)
    statuses = [
        client.post(
            "/login", data={"csrf_token": token, "username": f"user{k}", "password": "guess-one"}
        ).status_code
        for k in range(7)
    ]
    assert statuses == [422] * 5 + [429, 429]
    r = client.post("/login", data={"csrf_token": token, "username": "x", "password": "y"})
    assert r.status_code == 429
    _retry_after(r)
    # another address has its own budget
    other = client.post(
        "/login",
        data={"csrf_token": token, "username": "user1", "password": "guess-one"},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert other.status_code == 422


def test_the_login_429_says_how_long_to_wait(limited_app, make_user):
    make_user("alice")
    app = limited_app(login="2 per minute")
    client = app.test_client()
    token = csrf(client)
    for _ in range(2):
        client.post("/login", data={"csrf_token": token, "username": "alice", "password": "no"})
    r = client.post("/login", data={"csrf_token": token, "username": "alice", "password": "no"})
    assert r.status_code == 429
    assert _retry_after(r) >= 50  # the minute has barely begun


def test_registration_is_limited_per_address(limited_app):
    app = limited_app(register="3 per minute")
    client = app.test_client()
    statuses = []
    for k in range(5):
        token = csrf(client, "/register")
        r = client.post(
            "/register",
            data={
                "csrf_token": token,
                "username": f"newcomer{k}",
                "password": "quiet-harbour-lantern",
                "confirm": "quiet-harbour-lantern",
            },
        )
        statuses.append(r.status_code)
        client = app.test_client()  # signed out: a new visitor from the same address
    assert statuses == [303, 303, 303, 429, 429]


@pytest.fixture
def bot(tx, make_user, make_question, db):
    user = make_user("bot")
    token = tx(lambda s: accounts.create_token(session=s, user_id=user.id))[1]
    q = make_question()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    return token, q.id, yes


def test_a_limited_token_stays_limited_however_the_header_is_written(limited_app, bot):
    token, qid, yes = bot
    client = limited_app(trade="2 per minute").test_client()

    def trade(header: str):
        return client.post(
            f"/api/v1/questions/{qid}/trades",
            json={"outcome": yes, "spend": 1},
            headers={"Authorization": header},
        )

    assert [trade(f"Bearer {token}").status_code for _ in range(3)] == [201, 201, 429]
    assert trade(f"bearer {token}").status_code == 429  # the same token, the same budget
    assert trade(f"BEARER {token}").status_code == 429
    r = trade(f"Bearer {token}")
    assert r.get_json()["error"]["code"] == "rate_limited"
    _retry_after(r)
    for header in (
        f"Bearer  {token}",
        f"Bearer {token} ",
        f"Bearer {token} {token}",
        f"Token {token}",
        "Bearer",
        "Bearer ",
    ):
        r = trade(header)
        assert r.status_code == 401, header
        assert r.get_json()["error"]["code"] == "unauthorized"
