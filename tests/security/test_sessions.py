"""Sessions end when they should: logging out deletes the remember cookie and ends every
session of the account; a password change (or an admin disabling the account) ends
every other session and remember cookie; the remember cookie is as Secure as the
session's."""

from __future__ import annotations

import pytest
from security_helpers import TOKEN_RE, csrf

from forecast import config, create_app
from forecast.services import admin

PASSWORD = "quiet-harbour-lantern"


def _login(app, name: str, *, remember: bool = True):
    client = app.test_client()
    data = {"csrf_token": csrf(client), "username": name, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    r = client.post("/login", data=data)
    assert r.status_code == 303, r.get_data(as_text=True)
    return client


def _signed_in(client) -> bool:
    return client.get("/account/password").status_code == 200


def _cookie(client, name: str) -> str | None:
    c = client.get_cookie(name)
    return None if c is None else c.value


def _with_only(app, name: str, value: str):
    """A fresh client carrying one captured cookie."""
    client = app.test_client()
    client.set_cookie(name, value)
    return client


@pytest.fixture
def alice(make_user):
    return make_user("alice", password=PASSWORD)


def test_logout_deletes_the_remember_cookie_and_ends_captured_cookies(app, alice):
    client = _login(app, "alice")
    remember, session = _cookie(client, "remember_token"), _cookie(client, "session")
    assert remember and session
    r = client.post("/logout", data={"csrf_token": csrf(client, "/account/password")})
    assert r.status_code == 303
    assert _cookie(client, "remember_token") is None
    assert not _signed_in(client)
    # what a thief copied before the logout signs no one in after it
    assert not _signed_in(_with_only(app, "remember_token", remember))
    assert not _signed_in(_with_only(app, "session", session))


def test_a_password_change_ends_every_other_session(app, alice):
    mine, other = _login(app, "alice"), _login(app, "alice")
    stolen_remember = _cookie(other, "remember_token")
    stolen_session = _cookie(other, "session")
    r = mine.post(
        "/account/password",
        data={
            "csrf_token": csrf(mine, "/account/password"),
            "old_password": PASSWORD,
            "new_password": "a-brand-new-secret-phrase",
            "confirm": "a-brand-new-secret-phrase",
        },
    )
    assert r.status_code == 303
    assert _signed_in(mine)  # the session that changed it goes on
    assert _signed_in(_with_only(app, "remember_token", _cookie(mine, "remember_token")))
    assert not _signed_in(other)
    assert not _signed_in(_with_only(app, "remember_token", stolen_remember))
    assert not _signed_in(_with_only(app, "session", stolen_session))


def test_disabling_an_account_ends_its_sessions_for_good(app, tx, alice, make_user):
    boss = make_user("boss", admin=True)
    client = _login(app, "alice")
    remember = _cookie(client, "remember_token")

    def flags(active):
        return tx(
            lambda s: admin.set_user_flags(
                session=s, user_id=boss.id, target_id=alice.id, is_active=active
            )
        )

    flags(False)
    assert not _signed_in(client)
    flags(True)  # enabled again: the old cookies stay dead, a new login works
    assert not _signed_in(client)
    assert not _signed_in(_with_only(app, "remember_token", remember))
    assert _signed_in(_login(app, "alice"))


@pytest.mark.parametrize("secure", [False, True])
def test_the_remember_cookie_is_as_secure_as_the_session_cookie(
    db, database_url, tmp_path, monkeypatch, alice, secure
):
    monkeypatch.setenv("FORECAST_SECURE_COOKIES", "1" if secure else "0")
    app = create_app(config.TestingConfig(database_url, str(tmp_path / "cookies")))
    if not db.is_sqlite:
        app.extensions["forecast_db"] = db
    client, base = app.test_client(), "https://localhost" if secure else "http://localhost"
    html = client.get("/login", base_url=base).get_data(as_text=True)
    token = TOKEN_RE.search(html).group(1)
    r = client.post(
        "/login",
        base_url=base,
        headers={"Referer": f"{base}/login"},  # CSRF over HTTPS checks where the form was
        data={"csrf_token": token, "username": "alice", "password": PASSWORD, "remember": "y"},
    )
    assert r.status_code == 303
    cookies = {c.split("=", 1)[0]: c for c in r.headers.getlist("Set-Cookie")}
    for name in ("session", "remember_token"):
        attrs = [a.strip().lower() for a in cookies[name].split(";")]
        assert "httponly" in attrs and "samesite=lax" in attrs, cookies[name]
        assert ("secure" in attrs) is secure, cookies[name]
    if db.is_sqlite:
        app.extensions["forecast_db"].dispose()
