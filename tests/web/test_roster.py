"""The organiser's roster: who sees it, removing a player, non-playing organisers,
one-time password reset links, and the page such a link opens."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from forecast.models import Membership, ModeratorAction, PasswordReset
from forecast.services import accounts, competitions, resets, roster, standings
from forecast.services.errors import Conflict, Forbidden, NotFound

TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _class(tx, owner, slug="class-7b"):
    return tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Class 7B", slug=slug, starting_balance="500"
        )
    )


def _join(tx, user, comp) -> Membership:
    return tx(
        lambda s: competitions.join(session=s, user_id=user.id, slug=comp.slug, code=comp.join_code)
    )


def _csrf(client, path):
    return TOKEN_RE.search(client.get(path).get_data(as_text=True)).group(1)


def _board(db, comp) -> list[str]:
    with db.session() as s:
        return [
            r.username for r in standings.leaderboard(s, s.get(competitions.Competition, comp.id))
        ]


def test_the_roster_lists_members_with_their_standing(web, tx, make_user, make_question, buy):
    teacher, ann, bob = make_user("teacher"), make_user("ann"), make_user("bob")
    comp = _class(tx, teacher)
    _join(tx, ann, comp)
    _join(tx, bob, comp)
    q = make_question(competition=comp)
    buy(ann, q, web.outcomes(q)[0], spend=100)
    web.login(teacher)
    r = web.client.get("/c/class-7b/roster")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    row = html.split(">ann<", 1)[1].split("</tr>", 1)[0]
    assert "400.00" in row  # balance after spending 100
    assert re.search(r">\s*1\s*<", row)  # one trade
    assert "just now" in row
    assert html.index(">teacher<") < html.index(">ann<")  # organisers first
    web.login(ann)
    assert web.client.get("/c/class-7b/roster").status_code == 403
    web.logout()
    assert web.client.get("/c/class-7b/roster").status_code == 302  # to the login page


def test_removing_a_player_keeps_their_trades_and_takes_them_off_the_board(
    web, db, tx, make_user, make_question, buy
):
    teacher, ann, bob = make_user("teacher"), make_user("ann"), make_user("bob")
    comp = _class(tx, teacher)
    m = _join(tx, ann, comp)
    _join(tx, bob, comp)
    q = make_question(competition=comp)
    buy(ann, q, web.outcomes(q)[0], spend=100)
    assert "ann" in _board(db, comp)

    web.login(teacher)
    token = _csrf(web.client, "/c/class-7b/roster")
    r = web.client.post(f"/c/class-7b/roster/{m.id}/remove", data={"csrf_token": token})
    assert r.status_code == 303
    assert "ann" not in _board(db, comp) and "bob" in _board(db, comp)
    assert web.trades() == 1  # the trade stays
    web.login(ann)
    page = web.form(f"/questions/{q.id}")
    r = web.client.post(
        f"/questions/{q.id}/trade",
        data={**page, "outcome": web.outcomes(q)[0], "spend": "10"},
    )
    assert r.status_code in (403, 303)
    assert web.trades() == 1  # a removed member trades no more
    assert "player · removed" in web.client.get("/").get_data(as_text=True)  # the switcher

    web.login(teacher)
    web.client.post(f"/c/class-7b/roster/{m.id}/restore", data={"csrf_token": token})
    assert "ann" in _board(db, comp)
    with db.session() as s:
        actions = [a.action for a in s.exec(select(ModeratorAction)).all()]
    assert "remove_member" in actions and "restore_member" in actions
    log = web.client.get("/moderate/class-7b").get_data(as_text=True)
    assert "removed a member" in log and "for ann" in log


def test_a_non_playing_organiser_is_off_the_board(web, db, tx, make_user):
    teacher, ann = make_user("teacher"), make_user("ann")
    comp = _class(tx, teacher)
    _join(tx, ann, comp)
    with db.session() as s:
        mine = s.exec(select(Membership).where(Membership.user_id == teacher.id)).all()
        mid = next(m.id for m in mine if m.competition_id == comp.id)
    web.login(teacher)
    token = _csrf(web.client, "/c/class-7b/roster")
    r = web.client.post(f"/c/class-7b/roster/{mid}/plays/0", data={"csrf_token": token})
    assert r.status_code == 303
    assert _board(db, comp) == ["ann"]
    html = web.client.get("/c/class-7b/roster").get_data(as_text=True)
    assert "not playing" in html
    web.client.post(f"/c/class-7b/roster/{mid}/plays/1", data={"csrf_token": token})
    assert sorted(_board(db, comp)) == ["ann", "teacher"]
    assert (
        web.client.post(f"/c/class-7b/roster/{mid}/plays/2", data={"csrf_token": token}).status_code
        == 404
    )


def test_organisers_act_only_within_their_rights(tx, make_user):
    owner, mod, ann, other = (
        make_user("owner"),
        make_user("mod"),
        make_user("ann"),
        make_user("xavier"),
    )
    comp = _class(tx, owner)
    mm = _join(tx, mod, comp)
    am = _join(tx, ann, comp)
    other_comp = _class(tx, other, slug="other")
    om = _join(tx, ann, other_comp)
    tx(
        lambda s: competitions.set_role(
            session=s, user_id=owner.id, slug="class-7b", username="mod", role="moderator"
        )
    )

    def act(fn, user, mid, **kw):
        return tx(
            lambda s: fn(
                session=s,
                user_id=user.id,
                competition=s.get(competitions.Competition, comp.id),
                membership_id=mid,
                **kw,
            )
        )

    with pytest.raises(Forbidden):
        act(roster.set_removed, ann, mm.id, removed=True)
    for bad in (om.id, 10**12, "1", None, True):  # another competition's member, no member
        with pytest.raises(NotFound):
            act(roster.set_removed, mod, bad, removed=True)
    with pytest.raises(Conflict):
        act(resets.create_link, mod, mm.id)  # a moderator's own password: the account page
    owner_m = next(
        r
        for r in tx(
            lambda s: roster.roster(
                session=s, user_id=owner.id, competition=s.get(competitions.Competition, comp.id)
            )
        )
        if r.role == "owner"
    )
    with pytest.raises(Forbidden):
        act(roster.set_removed, mod, owner_m.membership_id, removed=True)
    with pytest.raises(Conflict):
        act(roster.set_removed, owner, owner_m.membership_id, removed=True)
    act(roster.set_removed, mod, am.id, removed=True)  # a moderator removes a player


def test_reset_link_sets_a_new_password_once(web, db, tx, make_user):
    teacher, ann = make_user("teacher"), make_user("ann")
    comp = _class(tx, teacher)
    m = _join(tx, ann, comp)
    web.login(teacher)
    token = _csrf(web.client, "/c/class-7b/roster")
    r = web.client.post(f"/c/class-7b/roster/{m.id}/reset", data={"csrf_token": token})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    link = re.search(r'value="(http://[^"]+/reset/[^"]+)"', html).group(1)
    path = link.split("localhost", 1)[1]
    with db.session() as s:
        stored = s.exec(select(PasswordReset)).one()
    assert stored.token_hash != path.rsplit("/", 1)[1]  # only the hash is kept

    web.logout()
    page = web.client.get(path)
    assert page.status_code == 200 and "ann" in page.get_data(as_text=True)
    csrf = TOKEN_RE.search(page.get_data(as_text=True)).group(1)
    r = web.client.post(path, data={"csrf_token": csrf, "password": "short", "confirm": "short"})
    assert r.status_code == 422 and "at least 8" in r.get_data(as_text=True)
    r = web.client.post(
        path, data={"csrf_token": csrf, "password": "new-secret-1", "confirm": "new-secret-1"}
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/login")
    with db.session() as s:
        assert accounts.authenticate(session=s, username="ann", password="new-secret-1")
        assert not accounts.authenticate(session=s, username="ann", password="tidy-otter-123")
    assert web.client.get(path).status_code == 404  # used up
    r = web.client.post(
        path, data={"csrf_token": csrf, "password": "other-secret", "confirm": "other-secret"}
    )
    assert r.status_code == 404
    for bad in ("/reset/x", "/reset/%00", "/reset/" + "a" * 300, "/reset/%C3%A9"):
        assert web.client.get(bad).status_code == 404


def test_a_newer_link_replaces_the_older_and_links_expire(db, tx, make_user):
    from datetime import timedelta

    from forecast.models import utcnow

    teacher, ann = make_user("teacher"), make_user("ann")
    comp = _class(tx, teacher)
    m = _join(tx, ann, comp)

    def link():
        return tx(
            lambda s: resets.create_link(
                session=s,
                user_id=teacher.id,
                competition=s.get(competitions.Competition, comp.id),
                membership_id=m.id,
            )
        )[1]

    first, second = link(), link()
    with db.session() as s:
        with pytest.raises(NotFound):
            resets.link_user(session=s, token=first)
        assert resets.link_user(session=s, token=second).username == "ann"

    def age(s):
        for r in s.exec(select(PasswordReset)).all():
            r.expires_at = utcnow() - timedelta(seconds=1)
            s.add(r)

    tx(age)
    with db.session() as s:
        with pytest.raises(NotFound):
            resets.link_user(session=s, token=second)


def test_organisers_cannot_reset_an_admins_or_another_organisers_password(tx, make_user):
    admin = make_user("admin")  # the first account is the site admin
    owner, mod = make_user("owner"), make_user("mod")
    comp = _class(tx, owner)
    am = _join(tx, admin, comp)
    mm = _join(tx, mod, comp)
    tx(
        lambda s: competitions.set_role(
            session=s, user_id=owner.id, slug="class-7b", username="mod", role="moderator"
        )
    )
    for target in (am.id, mm.id):
        with pytest.raises(Forbidden):
            tx(
                lambda s, t=target: resets.create_link(
                    session=s,
                    user_id=owner.id,
                    competition=s.get(competitions.Competition, comp.id),
                    membership_id=t,
                )
            )
    # the site admin can
    tx(
        lambda s: resets.create_link(
            session=s,
            user_id=admin.id,
            competition=s.get(competitions.Competition, comp.id),
            membership_id=mm.id,
        )
    )
