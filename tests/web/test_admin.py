"""Site admin: manage users."""

from __future__ import annotations

import re

from sqlmodel import select

from forecast.models import User

TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def login(client, user):
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user.id)
        sess["_fresh"] = True


def test_admin_manages_users_and_players_cannot(client, db, make_user):
    admin = make_user("admin")
    alice = make_user("alice")
    login(client, alice)
    assert client.get("/admin/users").status_code == 403
    login(client, admin)
    page = client.get("/admin/users")
    assert page.status_code == 200 and "alice" in page.get_data(as_text=True)
    token = TOKEN_RE.search(page.get_data(as_text=True)).group(1)
    assert client.post(f"/admin/users/{alice.id}", data={"action": "make_admin"}).status_code == 400
    assert (
        client.post(
            f"/admin/users/{alice.id}", data={"csrf_token": token, "action": "bogus"}
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/admin/users/9999", data={"csrf_token": token, "action": "disable"}
        ).status_code
        == 404
    )
    r = client.post(f"/admin/users/{alice.id}", data={"csrf_token": token, "action": "disable"})
    assert r.status_code == 303
    r = client.post(
        f"/admin/users/{admin.id}", data={"csrf_token": token, "action": "remove_admin"}
    )
    assert r.status_code == 303
    with db.session() as s:
        users = {u.username: u for u in s.exec(select(User))}
    assert users["admin"].is_admin, "the last admin stays an admin"
    assert not users["alice"].is_active
    login(client, alice)  # a disabled account is signed out
    assert client.get("/admin/users").status_code in (302, 401)
