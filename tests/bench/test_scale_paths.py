"""Reads at scale, checked for behaviour: sampled histories, the cached standings and
the leaderboard's pages, one member's net worth."""

from __future__ import annotations

import re

from sqlmodel import select

from bench import bulk
from forecast.market.money import from_units
from forecast.models import Competition, Membership
from forecast.services import history, standings, trading
from forecast.services.questions import outcomes_of


def _buy(tx, user_id: int, question_id: int, outcome_id: int, spend: float = 5):
    order = trading.parse_order(outcome_id=outcome_id, spend=spend)
    return tx(
        lambda s: trading.trade(session=s, user_id=user_id, question_id=question_id, order=order)
    )


def _sell_all(tx, user_id: int, question_id: int, outcome_id: int):
    def sell(s):
        member = s.exec(select(Membership).where(Membership.user_id == user_id)).one()
        held = trading.held_shares(s, member, question_id)[outcome_id]
        order = trading.parse_order(outcome_id=outcome_id, sell=from_units(held))
        trading.trade(session=s, user_id=user_id, question_id=question_id, order=order)
        assert trading.held_shares(s, member, question_id)[outcome_id] == 0

    return tx(sell)


def _bought(db, tx, make_user, make_question, trades: int, spend: int):  # noqa: ANN001, ANN202
    """A new binary question and ``trades`` buys of its first outcome by one new player."""
    q = make_question()
    user = make_user()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    for _ in range(trades):
        _buy(tx, user.id, q.id, yes, spend=spend)
    return q


def test_a_sampled_history_keeps_the_opening_the_first_and_the_last_trade(
    db, tx, make_user, make_question
):
    q = _bought(db, tx, make_user, make_question, trades=12, spend=1)
    with db.session() as s:
        q = s.get(type(q), q.id)
        full = history.history(s, q)
        assert len(full) == 13
        assert history.history(s, q, max_points=20) == full  # short enough: all of it
        sampled = history.history(s, q, max_points=5)
    assert 3 <= len(sampled) <= 5
    assert sampled[0] == full[0] and sampled[1] == full[1] and sampled[-1] == full[-1]
    assert all(p in full for p in sampled)
    assert [p["at"] for p in sampled] == sorted(p["at"] for p in sampled)


def test_member_net_worth_agrees_with_the_leaderboard(db):
    bulk.generate(db, players=6, questions_=3, trades=60, tokens=0)
    with db.session() as s:
        comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
        board = {st.membership_id: st.net_worth for st in standings.leaderboard(s, comp)}
        for m in s.exec(select(Membership).where(Membership.competition_id == comp.id)):
            assert standings.member_net_worth(s, m) == board[m.id]


def test_the_leaderboard_is_kept_until_a_change_and_exact_after_every_change(
    app, db, tx, make_user, make_question
):
    q = make_question()
    alice, bob = make_user("alice"), make_user("bob")
    with db.session() as s:
        yes, no = (o.id for o in outcomes_of(s, q.id))
    _buy(tx, alice.id, q.id, yes)

    def board() -> standings.Standings:
        with app.app_context(), db.session() as s:
            comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
            return standings.leaderboard(s, comp)

    def lines(rows) -> dict[str, tuple[int, int]]:
        return {r.username: (r.net_worth, r.trades) for r in rows}

    first = board()
    assert first.as_of is not None
    assert board() is first  # unchanged: the same standings, from the cache
    _buy(tx, bob.id, q.id, no)
    second = board()
    assert lines(second)["bob"][1] == 1 and lines(second) != lines(first)  # a trade shows at once
    make_user("carol")  # a join
    assert "carol" in lines(board())


def test_the_leaderboard_page_shows_a_hundred_players_and_your_own_row(client, db):
    bulk.generate(db, players=130, questions_=2, trades=300, tokens=0)
    html = client.get("/c/public/leaderboard").get_data(as_text=True)
    ranks = [int(r) for r in re.findall(r'<td class="num rank">(\d+)</td>', html)]
    assert ranks == list(range(1, 101))
    assert 'hx-get="/c/public/leaderboard"' in html and "Standings as of" in html
    assert 'href="/c/public/leaderboard?page=2"' in html
    page2 = client.get("/c/public/leaderboard?page=2").get_data(as_text=True)
    ranks2 = [int(r) for r in re.findall(r'<td class="num rank">(\d+)</td>', page2)]
    assert ranks2 == list(range(101, 132))  # 130 players and the bench admin
    assert 'hx-get="/c/public/leaderboard?page=2"' in page2
    assert client.get("/c/public/leaderboard?page=99").status_code == 200
    assert client.get("/c/public/leaderboard?page=x").status_code == 200
    with db.session() as s:
        comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
        last = standings.leaderboard(s, comp)[-1]
    with client.session_transaction() as sess:
        sess["_user_id"] = str(last.user_id)
        sess["_fresh"] = True
    mine = client.get("/c/public/leaderboard").get_data(as_text=True)
    ranks = [int(r) for r in re.findall(r'<td class="num rank">(\d+)</td>', mine)]
    assert ranks == [*range(1, 101), last.rank]
    assert 'class="me" aria-current="true"' in mine


def test_trades_count_each_question_once_however_many_outcomes(db, tx, make_user, make_question):
    q = make_question(kind="multiple_choice", outcomes=["A", "B", "C"])
    other = make_question()
    user = make_user()
    with db.session() as s:
        a, b, _ = (o.id for o in outcomes_of(s, q.id))
        yes = outcomes_of(s, other.id)[0].id
    for outcome in (a, b, a):
        _buy(tx, user.id, q.id, outcome, spend=1)
    _buy(tx, user.id, other.id, yes, spend=1)
    with db.session() as s:
        m = s.exec(select(Membership).where(Membership.user_id == user.id)).one()
        assert (m.questions_traded, m.trade_count) == (2, 4)


def test_a_join_shows_on_the_kept_leaderboard_at_once(db, make_user, public):
    make_user("first")

    def names() -> set[str]:
        with db.session() as s:
            comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
            return {r.username for r in standings.leaderboard(s, comp)}

    assert "first" in names()
    make_user("second")  # every new account joins the public competition
    assert {"first", "second"} <= names()
    with db.session() as s:
        comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
        count = len(s.exec(select(Membership).where(Membership.competition_id == comp.id)).all())
        assert comp.member_count == count


def test_cached_values_equal_values_made_afresh_after_every_kind_of_change(
    app, db, tx, make_user, make_question
):
    """Each question's holders' liquidation values are kept in the app's cache at its
    trade count; the sums from them equal sums made without the cache, and each
    member's own."""
    from forecast.services import resolution

    admin = make_user("admin", admin=True)
    players = [make_user(f"player{k}") for k in range(4)]
    qs = [make_question(title=f"Q{k}") for k in range(3)]
    mc = make_question(kind="multiple_choice", outcomes=["A", "B", "C"], title="MC")
    with db.session() as s:
        outs = {q.id: [o.id for o in outcomes_of(s, q.id)] for q in [*qs, mc]}

    def kept_and_fresh() -> tuple[dict, dict, dict]:
        with db.session() as s:
            comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
            with app.app_context():
                kept = standings.open_values(s, comp)
            fresh = standings.open_values(s, comp)  # no app: nothing cached
            members = s.exec(select(Membership).where(Membership.competition_id == comp.id))
            each = {
                m.id: v
                for m in members
                if (v := standings.open_values(s, comp, member_id=m.id).get(m.id, 0))
            }
        return kept, fresh, each

    kept_and_fresh()  # values cached from here on
    changes = [
        lambda: _buy(tx, players[0].id, qs[0].id, outs[qs[0].id][0], spend=30),
        lambda: _buy(tx, players[1].id, qs[0].id, outs[qs[0].id][1], spend=20),
        lambda: _buy(tx, players[2].id, mc.id, outs[mc.id][2], spend=25),
        lambda: _buy(tx, players[3].id, qs[1].id, outs[qs[1].id][0], spend=10),
        lambda: tx(
            lambda s: resolution.resolve(
                session=s, user_id=admin.id, question_id=qs[0].id, outcome_id=outs[qs[0].id][0]
            )
        ),
        lambda: tx(lambda s: resolution.cancel(session=s, user_id=admin.id, question_id=qs[1].id)),
        lambda: tx(lambda s: resolution.undo(session=s, user_id=admin.id, question_id=qs[1].id)),
        lambda: _buy(tx, players[0].id, mc.id, outs[mc.id][0], spend=5),
        # one member holding every outcome of a question, then a burst of trades
        # between two looks (several traders, one new to the question)
        lambda: _buy(tx, players[2].id, mc.id, outs[mc.id][0], spend=7),
        lambda: [
            _buy(tx, players[2].id, mc.id, outs[mc.id][1], spend=3),
            _buy(tx, players[1].id, mc.id, outs[mc.id][1], spend=4),
            _buy(tx, players[3].id, qs[2].id, outs[qs[2].id][1], spend=6),
        ],
        # selling everything held: the holding is worth nothing, the member stays listed
        lambda: _sell_all(tx, players[1].id, mc.id, outs[mc.id][1]),
    ]
    for change in changes:
        change()
        kept, fresh, each = kept_and_fresh()
        assert kept == fresh == each


def test_a_history_of_mixed_shapes_is_drawn_not_a_server_error(
    db, tx, client, make_user, make_question
):
    """A trade row whose probabilities name other outcomes (written by hand: the app never
    writes one): the charts draw its missing outcomes at 0 instead of failing the home
    page and the question page."""
    from sqlalchemy import update

    from forecast.models import Trade

    q = _bought(db, tx, make_user, make_question, trades=3, spend=2)
    with db.session() as s:
        first = s.exec(select(Trade.id).where(Trade.question_id == q.id).order_by(Trade.id)).first()
        s.execute(update(Trade).where(Trade.id == first).values(probabilities={"0": 1.0}))
        s.commit()
    assert client.get("/").status_code == 200
    assert client.get(f"/questions/{q.id}").status_code == 200
