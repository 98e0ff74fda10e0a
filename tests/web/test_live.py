"""The projector view: who sees it, what it shows, the fragment htmx reads, the view link."""

from __future__ import annotations

import re

from forecast.services import competitions, live
from forecast.services.questions import outcomes_of

HX = {"HX-Request": "true"}
TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _class(tx, owner, *, listed=False, slug="class-7b"):
    return tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=owner.id,
            name="Class 7B",
            slug=slug,
            starting_balance="1000",
            is_listed=listed,
        )
    )


def _join(tx, user, comp):
    return tx(
        lambda s: competitions.join(session=s, user_id=user.id, slug=comp.slug, code=comp.join_code)
    )


def test_a_listed_competition_shows_to_anyone_without_its_code(
    web, tx, make_user, make_question, buy
):
    teacher, ann = make_user("teacher"), make_user("ann")
    comp = _class(tx, teacher, listed=True)
    _join(tx, ann, comp)
    q = make_question(competition=comp, title="Will it snow on Friday?")
    yes = web.outcomes(q)[0]
    buy(ann, q, yes, spend=50)

    r = web.client.get("/c/class-7b/live")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Class 7B" in html and "ann" in html and "Will it snow on Friday?" in html
    assert 'hx-trigger="every 5s"' in html and 'http-equiv="refresh"' in html
    assert comp.join_code not in html and '<svg role="img" aria-label="QR code' not in html

    web.login(teacher)  # the organiser's wall: the QR code, the link and the code
    html = web.client.get("/c/class-7b/live").get_data(as_text=True)
    assert comp.join_code in html and 'aria-label="QR code to join Class 7B"' in html
    assert f"/c/class-7b/join?code={comp.join_code}" in html


def test_the_fragment_is_the_board_alone_and_follows_trades(web, tx, make_user, make_question, buy):
    teacher, ann, bob = make_user("teacher"), make_user("ann"), make_user("bob")
    comp = _class(tx, teacher, listed=True)
    _join(tx, ann, comp)
    _join(tx, bob, comp)
    first = make_question(competition=comp, title="First question")
    second = make_question(competition=comp, title="Second question")
    buy(ann, first, web.outcomes(first)[0], spend=40)

    fragment = web.client.get("/c/class-7b/live", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="live-board"') and "<html" not in fragment
    assert "Last move: First question" in fragment

    buy(bob, second, web.outcomes(second)[1], spend=30)
    fragment = web.client.get("/c/class-7b/live", headers=HX).get_data(as_text=True)
    assert "Last move: Second question" in fragment
    ticker = fragment.split("Latest trades", 1)[1]
    assert ticker.index("bob") < ticker.index("ann")  # newest first
    ranks = fragment.split("live-ranks", 1)[1]
    assert ranks.index("ann") < ranks.index("bob")  # level at about 1,000: ann got there first


def test_the_ticker_reads_the_newest_trades_across_questions(db, tx, make_user, make_question, buy):
    teacher, ann = make_user("teacher"), make_user("ann")
    comp = _class(tx, teacher)
    _join(tx, ann, comp)
    qs = [make_question(competition=comp, title=f"Q{k}") for k in range(live.TICKER + 3)]
    made = []
    with db.session() as s:
        first = {q.id: outcomes_of(s, q.id)[0].id for q in qs}
    for round_ in range(2):
        for q in qs[round_:]:
            made.append(buy(ann, q, first[q.id], spend=1).trade.id)
    with db.session() as s:
        ticks = live.latest_trades(s, comp.id)
    assert [t.id for t in ticks] == sorted(made, reverse=True)[: live.TICKER]
    assert all(t.username == "ann" and t.outcome == "YES" for t in ticks)
    with db.session() as s:
        assert live.latest_trades(s, _class(tx, teacher, slug="empty").id) == []


def test_a_private_competition_needs_membership_or_the_view_link(web, tx, make_user):
    teacher, ann, stranger = make_user("teacher"), make_user("ann"), make_user("stranger")
    comp = _class(tx, teacher)
    _join(tx, ann, comp)
    assert web.client.get("/c/class-7b/live").status_code == 404
    assert web.client.get("/c/class-7b/live?t=").status_code == 404
    web.login(stranger)
    assert web.client.get("/c/class-7b/live").status_code == 404
    web.login(ann)
    html = web.client.get("/c/class-7b/live").get_data(as_text=True)
    assert "Class 7B" in html and comp.join_code not in html  # a player sees no code

    web.login(teacher)
    page = web.client.get("/c/class-7b/settings").get_data(as_text=True)
    token = TOKEN_RE.search(page).group(1)
    r = web.client.post("/c/class-7b/live/link", data={"csrf_token": token})
    assert r.status_code == 303
    with web.db.session() as s:
        link = competitions.access.get_competition(s, "class-7b").view_token
    assert link

    web.logout()
    r = web.client.get(f"/c/class-7b/live?t={link}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and comp.join_code in html  # the organiser's link
    assert f"t={link}" in html  # htmx polls with the link
    assert web.client.get("/c/class-7b/live?t=not-the-link").status_code == 404
    assert web.client.get("/c/class-7b/live?t=%00%ff\u00e9").status_code == 404

    web.login(teacher)  # a new link: the old one stops working
    token = TOKEN_RE.search(web.client.get("/c/class-7b/settings").get_data(as_text=True)).group(1)
    web.client.post("/c/class-7b/live/link", data={"csrf_token": token})
    web.logout()
    assert web.client.get(f"/c/class-7b/live?t={link}").status_code == 404


def test_only_moderators_make_view_links(web, tx, make_user):
    teacher, ann = make_user("teacher"), make_user("ann")
    comp = _class(tx, teacher, listed=True)
    _join(tx, ann, comp)
    web.login(ann)
    token = TOKEN_RE.search(web.client.get("/c/class-7b/live").get_data(as_text=True) or "")
    token = token.group(1) if token else web.token("/competitions")
    r = web.client.post("/c/class-7b/live/link", data={"csrf_token": token})
    assert r.status_code == 403
    assert web.client.post("/c/class-7b/live/link", data={}).status_code in (400, 403)
    assert web.client.post("/c/nope/live/link", data={"csrf_token": token}).status_code == 404


def test_the_public_competition_shows_registration_not_a_code(web, seeded, make_user):
    html = web.client.get("/c/public/live").get_data(as_text=True)
    assert "/register" in html and 'aria-label="QR code to join Public"' in html
    assert web.client.get("/c/no-such/live").status_code == 404
