"""Net worth at liquidation value (DESIGN.md, Scoring), one number everywhere it shows:
the leaderboard, the portfolio, the position box, the API and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from forecast.market import lmsr
from forecast.market.money import UNIT, from_units
from forecast.models import Competition, Membership, Question, User
from forecast.services import accounts, competitions, exports, reads, standings, trading
from forecast.services.errors import DomainError
from forecast.services.questions import outcomes_of

START = 500 * UNIT


def _trade(tx, user_id: int, question_id: int, **order):
    order = trading.parse_order(**order)
    return tx(
        lambda s: trading.trade(session=s, user_id=user_id, question_id=question_id, order=order)
    )


@pytest.fixture
def one_click(db, tx, make_user, make_question):
    """A competition of 500 points each; a question at 10% with the default-sized b = 100;
    a player who spends 490 points on it in one trade, and a rival who never trades."""
    teacher, player, rival = make_user("teacher"), make_user("player"), make_user("rival")

    def setup(s):
        comp = competitions.create_competition(
            session=s, user_id=teacher.id, name="Class", slug="class", starting_balance=500
        )
        for user in (player, rival):
            competitions.add_member(session=s, competition=comp, user=user)
        return comp

    comp = tx(setup)
    q = make_question(competition=comp, liquidity=100, initial_probabilities=[0.1, 0.9])
    with db.session() as s:
        yes, no = (o.id for o in outcomes_of(s, q.id))
    _trade(tx, player.id, q.id, outcome_id=yes, spend="490")
    return SimpleNamespace(comp=comp, q=q, yes=yes, no=no, player=player, rival=rival, t=teacher)


def _expected(db, world) -> int:
    """The player's balance plus what selling all their YES shares would pay now."""
    with db.session() as s:
        q = s.get(Question, world.q.id)
        member = _member(s, world)
        outcomes = outcomes_of(s, q.id)
        held = trading.held_shares(s, member, q.id)[world.yes]
        pays = lmsr.sell_proceeds([o.q for o in outcomes], q.liquidity, 0, held)
        return member.balance + pays


def test_one_click_does_not_top_the_leaderboard(db, one_click):
    net = _expected(db, one_click)
    assert 10 * UNIT < net <= START  # the 490 points come back as less than 490
    with db.session() as s:
        comp = s.get(Competition, one_click.comp.id)
        board = standings.leaderboard(s, comp)
        mine = board.of_user(one_click.player.id)
        assert mine.net_worth == net and mine.profit == net - START
        assert board[0].username != "player"  # the rival (and teacher) at 500 rank above
        member = _member(s, one_click)
        assert standings.member_net_worth(s, member) == net
        assert reads.portfolio(s, member)["net_worth"] == net
        box = reads.positions(s, member, s.get(Question, one_click.q.id))
        assert member.balance + sum(p["value"] for p in box) == net
        text = exports.leaderboard_csv(session=s, user_id=one_click.t.id, competition=comp)
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["username"] == "player")
    assert Decimal(row["net_worth"]) == from_units(net)


def test_one_click_through_the_api_and_the_pages(db, tx, client, one_click):
    net = _expected(db, one_click)
    token = tx(lambda s: accounts.create_token(session=s, user_id=one_click.player.id, name="t"))[1]
    auth = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=auth).get_json()
    (membership,) = [m for m in me["memberships"] if m["competition"] == "class"]
    assert membership["net_worth"] == float(from_units(net)) <= 500
    board = client.get("/api/v1/competitions/class/leaderboard", headers=auth).get_json()
    line = next(r for r in board if r["username"] == "player")
    assert line["net_worth"] == float(from_units(net)) and line["rank"] == 3
    positions = client.get(f"/api/v1/questions/{one_click.q.id}/positions", headers=auth)
    worth = sum(Decimal(str(p["value"])) for p in positions.get_json())
    assert worth == from_units(net - _balance(db, one_click))

    with client.session_transaction() as sess:
        sess["_user_id"] = str(one_click.player.id)
        sess["_fresh"] = True
    shown = f"{from_units(net):,.2f}"
    page = client.get("/c/class/leaderboard").get_data(as_text=True)
    assert "what the market maker would pay" in page  # the page says what net worth means
    row = re.search(r'<tr class="me"[^>]*>(.*?)</tr>', page, re.S).group(1)
    assert shown in row
    portfolio = client.get("/c/class/portfolio").get_data(as_text=True)
    assert f'<dd id="portfolio-net-worth">{shown}</dd>' in portfolio
    question = client.get(f"/questions/{one_click.q.id}").get_data(as_text=True)
    worth = f"{from_units(net - _balance(db, one_click)):,.2f}"
    assert f'<dd id="position-value">{worth}</dd>' in question


def _member(s, world) -> Membership:
    """The player's membership of the class (every account is in public too)."""
    return s.exec(
        select(Membership).where(
            Membership.user_id == world.player.id, Membership.competition_id == world.comp.id
        )
    ).one()


def _balance(db, world) -> int:
    with db.session() as s:
        return _member(s, world).balance


def test_the_leaderboard_is_cached_until_a_trade_and_then_exact(app, db, tx, one_click):
    with app.app_context(), db.session() as s:
        comp = s.get(Competition, one_click.comp.id)
        first = standings.leaderboard(s, comp)
        assert standings.leaderboard(s, comp) is first
    _trade(tx, one_click.rival.id, one_click.q.id, outcome_id=one_click.no, spend="5")
    with app.app_context(), db.session() as s:
        comp = s.get(Competition, one_click.comp.id)
        second = standings.leaderboard(s, comp)
        assert second is not first
        assert second.of_user(one_click.rival.id).trades == 1
        fresh = standings._rank(s, comp, "net_worth", None, ())
        assert list(fresh) == list(second)


def test_ties_go_to_whoever_got_there_first(db, tx, make_user, make_question, public):
    """Equal net worths rank by the earlier last trade; a member who never traded counts
    from when they joined."""
    first = make_user("first")
    make_user("second")
    make_user("third")
    q = make_question()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id

    def names() -> list[str]:
        with db.session() as s:
            return [r.username for r in standings.leaderboard(s, s.get(Competition, public.id))]

    assert names() == ["first", "second", "third"]  # all at the starting balance: by joining
    _trade(tx, first.id, q.id, outcome_id=yes, spend="1")  # a round trip costs a little
    _trade(tx, first.id, q.id, outcome_id=yes, sell=_held(db, first, q, yes))
    assert names() == ["second", "third", "first"]


def _held(db, user, q, outcome_id) -> str:
    with db.session() as s:
        member = s.exec(select(Membership).where(Membership.user_id == user.id)).first()
        return str(from_units(trading.held_shares(s, member, q.id).get(outcome_id, 0)))


moves = st.lists(
    st.tuples(
        st.sampled_from(["spend", "sell", "to_probability"]),
        st.integers(min_value=0, max_value=2),
        st.integers(min_value=1, max_value=400),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(moves=moves, kind=st.sampled_from(["binary", "multiple_choice"]))
def test_trading_alone_never_raises_a_players_net_worth(
    db, tx, make_user, make_question, moves, kind
):
    """For any sequence of one player's trades in a market no one else touches, their
    net worth (the leaderboard's) never rises above what it was before the first."""
    player = _the_player(db, make_user)
    options = {"outcomes": ["A", "B", "C"]} if kind == "multiple_choice" else {}
    q = make_question(kind=kind, liquidity=100, **options)
    with db.session() as s:
        outcome_ids = [o.id for o in outcomes_of(s, q.id)]

    def net() -> int:
        with db.session() as s:
            member = s.exec(select(Membership).where(Membership.user_id == player.id)).one()
            board = standings.leaderboard(s, s.get(Competition, member.competition_id))
            assert board.of_user(player.id).net_worth == standings.member_net_worth(s, member)
            return standings.member_net_worth(s, member)

    start = net()
    for action, k, amount in moves:
        outcome = outcome_ids[k % len(outcome_ids)]
        if action == "spend":
            order = {"spend": str(amount)}
        elif action == "sell":
            held = Decimal(_held(db, player, q, outcome))
            order = {"sell": str(min(held, Decimal(amount)))}
        else:
            order = {"to_probability": amount / 401}
        try:
            _trade(tx, player.id, q.id, outcome_id=outcome, **order)
        except DomainError:  # refused (the market maker's limits, nothing to sell): no trade
            pass
        assert net() <= start


def _the_player(db, make_user):
    """One player for every example (each example trades a question of its own)."""
    with db.session() as s:
        found = s.exec(select(User).where(User.username == "solo")).first()
    return found or make_user("solo")
