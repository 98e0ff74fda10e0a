"""Fixtures for the JSON API: a small client that sends bearer tokens, and a world to trade in."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from api_helpers import Api

from forecast.services import accounts, competitions
from forecast.services.questions import outcomes_of


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def world(db, tx, make_user, make_question, public):
    """admin (site admin), alice and bob (players in public), a private club owned by carol
    with dave as a moderator and erin as a player; an open question in each."""
    admin = make_user("admin")
    alice, bob = make_user("alice"), make_user("bob")
    carol, dave, erin = make_user("carol"), make_user("dave"), make_user("erin")

    def make_club(s):
        comp = competitions.create_competition(
            session=s,
            user_id=carol.id,
            name="Club",
            slug="club",
            starting_balance=500,
            is_listed=False,
        )
        for user, role in ((dave, "moderator"), (erin, "player")):
            competitions.add_member(session=s, competition=comp, user=user, role=role)
        return comp

    club = tx(make_club)
    q = make_question(liquidity=1000)
    cq = make_question(competition=club, liquidity=1000, title="Club question?")

    def token(user):
        return tx(lambda s: accounts.create_token(session=s, user_id=user.id, name="t"))[1]

    with db.session() as s:
        yes, no = (o.id for o in outcomes_of(s, q.id))
        cyes, cno = (o.id for o in outcomes_of(s, cq.id))
    users = dict(admin=admin, alice=alice, bob=bob, carol=carol, dave=dave, erin=erin)
    return SimpleNamespace(
        **users,
        tokens={name: token(u) for name, u in users.items()},
        public=public,
        club=club,
        q=q,
        yes=yes,
        no=no,
        cq=cq,
        cyes=cyes,
        cno=cno,
    )


@pytest.fixture(autouse=True)
def _quick_password_hashes(monkeypatch):
    """These tests make many accounts and never log in with a password: hash cheaply."""
    from werkzeug.security import generate_password_hash

    from forecast.services import accounts

    monkeypatch.setattr(
        accounts,
        "generate_password_hash",
        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"),
    )
