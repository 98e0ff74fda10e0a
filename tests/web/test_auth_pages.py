"""Accounts in the browser: register, log in, log out, change password, CSRF, rate limit."""

from __future__ import annotations

import pytest
from sqlmodel import select
from werkzeug.security import check_password_hash

from forecast.models import Membership, User
from forecast.web.auth import safe_next


def users(db) -> dict[str, User]:
    with db.session() as s:
        return {u.username: u for u in s.exec(select(User))}


def register(web, username="alice", password="tidy-otter-123", confirm=None, **extra):
    return web.client.post(
        "/register",
        data={
            "csrf_token": web.token("/register"),
            "username": username,
            "password": password,
            "confirm": password if confirm is None else confirm,
            **extra,
        },
    )


def login(web, username="alice", password="tidy-otter-123", **extra):
    return web.client.post(
        "/login",
        data={
            "csrf_token": web.token("/login"),
            "username": username,
            "password": password,
            **extra,
        },
    )


def test_register_page_full_and_every_input_labelled(web, checks):
    r = web.client.get("/register")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" in html
    assert checks.unlabelled(html) == []
    assert not checks.duplicate_ids(html)
    assert 'autocomplete="new-password"' in html


def test_register_logs_in_joins_public_and_first_account_is_admin(web, db, public):
    r = register(web, "alice")
    assert r.status_code == 303 and r.headers["Location"] == "/"
    logout = web.client.post("/logout", data={"csrf_token": web.token("/")})
    assert logout.status_code == 303
    assert register(web, "bob").status_code == 303
    found = users(db)
    assert found["alice"].is_admin and not found["bob"].is_admin
    with db.session() as s:
        m = s.exec(select(Membership).where(Membership.user_id == found["bob"].id)).one()
    assert m.competition_id == public.id and m.balance == public.starting_balance
    page = web.client.get("/").get_data(as_text=True)
    assert "bob" in page and "Log out" in page and "Welcome, bob" in page


@pytest.mark.parametrize(
    "username, password, confirm, field, message",
    [
        ("al", "tidy-otter-123", None, "username", "3-40 letters"),
        ("bad name!", "tidy-otter-123", None, "username", "3-40 letters"),
        ("", "tidy-otter-123", None, "username", "Choose a username."),
        ("alice", "short", None, "password", "at least 8 characters"),
        ("alice", "", None, "password", "Choose a password."),
        ("alice", "tidy-otter-123", "password124", "confirm", "not the same"),
        ("alice", "x" * 1001, None, "password", "too long"),
    ],
)
def test_register_errors_show_next_to_the_field(
    web, db, checks, username, password, confirm, field, message
):
    r = register(web, username, password, confirm)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert message in checks.field_error(html, field), html
    assert f'id="{field}"' in html and 'aria-invalid="true"' in html
    assert users(db) == {}


def test_a_taken_username_any_case_is_refused(web, db, make_user, checks):
    make_user("Alice")
    r = register(web, "alice")
    assert r.status_code == 422
    assert "taken" in checks.field_error(r.get_data(as_text=True), "username")
    assert list(users(db)) == ["Alice"]


def test_login_and_wrong_password(web, make_user, checks):
    make_user("alice")
    r = login(web, password="wrong-password")
    assert r.status_code == 422
    assert "do not match" in checks.field_error(r.get_data(as_text=True), "password")
    r = login(web, username="nobody")
    assert r.status_code == 422
    r = login(web, username="ALICE")
    assert r.status_code == 303
    assert "alice" in web.client.get("/").get_data(as_text=True)


def test_login_page_labels_and_empty_fields(web, checks):
    html = web.client.get("/login").get_data(as_text=True)
    assert checks.unlabelled(html) == []
    r = login(web, username="", password="")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "Enter your username." in checks.field_error(html, "username")
    assert "Enter your password." in checks.field_error(html, "password")


def test_a_disabled_account_cannot_log_in(web, db, tx, make_user):
    user = make_user("alice")

    def disable(s):
        u = s.get(User, user.id)
        u.is_active = False
        s.add(u)

    tx(disable)
    assert login(web).status_code == 422


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/c/public/portfolio", "/c/public/portfolio"),
        ("/questions/3?mode=sell", "/questions/3?mode=sell"),
        ("https://evil.example/", None),
        ("//evil.example/", None),
        ("/\\evil.example/", None),
        ("\\\\evil.example", None),
        ("javascript:alert(1)", None),
        ("http:/evil.example", None),
        ("/ok\r\nSet-Cookie: x=1", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_next_only_allows_paths_on_this_site(target, expected):
    assert safe_next(target) == expected


@pytest.mark.parametrize(
    "target, location",
    [
        ("/c/public/leaderboard", "/c/public/leaderboard"),
        ("https://evil.example/x", "/"),
        ("//evil.example/x", "/"),
    ],
)
def test_login_goes_back_to_next_when_it_is_safe(web, make_user, target, location):
    make_user("alice")
    page = web.client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert "evil.example" not in page
    r = login(web, next=target)
    assert r.status_code == 303 and r.headers["Location"] == location


def test_anonymous_portfolio_goes_to_login_and_back(web, make_user, public):
    r = web.client.get("/c/public/portfolio")
    assert r.status_code == 302
    assert r.headers["Location"] == "/login?next=/c/public/portfolio"
    page = web.client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Log in to do that." in page and 'value="/c/public/portfolio"' in page
    make_user("alice")
    r = login(web, next="/c/public/portfolio")
    assert r.headers["Location"] == "/c/public/portfolio"
    assert web.client.get("/c/public/portfolio").status_code == 200


def test_anonymous_htmx_request_gets_an_hx_redirect(web, public, checks):
    r = web.client.get("/c/public/portfolio", headers=checks.HX)
    assert r.status_code == 401
    assert r.headers["HX-Redirect"] == "/login?next=/c/public/portfolio"


def test_logout_is_a_post_with_the_csrf_token(web, make_user):
    user = make_user("alice")
    web.login(user)
    assert web.client.get("/logout").status_code == 405
    assert web.client.post("/logout").status_code == 400  # no token: refused
    assert "Log out" in web.client.get("/").get_data(as_text=True)
    r = web.client.post("/logout", data={"csrf_token": web.token("/")})
    assert r.status_code == 303
    html = web.client.get("/").get_data(as_text=True)
    assert "Log out" not in html and "Log in" in html


@pytest.mark.parametrize("path", ["/register", "/login", "/account/password"])
def test_posts_without_the_csrf_token_are_refused(web, db, make_user, path):
    user = make_user("alice")
    if path == "/account/password":
        web.login(user)
    data = {
        "username": "mallory",
        "password": "tidy-otter-123",
        "confirm": "tidy-otter-123",
        "old_password": "tidy-otter-123",
        "new_password": "newpassword1",
    }
    r = web.client.post(path, data=data)
    assert r.status_code == 400
    assert "form expired" in r.get_data(as_text=True)
    found = users(db)
    assert "mallory" not in found
    assert check_password_hash(found["alice"].password_hash, "tidy-otter-123")


def test_change_password(web, db, make_user, checks):
    user = make_user("alice")
    assert web.client.get("/account/password").status_code == 302  # login first
    web.login(user)
    html = web.client.get("/account/password").get_data(as_text=True)
    assert checks.unlabelled(html) == []

    def change(old, new, confirm=None):
        return web.client.post(
            "/account/password",
            data={
                "csrf_token": web.token("/account/password"),
                "old_password": old,
                "new_password": new,
                "confirm": new if confirm is None else confirm,
            },
        )

    r = change("wrong-password", "newpassword1")
    assert r.status_code == 422
    assert "not right" in checks.field_error(r.get_data(as_text=True), "old_password")
    r = change("tidy-otter-123", "short")
    assert r.status_code == 422
    assert "at least 8" in checks.field_error(r.get_data(as_text=True), "new_password")
    r = change("tidy-otter-123", "newpassword1", "newpassword2")
    assert "not the same" in checks.field_error(r.get_data(as_text=True), "confirm")
    assert check_password_hash(users(db)["alice"].password_hash, "tidy-otter-123")
    r = change("tidy-otter-123", "newpassword1")
    assert r.status_code == 303
    assert check_password_hash(users(db)["alice"].password_hash, "newpassword1")


def test_session_cookie_is_httponly_and_samesite(web, make_user):
    make_user("alice")
    r = login(web, remember="y")
    cookies = r.headers.getlist("Set-Cookie")
    session = next(c for c in cookies if c.startswith("session="))
    remember = next(c for c in cookies if c.startswith("remember_token="))
    for c in (session, remember):
        assert "HttpOnly" in c and "SameSite=Lax" in c


def test_login_is_rate_limited_per_address_and_username(limited_app, db, make_user):
    make_user("alice")
    app = limited_app(login="3 per minute")
    client = app.test_client()
    token = _token(client)
    for _ in range(3):
        r = client.post(
            "/login", data={"csrf_token": token, "username": "alice", "password": "nope-nope"}
        )
        assert r.status_code == 422
    r = client.post(
        "/login", data={"csrf_token": token, "username": "alice", "password": "tidy-otter-123"}
    )
    assert r.status_code == 429
    assert "Too many requests" in r.get_data(as_text=True)
    # Another account from the same address is not locked out by alice's attempts.
    make_user("bob")
    r = client.post(
        "/login", data={"csrf_token": token, "username": "bob", "password": "tidy-otter-123"}
    )
    assert r.status_code == 303
    # Showing the form is not limited.
    assert client.get("/login").status_code in (200, 303)


def _token(client) -> str:
    import re

    html = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
