"""A fair game on the question page and the portfolio: max and sell all, typed amounts,
exact refusals, "my probability" on either side of the market, the position box of a
settled question, and a debt after an undo (docs/debts.md)."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import pytest
from sqlmodel import select

from forecast.market import lmsr
from forecast.market.money import UNIT, fmt, fmt_exact, from_units
from forecast.market.plans import max_buy
from forecast.models import Competition, Position, Question
from forecast.services import audit, competitions, reads, resolution, standings


@pytest.fixture
def scene(web, make_user, make_question):
    make_user("admin")
    alice = make_user("alice")
    q = make_question(title="Will the bus be late?", liquidity=100)
    yes, no = web.outcomes(q)
    web.login(alice)
    return alice, q, yes, no


def post(web, q, path="trade", htmx=False, **fields):
    return web.post(q, path, htmx, **fields)


def value_of(html: str, name: str) -> str:
    m = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'<input[^>]*value="([^"]*)"[^>]*name="{name}"', html
    )
    return m.group(1) if m else ""


def held(db, user, question) -> dict[int, int]:
    with db.session() as s:
        return {
            p.outcome_id: p.shares
            for p in s.exec(select(Position).where(Position.question_id == question.id))
        }


def text(r) -> str:
    """The page's words: tags out, spaces collapsed."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", r.get_data(as_text=True))))


def assert_audit(db):
    with db.session() as s:
        assert audit.audit(session=s) == []


# ---------------------------------------------------------------- max, all, typed amounts


@pytest.mark.parametrize("htmx", [False, True])
def test_max_fills_the_largest_buy_the_limit_allows(web, scene, htmx):
    _, q, yes, _ = scene
    r = post(web, q, "quote", htmx=htmx, mode="buy", outcome=yes, spend="", fill="max")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="trade-panel"' in html
    expected = max_buy([0, 0], 100 * UNIT, 0, 1000 * UNIT)  # the limit, not the balance
    assert expected < 1000 * UNIT
    assert value_of(html, "spend") == str(from_units(expected))
    assert f'<dd id="quote-cost">{fmt(expected)} points</dd>' in html
    r = post(web, q, mode="buy", outcome=yes, spend=value_of(html, "spend"))
    assert r.status_code == 303
    with web.db.session() as s:
        p = reads.probabilities(
            s.get(Question, q.id), __import__("forecast").services.questions.outcomes_of(s, q.id)
        )
    assert lmsr.P_MAX - 0.001 < p[yes] <= lmsr.P_MAX


def test_sell_all_sells_the_exact_holding(web, scene, buy):
    alice, q, yes, _ = scene
    buy(alice, q, yes, spend="16.72")
    shares = held(web.db, alice, q)[yes]
    assert shares % 100  # more decimals than two
    page = web.client.get(f"/questions/{q.id}?mode=sell").get_data(as_text=True)
    assert f"you hold {fmt_exact(shares)}" in page
    r = post(web, q, "quote", htmx=True, mode="sell", outcome=yes, sell="", fill="all")
    html = r.get_data(as_text=True)
    assert value_of(html, "sell") == str(from_units(shares)) == fmt_exact(shares)
    r = post(web, q, mode="sell", outcome=yes, sell=value_of(html, "sell"))
    assert r.status_code == 303
    assert held(web.db, alice, q)[yes] == 0
    assert_audit(web.db)


def test_selling_a_rounded_holding_is_refused_with_the_exact_numbers(web, scene, buy):
    alice, q, yes, _ = scene
    buy(alice, q, yes, spend="16.72")
    shares = held(web.db, alice, q)[yes]
    rounded = fmt(shares + 50)  # what two decimals would show, a hair more than held
    r = post(web, q, htmx=True, mode="sell", outcome=yes, sell=rounded)
    assert r.status_code == 409
    assert (
        f"You hold {fmt_exact(shares)} shares of this outcome; you cannot sell "
        f"{fmt_exact(int(Decimal(rounded) * UNIT))}." in text(r)
    )


def test_sell_all_and_max_with_nothing_to_use_say_why(web, scene, tx, public):
    alice, q, yes, _ = scene
    r = post(web, q, "quote", htmx=True, mode="sell", outcome=yes, sell="", fill="all")
    assert r.status_code == 422 and "You hold no shares of YES." in text(r)


def test_amounts_take_thousands_separators_and_spaces(web, make_user, make_question):
    make_user("admin")
    bob = make_user("bob")
    q = make_question(title="Deep?", liquidity=5000)
    yes, _ = web.outcomes(q)
    web.login(bob)
    r = post(web, q, mode="buy", outcome=yes, spend=" 1,000 ")
    assert r.status_code == 303
    with web.db.session() as s:
        assert s.exec(select(Position.spent).where(Position.question_id == q.id)).one() == (
            1000 * UNIT
        )
    r = post(web, q, htmx=True, mode="buy", outcome=yes, spend="1,00")
    assert r.status_code == 422


# ---------------------------------------------------------------- my probability


def test_my_probability_below_the_market_on_binary_buys_no(web, scene):
    alice, q, yes, no = scene
    r = post(web, q, "quote", htmx=True, mode="probability", outcome=yes, probability="25")
    page = text(r)
    assert r.status_code == 200 and "Quote for NO" in page and "Buys NO" in page
    assert "50.0% → 75.0%" in page  # NO's probability: YES goes to 25%
    r = post(web, q, htmx=True, mode="probability", outcome=yes, probability="25")
    assert r.status_code == 200 and "Bought" in text(r) and "shares of NO" in text(r)
    mine = held(web.db, alice, q)
    assert mine.get(no, 0) > 0 and mine.get(yes, 0) == 0
    with web.db.session() as s:
        from forecast.services.questions import outcomes_of

        p = reads.probabilities(s.get(Question, q.id), outcomes_of(s, q.id))
    assert p[yes] == pytest.approx(0.25, abs=1e-3)


def test_my_probability_below_the_market_on_multiple_choice(web, make_user, make_question, buy):
    make_user("admin")
    carol = make_user("carol")
    q = make_question(
        title="Who buys it?", kind="multiple_choice", outcomes=["Amazon", "Meta", "Oracle"]
    )
    amazon, meta, _ = web.outcomes(q)
    web.login(carol)
    # nothing held: nothing to sell, and the page says what would move it
    r = post(web, q, "quote", htmx=True, mode="probability", outcome=amazon, probability="20")
    assert r.status_code == 409
    assert "You hold no shares of Amazon to sell" in text(r)
    assert "buy the outcomes you think more likely" in text(r)
    # a small holding: all of it is sold, and the quote says it goes only part of the way
    buy(carol, q, amazon, spend="2")
    r = post(web, q, "quote", htmx=True, mode="probability", outcome=amazon, probability="5")
    page = text(r)
    assert r.status_code == 200 and "Sells all your shares of Amazon" in page
    assert "You sell" in page
    r = post(web, q, htmx=True, mode="probability", outcome=amazon, probability="5")
    assert r.status_code == 200 and held(web.db, carol, q)[amazon] == 0
    # enough held: it sells down to the probability
    buy(carol, q, amazon, spend="60")
    r = post(web, q, htmx=True, mode="probability", outcome=amazon, probability="34")
    assert r.status_code == 200 and "Sold" in text(r)
    assert held(web.db, carol, q)[amazon] > 0
    assert_audit(web.db)


# ---------------------------------------------------------------- positions that tell the truth


def _box(web, q) -> str:
    html = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    start = html.index('<section id="position"')
    return unescape(html[start : html.index("</section>", start)])


def _settled_row(web, user, comp, q) -> dict:
    with web.db.session() as s:
        from forecast.services import access

        member = access.membership(s, user.id, comp.id)
        return next(r for r in reads.portfolio(s, member)["settled"] if r["question_id"] == q.id)


def _dd(box: str, id_: str) -> str:
    return re.search(rf'<dd id="{id_}"[^>]*>([^<]*)</dd>', box).group(1)


def test_the_position_box_agrees_with_the_portfolio_in_every_state(
    web, scene, buy, tx, make_user, public
):
    alice, q, yes, no = scene
    admin = make_user("root", admin=True)
    buy(alice, q, yes, spend="30")
    buy(alice, q, no, spend="10")
    buy(alice, q, yes, sell="5")
    # resolved against most of the holding
    tx(lambda s: resolution.resolve(session=s, user_id=admin.id, question_id=q.id, outcome_id=no))
    box, row = _box(web, q), _settled_row(web, alice, public, q)
    assert "Worth now" not in box and "Profit so far" not in box
    assert _dd(box, "position-payout") == fmt(row["payout"])
    assert row["payout"] == held(web.db, alice, q)[no]
    signed = _dd(box, "position-profit")
    assert signed == ("−" + fmt(-row["profit"]) if row["profit"] < 0 else "+" + fmt(row["profit"]))
    assert row["profit"] < 0 and "Final profit" in box
    # undone: an open position again, valued as the portfolio values it
    tx(lambda s: resolution.undo(session=s, user_id=admin.id, question_id=q.id))
    box = _box(web, q)
    assert "Paid out" not in box
    with web.db.session() as s:
        from forecast.services import access

        member = access.membership(s, alice.id, public.id)
        rows = [r for r in reads.portfolio(s, member)["open"] if r["question_id"] == q.id]
    assert _dd(box, "position-value") == fmt(sum(r["value"] for r in rows))
    # cancelled: everything put in comes back, profit zero
    tx(lambda s: resolution.cancel(session=s, user_id=admin.id, question_id=q.id))
    box, row = _box(web, q), _settled_row(web, alice, public, q)
    assert "Refunded" in box and _dd(box, "position-payout") == fmt(row["payout"])
    assert row["payout"] == row["spent"] and _dd(box, "position-profit") == "0.00"
    assert_audit(web.db)


def test_a_debt_shows_on_the_question_page_and_the_portfolio(
    web, make_user, make_question, buy, tx
):
    make_user("admin")
    owner, dan = make_user("owner"), make_user("dan")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Club", slug="club", starting_balance=100
        )
    )
    tx(lambda s: competitions.join(session=s, user_id=dan.id, slug="club", code=comp.join_code))
    first = make_question(competition=comp, liquidity=50, title="First?")
    second = make_question(competition=comp, liquidity=5000, title="Second?")
    yes1, _ = web.outcomes(first)
    yes2, _ = web.outcomes(second)
    buy(dan, first, yes1, spend="90")
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=owner.id, question_id=first.id, outcome_id=yes1
        )
    )
    buy(dan, second, yes2, spend=str(web.balance(dan, comp) // UNIT))
    tx(lambda s: resolution.undo(session=s, user_id=owner.id, question_id=first.id))
    owed = -web.balance(dan, comp)
    assert owed > 0
    web.login(dan)
    page = text(web.client.get(f"/questions/{second.id}"))
    assert f"You owe {fmt(owed)} points" in page and "You cannot buy until" in page
    r = post(web, second, htmx=True, mode="buy", outcome=yes2, spend="1")
    assert r.status_code == 409 and "You owe" in text(r)
    r = post(web, second, htmx=True, mode="sell", outcome=yes2, sell="1")
    assert r.status_code == 200 and web.balance(dan, comp) > -owed
    page = text(web.client.get("/c/club/portfolio"))
    assert "You owe" in page and "owe " + fmt(-web.balance(dan, comp)) in page
    with web.db.session() as s:
        board = standings.leaderboard(s, s.get(Competition, comp.id))
        dans = next(r for r in board if r.username == "dan")
        assert dans.balance == web.balance(dan, comp) < 0
    assert_audit(web.db)


def test_a_profit_too_small_for_two_decimals_shows_to_the_unit():
    from forecast.web.filters import signed

    assert [signed(u) for u in (-1, -50, -51, 0, 49, 125_000)] == [
        "−0.0001",
        "−0.005",
        "−0.01",
        "0.00",
        "+0.0049",
        "+12.50",
    ]
