"""NUL characters and unpaired surrogates stop at the edge, for forms (422), the API
(422 for a field, 400 for a header or a body that is not UTF-8 text) and headers
alike, on SQLite and on PostgreSQL; a query parameter holding one is dropped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from security_helpers import csrf
from sqlmodel import func, select

from forecast.models import Question, Trade, utcnow
from forecast.services import accounts, competitions
from forecast.services.questions import outcomes_of


@pytest.fixture
def owner(make_user, tx):
    user = make_user("owner")
    tx(
        lambda s: competitions.create_competition(
            session=s, user_id=user.id, name="Club", slug="club", starting_balance=100
        )
    )
    return user, tx(lambda s: accounts.create_token(session=s, user_id=user.id))[1]


def _count(db, model) -> int:
    with db.session() as s:
        return s.exec(select(func.count()).select_from(model)).one()


@pytest.mark.parametrize("bad, status", [("\x00", 422), ("\ud800", 400)])
def test_api_outcome_label_with_unstorable_text_is_refused(client, db, owner, bad, status):
    _, token = owner
    body = {
        "title": "Which?",
        "kind": "multiple_choice",
        "outcomes": ["ok", f"bad{bad}label"],
        "close_at": (utcnow() + timedelta(days=3)).isoformat(),
    }
    r = client.post("/api/v1/competitions/club/questions", json=body)
    assert r.status_code == (401 if status == 422 else 400)  # a NUL is a 422 after the 401
    r = client.post(
        "/api/v1/competitions/club/questions",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == status, r.get_data(as_text=True)
    if status == 422:
        assert r.get_json()["error"]["field"] == "outcomes"
    assert _count(db, Question) == 0


def test_web_trade_form_idempotency_key_with_nul_is_400(
    client, db, make_user, make_question, signed_in
):
    user = make_user("trader")
    q = make_question()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    web, token = signed_in(user, f"/questions/{q.id}")
    r = web.post(
        f"/questions/{q.id}/trade",
        data={
            "csrf_token": token,
            "idempotency_key": "key\x00one",
            "mode": "buy",
            "outcome": str(yes),
            "spend": "5",
        },
    )
    assert r.status_code == 422 and "idempotency_key: text may not hold NUL" in r.get_data(
        as_text=True
    )
    assert _count(db, Trade) == 0


def test_api_idempotency_header_with_nul_is_400(client, db, make_user, make_question, tx):
    user = make_user("bot")
    token = tx(lambda s: accounts.create_token(session=s, user_id=user.id))[1]
    q = make_question()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    r = client.post(
        f"/api/v1/questions/{q.id}/trades",
        json={"outcome": yes, "spend": 5},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "a\x00b"},
    )
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "Idempotency-Key"
    assert _count(db, Trade) == 0


@pytest.mark.parametrize("path", ["/login?next=/%00", "/c/club/leaderboard?sort=%00&page=%00"])
def test_a_query_parameter_with_nul_is_dropped(client, owner, path):
    assert client.get(path).status_code == 200


def test_nul_in_a_path_names_nothing(client, owner):
    assert client.get("/c/club%00/leaderboard").status_code == 404
    assert client.get("/api/v1/competitions/club%00/questions").status_code == 404


def test_register_form_with_nul_is_400_and_creates_nothing(client, db):
    token = csrf(client, "/register")
    r = client.post(
        "/register",
        data={
            "csrf_token": token,
            "username": "nul\x00name",
            "password": "a long enough pass",
            "confirm": "a long enough pass",
        },
    )
    assert r.status_code == 422 and "username: text may not hold NUL" in r.get_data(as_text=True)
    with db.session() as s:
        assert s.exec(select(func.count()).select_from(accounts.User)).one() == 0
