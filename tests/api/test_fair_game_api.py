"""A fair game through the API: liquidity from the starting balance, end dates, and the
exact amounts in refusals."""

from __future__ import annotations

from datetime import timedelta

from api_helpers import error_code

from forecast.market.liquidity import default_liquidity
from forecast.market.money import UNIT, to_float
from forecast.models import utcnow
from forecast.services import audit


def _close_at() -> str:
    return (utcnow() + timedelta(days=7)).isoformat()


def test_a_question_without_liquidity_takes_the_competitions_default(api, world):
    dave = api.as_(world.tokens["dave"])  # a moderator of the club (starting balance 500)
    r = dave.post("/competitions/club/questions", json={"title": "Deep?", "close_at": _close_at()})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["liquidity"] == to_float(default_liquidity(500 * UNIT))
    r = dave.post(
        "/competitions/club/questions",
        json={"title": "Chosen?", "close_at": _close_at(), "liquidity": 42},
    )
    assert r.get_json()["liquidity"] == 42.0


def test_an_end_date_in_the_past_is_a_422_and_one_in_the_future_is_kept(api, world):
    alice = api.as_(world.tokens["alice"])
    body = {"name": "Week", "slug": "week", "starting_balance": 100}
    past = (utcnow() - timedelta(hours=1)).isoformat()
    for bad in (past, "tomorrow", 5):
        r = alice.post("/competitions", json={**body, "end_at": bad})
        assert r.status_code == 422 and error_code(r) == "invalid", r.get_json()
        assert r.get_json()["error"].get("field") in (None, "end_at")
    end = (utcnow() + timedelta(days=7)).replace(microsecond=0)
    r = alice.post("/competitions", json={**body, "end_at": end.isoformat()})
    assert r.status_code == 201
    assert r.get_json()["end_at"] == end.isoformat().replace("+00:00", "Z")
    r = alice.post("/competitions", json={**body, "slug": "open-ended"})
    assert r.status_code == 201 and r.get_json()["end_at"] is None


def test_a_closed_competition_refuses_questions_with_409(api, world, client, tx):
    from forecast.services import competitions

    tx(lambda s: competitions.close_competition(session=s, user_id=world.carol.id, slug="club"))
    r = api.as_(world.tokens["dave"]).post(
        "/competitions/club/questions", json={"title": "Late?", "close_at": _close_at()}
    )
    assert r.status_code == 409 and error_code(r) == "competition_closed"
    # a bad field is still a 422 first (the contract's order)
    r = api.as_(world.tokens["dave"]).post("/competitions/club/questions", json={"title": ""})
    assert r.status_code == 422
    # and trading in the club's question is over
    r = api.as_(world.tokens["erin"]).post(
        f"/questions/{world.cq.id}/trades", json={"outcome": world.cyes, "spend": 5}
    )
    assert r.status_code == 409 and error_code(r) == "question_not_open"


def test_refusals_show_amounts_to_the_unit(api, world, db):
    alice = api.as_(world.tokens["alice"])
    r = alice.post(f"/questions/{world.q.id}/trades", json={"outcome": world.yes, "spend": 16.72})
    assert r.status_code == 201
    held = r.get_json()["trade"]["shares"]
    r = alice.post(
        f"/questions/{world.q.id}/trades",
        json={"outcome": world.yes, "sell": round(held, 2) + 0.01},
    )
    assert r.status_code == 409 and error_code(r) == "not_enough_shares"
    assert f"You hold {held:.4f}".rstrip("0") in r.get_json()["error"]["message"]
    r = alice.post(f"/questions/{world.q.id}/trades", json={"outcome": world.yes, "sell": held})
    assert r.status_code == 201  # the whole holding, exactly as the answer gave it
    r = alice.post(f"/questions/{world.q.id}/trades", json={"outcome": world.yes, "spend": 1000.5})
    assert r.status_code == 409
    assert r.get_json()["error"]["message"].endswith("this trade costs 1,000.50.")
    with db.session() as s:
        assert audit.audit(session=s) == []


def test_a_debt_after_an_undo_shows_in_me_blocks_buys_and_allows_sells(api, world, make_question):
    carol, erin = api.as_(world.tokens["carol"]), api.as_(world.tokens["erin"])
    first = make_question(competition=world.club, liquidity=300, title="First?")
    second = make_question(competition=world.club, liquidity=5000, title="Second?")
    yes1 = carol.get(f"/questions/{first.id}").get_json()["outcomes"][0]["id"]
    yes2 = carol.get(f"/questions/{second.id}").get_json()["outcomes"][0]["id"]
    assert (
        erin.post(f"/questions/{first.id}/trades", json={"outcome": yes1, "spend": 400}).status_code
        == 201
    )
    r = carol.post(f"/questions/{first.id}/resolution", json={"outcome": yes1})
    assert r.status_code == 200
    balance = erin.post(
        f"/questions/{second.id}/trades", json={"outcome": yes2, "spend": 10}
    ).get_json()["balance"]
    r = erin.post(f"/questions/{second.id}/trades", json={"outcome": yes2, "spend": balance})
    assert r.status_code == 201
    assert carol.delete(f"/questions/{first.id}/resolution").status_code == 200
    club = next(m for m in erin.get("/me").get_json()["memberships"] if m["competition"] == "club")
    assert club["balance"] < 0 and club["net_worth"] <= 500  # the debt counts
    r = erin.post(f"/questions/{second.id}/trades", json={"outcome": yes2, "spend": 1})
    assert r.status_code == 409 and error_code(r) == "insufficient_balance"
    assert r.get_json()["error"]["message"].startswith(f"You owe {-club['balance']:,.2f}")
    r = erin.post(f"/questions/{second.id}/trades", json={"outcome": yes2, "sell": 5})
    assert r.status_code == 201 and r.get_json()["balance"] > club["balance"]
