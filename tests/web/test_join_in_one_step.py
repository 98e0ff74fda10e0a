"""Joining by link in one step: a visitor registers or logs in on the join page and lands
in the competition; a later login opens the competition used last; the switcher shows
where you are on every page."""

from __future__ import annotations

import re

from sqlmodel import select

from forecast.models import Membership, User
from forecast.services import competitions

TOKEN = re.compile(r'name="(new|existing)-csrf_token"[^>]*value="([^"]+)"')


def _class(tx, owner, *, listed=False):
    return tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=owner.id,
            name="Class 7B",
            slug="class-7b",
            starting_balance="500",
            is_listed=listed,
        )
    )


def _tokens(html: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in TOKEN.finditer(html)}


def _members(db, username) -> list[str]:
    with db.session() as s:
        user = s.exec(select(User).where(User.username == username)).one()
        rows = competitions.member_competitions(s, user.id)
        return sorted(c.slug for c, _ in rows)


def test_a_visitor_registers_and_joins_in_one_step(web, db, tx, make_user):
    comp = _class(tx, make_user("teacher"))
    r = web.client.get(f"/c/class-7b/join?code={comp.join_code}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Join Class 7B" in html and "500.00 points" in html
    assert 'type="hidden"' in html and comp.join_code in html  # the link's code rides along
    tokens = _tokens(html)
    r = web.client.post(
        "/c/class-7b/join",
        data={
            "new-csrf_token": tokens["new"],
            "new-account": "new",
            "new-code": comp.join_code,
            "code_in_link": "1",
            "new-username": "student",
            "new-password": "tidy-otter-123",
            "new-confirm": "tidy-otter-123",
        },
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/c/class-7b/")
    assert _members(db, "student") == ["class-7b", "public"]
    home = web.client.get("/c/class-7b/").get_data(as_text=True)
    assert "You joined Class 7B with 500.00 points" in home
    assert "Competition: <strong>Class 7B</strong>" in home


def test_a_wrong_code_creates_no_account(web, db, tx, make_user):
    _class(tx, make_user("teacher"), listed=True)
    html = web.client.get("/c/class-7b/join").get_data(as_text=True)
    assert 'name="new-code"' in html and 'type="hidden" value=""' not in html  # a field to type
    r = web.client.post(
        "/c/class-7b/join",
        data={
            "new-csrf_token": _tokens(html)["new"],
            "new-account": "new",
            "new-code": "WRONG",
            "new-username": "student",
            "new-password": "tidy-otter-123",
            "new-confirm": "tidy-otter-123",
        },
    )
    assert r.status_code == 422 and "join code is not right" in r.get_data(as_text=True)
    with db.session() as s:
        assert s.exec(select(User).where(User.username == "student")).first() is None


def test_a_player_with_an_account_logs_in_and_joins(web, db, tx, make_user):
    comp = _class(tx, make_user("teacher"))
    make_user("student")
    html = web.client.get(f"/c/class-7b/join?code={comp.join_code}").get_data(as_text=True)
    data = {
        "existing-csrf_token": _tokens(html)["existing"],
        "existing-account": "existing",
        "existing-code": comp.join_code,
        "existing-username": "student",
        "existing-password": "not-the-password",
    }
    r = web.client.post("/c/class-7b/join", data=data)
    assert r.status_code == 422 and "do not match" in r.get_data(as_text=True)
    assert _members(db, "student") == ["public"]
    r = web.client.post("/c/class-7b/join", data={**data, "existing-password": "tidy-otter-123"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/c/class-7b/")
    assert _members(db, "student") == ["class-7b", "public"]


def test_a_later_login_opens_the_competition_used_last(web, tx, make_user):
    comp = _class(tx, make_user("teacher"))
    student = make_user("student")
    tx(
        lambda s: competitions.join(
            session=s, user_id=student.id, slug="class-7b", code=comp.join_code
        )
    )
    html = web.client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    r = web.client.post(
        "/login", data={"csrf_token": token, "username": "student", "password": "tidy-otter-123"}
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/c/class-7b/")
    # A page of no competition (the profile) shows where you are: the class.
    profile = web.client.get("/profile").get_data(as_text=True)
    assert "Competition: <strong>Class 7B</strong>" in profile


def test_the_switcher_names_the_competition_on_its_settings_page(web, tx, make_user):
    teacher = make_user("teacher")
    _class(tx, teacher)
    web.login(teacher)
    html = web.client.get("/c/class-7b/settings").get_data(as_text=True)
    assert "Competition: <strong>Class 7B</strong>" in html


def test_admins_see_the_users_link(web, make_user):
    admin, player = make_user("admin"), make_user("player")
    web.login(admin)
    assert 'href="/admin/users"' in web.client.get("/").get_data(as_text=True)
    web.login(player)
    assert 'href="/admin/users"' not in web.client.get("/").get_data(as_text=True)


def test_a_logged_in_player_joins_with_one_click(web, db, tx, make_user):
    comp = _class(tx, make_user("teacher"))
    student = make_user("student")
    web.login(student)
    html = web.client.get(f"/c/class-7b/join?code={comp.join_code}").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    r = web.client.post("/c/class-7b/join", data={"csrf_token": token, "code": comp.join_code})
    assert r.status_code == 303
    with db.session() as s:
        assert s.exec(select(Membership).where(Membership.user_id == student.id)).all()
