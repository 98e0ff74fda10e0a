"""The profile page: memberships with balances, API tokens created (shown once, kept hashed)
and revoked, behind a login and CSRF."""

from __future__ import annotations

import re
from html import unescape

from sqlmodel import select

from forecast.models import ApiToken
from forecast.services import accounts

CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
TOKEN_RE = re.compile(r'id="new-token" type="text" readonly value="(fc_[^"]+)"')


def login(client, user) -> None:
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user.id)
        sess["_fresh"] = True


def csrf(client) -> str:
    r = client.get("/profile")
    assert r.status_code == 200
    return CSRF_RE.search(r.get_data(as_text=True)).group(1)


def test_the_profile_needs_a_login(client, world):
    r = client.get("/profile")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.post("/profile/tokens", data={"name": "x"}).status_code in (302, 400)


def test_the_profile_shows_memberships_and_tokens(client, world, api):
    login(client, world.carol)
    page = unescape(client.get("/profile").get_data(as_text=True))
    assert "<h1>carol</h1>" in page
    assert "Public" in page and "Club" in page and "owner" in page
    assert "500.00" in page and "1,000.00" in page
    assert world.tokens["carol"][:10] in page  # the prefix of her token, never the rest
    assert world.tokens["carol"] not in page
    assert 'id="api-tokens"' in page and 'id="memberships"' in page


def test_create_a_token_use_it_and_revoke_it(client, world, api, db):
    login(client, world.erin)
    token = csrf(client)
    r = client.post("/profile/tokens", data={"name": "my bot", "csrf_token": token})
    assert r.status_code == 201
    page = r.get_data(as_text=True)
    plain = TOKEN_RE.search(page).group(1)
    assert "shown only this once" in page
    # stored hashed: the plain token is nowhere in the database
    with db.session() as s:
        row = s.exec(
            select(ApiToken).where(ApiToken.user_id == world.erin.id, ApiToken.name == "my bot")
        ).one()
    assert row.token_hash == accounts.hash_token(plain) and row.prefix == plain[:10]
    # shown once: not on the next visit, not in the cookie
    assert plain not in client.get("/profile").get_data(as_text=True)
    cookie = client.get_cookie("session")
    assert cookie is None or plain not in cookie.value
    me = api.as_(plain).get("/me")
    assert me.status_code == 200 and me.get_json()["username"] == "erin"
    page = client.get("/profile").get_data(as_text=True)
    assert "my bot" in page and "never" not in page.split("my bot")[1].split("</tr>")[0]

    r = client.post(f"/profile/tokens/{row.id}/revoke", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"].endswith("/profile")
    assert "revoked" in client.get("/profile").get_data(as_text=True)
    assert api.as_(plain).get("/me").status_code == 401
    # revoking twice is harmless
    assert (
        client.post(f"/profile/tokens/{row.id}/revoke", data={"csrf_token": token}).status_code
        == 303
    )


def test_tokens_are_private_to_their_owner(client, world, db):
    with db.session() as s:
        alices = s.exec(select(ApiToken).where(ApiToken.user_id == world.alice.id)).one()
    login(client, world.bob)
    token = csrf(client)
    r = client.post(f"/profile/tokens/{alices.id}/revoke", data={"csrf_token": token})
    assert r.status_code == 404
    assert (
        client.post("/profile/tokens/999999999999/revoke", data={"csrf_token": token}).status_code
        == 404
    )
    with db.session() as s:
        assert s.get(ApiToken, alices.id).revoked_at is None
    page = client.get("/profile").get_data(as_text=True)
    assert alices.prefix not in page


def test_token_forms_need_csrf_and_valid_names(client, world, db):
    login(client, world.bob)
    assert client.post("/profile/tokens", data={"name": "x"}).status_code == 400
    with db.session() as s:
        mine = s.exec(select(ApiToken).where(ApiToken.user_id == world.bob.id)).one()
    assert client.post(f"/profile/tokens/{mine.id}/revoke").status_code == 400
    token = csrf(client)
    r = client.post("/profile/tokens", data={"name": "x" * 81, "csrf_token": token})
    assert r.status_code == 422 and "At most 80 characters" in r.get_data(as_text=True)
    r = client.post("/profile/tokens", data={"name": "nul\x00", "csrf_token": token})
    assert r.status_code == 422 and "name: text may not hold NUL" in r.get_data(as_text=True)
    r = client.post("/profile/tokens", data={"csrf_token": token})
    assert r.status_code == 201 and "(no name)" in r.get_data(as_text=True)
