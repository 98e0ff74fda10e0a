"""Races on unique names answer 409 (or a form error) on both databases, never a 500,
and usernames are unique in any mix of cases in the database itself."""

from __future__ import annotations

import threading

import pytest
from security_helpers import csrf
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from forecast.models import Competition, Membership, User
from forecast.services import access, accounts, audit, competitions

RACERS = 8


def _race(send, n: int = RACERS) -> list:
    """Call send(k) from n threads released together; their answers in order."""
    barrier = threading.Barrier(n)
    answers: list = [None] * n

    def run(k: int) -> None:
        barrier.wait(timeout=30)
        answers[k] = send(k)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return answers


def _audited(db) -> None:
    """`forecast audit`'s check: every competition's ledger balances to the unit."""
    with db.session() as s:
        assert audit.audit(session=s) == []


def _count(db, model, *where) -> int:
    with db.session() as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


@pytest.fixture
def tokens(make_user, tx):
    def make(*names):
        users = [make_user(n) for n in names]
        return [tx(lambda s, u=u: accounts.create_token(session=s, user_id=u.id))[1] for u in users]

    return make


def test_two_owners_create_the_same_slug_at_once(app, db, tokens):
    keys = tokens(*(f"owner{k}" for k in range(RACERS)))

    def send(k):
        r = app.test_client().post(
            "/api/v1/competitions",
            json={"name": f"Club {k}", "slug": "club", "starting_balance": 100},
            headers={"Authorization": f"Bearer {keys[k]}"},
        )
        return r.status_code, r.get_json()

    answers = _race(send)
    assert sorted(s for s, _ in answers) == [201] + [409] * (RACERS - 1), answers
    assert {b["error"]["code"] for s, b in answers if s == 409} == {"slug_taken"}
    assert _count(db, Competition, Competition.slug == "club") == 1
    _audited(db)


def test_one_user_joins_the_same_competition_many_times_at_once(app, db, tx, tokens, make_user):
    owner = make_user("owner")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Club", slug="club", starting_balance=100
        )
    )
    (key,) = tokens("joiner")

    def send(_k):
        r = app.test_client().post(
            "/api/v1/competitions/club/join",
            json={"code": comp.join_code},
            headers={"Authorization": f"Bearer {key}"},
        )
        return r.status_code, r.get_json()

    answers = _race(send)
    assert {s for s, _ in answers} <= {200, 409} and 200 in {s for s, _ in answers}, answers
    assert {b["error"]["code"] for s, b in answers if s == 409} <= {"already_member"}
    assert _count(db, Membership, Membership.competition_id == comp.id) == 2
    _audited(db)


def test_a_join_that_loses_the_race_after_its_check_is_409(app, db, tx, tokens, make_user):
    """The race made certain on either database: the loser looked before the winner wrote."""
    owner = make_user("owner")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Club", slug="club", starting_balance=100
        )
    )
    (key,) = tokens("joiner")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    assert (
        client.post(
            "/api/v1/competitions/club/join", json={"code": comp.join_code}, headers=auth
        ).status_code
        == 200
    )
    looked = access.membership
    try:
        access.membership = lambda *a: None  # as if the first join had not committed yet
        r = client.post(
            "/api/v1/competitions/club/join", json={"code": comp.join_code}, headers=auth
        )
    finally:
        access.membership = looked
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "already_member"
    assert _count(db, Membership, Membership.competition_id == comp.id) == 2


@pytest.mark.parametrize("names", [["racer"] * RACERS, ["Racer", "racer", "RACER", "rAcEr"]])
def test_registrations_of_one_name_at_once(app, db, names):
    clients = [app.test_client() for _ in names]
    forms = [csrf(c, "/register") for c in clients]

    def send(k):
        r = clients[k].post(
            "/register",
            data={
                "csrf_token": forms[k],
                "username": names[k],
                "password": "correct horse battery",
                "confirm": "correct horse battery",
            },
        )
        return r.status_code, r.get_data(as_text=True)

    answers = _race(send, len(names))
    statuses = sorted(s for s, _ in answers)
    assert statuses == [303] + [422] * (len(names) - 1), statuses
    assert all("That username is taken." in html for s, html in answers if s == 422)
    assert _count(db, User, func.lower(User.username) == "racer") == 1
    _audited(db)


def test_the_database_refuses_a_name_that_differs_only_in_case(db, tx, make_user):
    make_user("Victim")
    with pytest.raises(IntegrityError):
        tx(lambda s: s.add(User(username="victim", password_hash="x")))
    assert _count(db, User) == 1
