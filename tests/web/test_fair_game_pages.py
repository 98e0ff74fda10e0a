"""A fair game on the pages a moderator uses: liquidity presets in words, end dates, an
ended competition's question form, and the undo preview's debts."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlmodel import select

from forecast.market.liquidity import default_liquidity
from forecast.market.money import UNIT, fmt
from forecast.models import Competition, Membership, Question, utcnow
from forecast.services import competitions, resolution, trading
from forecast.services.questions import outcomes_of

TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def login(client, user) -> None:
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user.id)
        sess["_fresh"] = True


def csrf(client, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return TOKEN_RE.search(r.get_data(as_text=True)).group(1)


def text(r) -> str:
    return unescape(re.sub(r"\s+", " ", r.get_data(as_text=True)))


def future(days: int = 10) -> str:
    return (utcnow() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def club(tx, make_user):
    owner = make_user("teacher")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Class", slug="class", starting_balance=500
        )
    )
    return owner, comp


def create(client, slug, **fields):
    token = csrf(client, f"/moderate/{slug}/questions/new")
    data = {
        "csrf_token": token,
        "kind": "binary",
        "title": "Will it rain?",
        "close_at": future(),
        "depth": "normal",
        "liquidity": "",
        **fields,
    }
    return client.post(f"/moderate/{slug}/questions/new", data=data)


def question_named(db, title) -> Question:
    with db.session() as s:
        return s.exec(select(Question).where(Question.title == title)).one()


def test_the_form_offers_depths_in_words_for_this_competition(client, club):
    owner, comp = club
    login(client, owner)
    page = text(client.get("/moderate/class/questions/new"))
    assert "Liquidity: how far trades move the price" in page
    normal = default_liquidity(500 * UNIT)
    assert (
        f"Normal (b = {fmt(normal)}): the whole starting balance of 500.00 points moves a 50% "
        "question to at most 75.0%" in page
    )
    assert "Thin (b = " in page and "at most 87.5%" in page
    assert "Deep (b = " in page and "at most 64.6%" in page


@pytest.mark.parametrize("depth", ["thin", "normal", "deep"])
def test_a_depth_sets_b_from_the_starting_balance(client, db, club, depth):
    owner, _ = club
    login(client, owner)
    r = create(client, "class", title=f"{depth}?", depth=depth)
    assert r.status_code == 303
    assert question_named(db, f"{depth}?").liquidity == default_liquidity(500 * UNIT, depth)


def test_a_typed_b_wins_and_takes_thousands_separators(client, db, club):
    owner, _ = club
    login(client, owner)
    assert create(client, "class", title="Typed?", liquidity=" 1,250.5 ").status_code == 303
    assert question_named(db, "Typed?").liquidity == 12_505_000


def test_an_ended_competition_says_so_and_takes_no_question(client, db, tx, club):
    owner, _ = club
    login(client, owner)
    token = csrf(client, "/moderate/class/questions/new")
    tx(lambda s: competitions.close_competition(session=s, user_id=owner.id, slug="class"))
    r = client.get("/moderate/class/questions/new")
    assert r.status_code == 200 and "has ended, so it takes no new questions" in text(r)
    assert 'name="title"' not in r.get_data(as_text=True)
    r = client.post(
        "/moderate/class/questions/new",
        data={"csrf_token": token, "kind": "binary", "title": "Late?", "close_at": future()},
    )
    assert r.status_code == 409 and "has ended, so it takes no new questions" in text(r)
    with db.session() as s:
        assert s.exec(select(Question).where(Question.title == "Late?")).first() is None


def test_creating_a_competition_refuses_a_past_end_date_and_takes_1000_with_a_comma(
    client, db, make_user
):
    login(client, make_user("maker"))
    token = csrf(client, "/competitions/new")
    data = {"csrf_token": token, "name": "Late", "slug": "late", "starting_balance": "1,000"}
    past = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    r = client.post("/competitions/new", data={**data, "end_at": past})
    assert r.status_code == 422
    m = re.search(r'<p class="field-error" id="end_at-error">(.*?)</p>', r.get_data(as_text=True))
    assert m and "The end date must be in the future." in m.group(1)
    r = client.post("/competitions/new", data={**data, "end_at": future(5)})
    assert r.status_code == 303
    with db.session() as s:
        comp = s.exec(select(Competition).where(Competition.slug == "late")).one()
        assert comp.starting_balance == 1000 * UNIT and comp.end_at is not None


def test_the_undo_page_names_the_debts_first(client, db, tx, make_user, make_question, club):
    owner, comp = club
    ann = make_user("ann")
    tx(lambda s: competitions.join(session=s, user_id=ann.id, slug="class", code=comp.join_code))
    first = make_question(competition=comp, liquidity=500, title="First?")
    second = make_question(competition=comp, liquidity=5000, title="Second?")
    with db.session() as s:
        yes1 = outcomes_of(s, first.id)[0].id
        yes2 = outcomes_of(s, second.id)[0].id

    def buy(question, outcome, spend):
        order = trading.parse_order(outcome_id=outcome, spend=spend)
        tx(lambda s: trading.trade(session=s, user_id=ann.id, question_id=question.id, order=order))

    buy(first, yes1, "400")
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=owner.id, question_id=first.id, outcome_id=yes1
        )
    )
    with db.session() as s:
        paid = s.exec(
            select(Membership.balance).where(
                Membership.user_id == ann.id, Membership.competition_id == comp.id
            )
        ).one()
    buy(second, yes2, str(paid // UNIT))
    login(client, owner)
    page = text(client.get(f"/moderate/questions/{first.id}/undo"))
    assert "1 player would owe points" in page
    assert page.index("would owe points") < page.index("What will be reversed")
    row = re.search(r"<tr><td>ann</td>(.*?)</tr>", page).group(1)
    with db.session() as s:
        balance = s.exec(
            select(Membership.balance).where(
                Membership.user_id == ann.id, Membership.competition_id == comp.id
            )
        ).one()
    assert fmt(balance) in row
