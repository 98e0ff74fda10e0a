"""What the performance work changed, checked for behaviour: sampled histories,
the leaderboard's cache and pages, one member's net worth."""

from __future__ import annotations

import re
import threading
import time

from sqlmodel import select

from forecast.market.money import from_units
from forecast.models import Competition, Membership
from forecast.services import bulk, queries, trading


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
        yes = queries.outcomes_of(s, q.id)[0].id
    for _ in range(trades):
        _buy(tx, user.id, q.id, yes, spend=spend)
    return q


def test_a_sampled_history_keeps_the_opening_the_first_and_the_last_trade(
    db, tx, make_user, make_question
):
    q = _bought(db, tx, make_user, make_question, trades=12, spend=1)
    with db.session() as s:
        q = s.get(type(q), q.id)
        full = queries.history(s, q)
        assert len(full) == 13
        assert queries.history(s, q, max_points=20) == full  # short enough: all of it
        sampled = queries.history(s, q, max_points=5)
    assert 3 <= len(sampled) <= 5
    assert sampled[0] == full[0] and sampled[1] == full[1] and sampled[-1] == full[-1]
    assert all(p in full for p in sampled)
    assert [p["at"] for p in sampled] == sorted(p["at"] for p in sampled)


def test_member_net_worth_agrees_with_the_leaderboard(db):
    bulk.generate(db, players=6, questions_=3, trades=60, tokens=0)
    with db.session() as s:
        comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
        board = {st.membership_id: st.net_worth for st in queries.leaderboard(s, comp)}
        for m in s.exec(select(Membership).where(Membership.competition_id == comp.id)):
            assert queries.member_net_worth(s, m) == board[m.id]


def test_the_leaderboard_is_exact_after_every_change_unless_a_slow_one_may_be_reused(
    db, tx, make_user, make_question, monkeypatch
):
    q = make_question()
    alice, bob = make_user("alice"), make_user("bob")
    with db.session() as s:
        yes, no = (o.id for o in queries.outcomes_of(s, q.id))
    _buy(tx, alice.id, q.id, yes)

    def board(max_age: float = 0.0) -> dict[str, tuple[int, int]]:
        with db.session() as s:
            comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
            rows = queries.leaderboard(s, comp, max_age=max_age)
            assert rows.as_of is not None
            return {r.username: (r.net_worth, r.trades) for r in rows}

    first = board()
    assert board() == first  # unchanged: the same standings again
    _buy(tx, bob.id, q.id, no)
    second = board()
    assert second["bob"][1] == 1 and second != first  # a trade shows at once
    # A leaderboard that was slow to compute may be reused for max_age seconds.
    monkeypatch.setattr(queries, "SLOW_LEADERBOARD", 0.0)
    board()
    _buy(tx, bob.id, q.id, no)
    assert board(max_age=3600) == second
    assert board()["bob"][1] == 2  # without max_age: exact


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
        last = queries.leaderboard(s, comp)[-1]
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
        a, b, _ = (o.id for o in queries.outcomes_of(s, q.id))
        yes = queries.outcomes_of(s, other.id)[0].id
    for outcome in (a, b, a):
        _buy(tx, user.id, q.id, outcome, spend=1)
    _buy(tx, user.id, other.id, yes, spend=1)
    with db.session() as s:
        m = s.exec(select(Membership).where(Membership.user_id == user.id)).one()
        assert (m.questions_traded, m.trade_count) == (2, 4)


def test_a_cached_history_is_the_same_history(db, tx, make_user, make_question):
    q = make_question(kind="multiple_choice", outcomes=["A", "B", "C"])
    user = make_user()
    with db.session() as s:
        ids = [o.id for o in queries.outcomes_of(s, q.id)]
    for k in range(9):
        _buy(tx, user.id, q.id, ids[k % 3], spend=2)
    queries._HISTORIES.clear()
    with db.session() as s:
        q = s.get(type(q), q.id)
        first = queries.history(s, q, max_points=5)
        assert queries._HISTORIES  # kept
        assert queries.history(s, q, max_points=5) == first
    _buy(tx, user.id, q.id, ids[0], spend=2)
    with db.session() as s:
        q = s.get(type(q), q.id)
        assert queries.history(s, q, max_points=5)[-1] == queries.history(s, q)[-1]


def test_a_kept_history_grows_by_the_new_trades_and_stays_a_sample(
    db, tx, make_user, make_question, monkeypatch
):
    q = make_question()
    user = make_user()
    with db.session() as s:
        yes = queries.outcomes_of(s, q.id)[0].id
    for _ in range(4):
        _buy(tx, user.id, q.id, yes, spend=1)
    queries._HISTORIES.clear()
    with db.session() as s:
        queries.history(s, s.get(type(q), q.id), max_points=6)  # kept: opening + 4 trades
    read_all = queries._read_history
    sampled_reads = []

    def spy(session, question, max_points):
        sampled_reads.append(max_points)
        return read_all(session, question, max_points)

    monkeypatch.setattr(queries, "_read_history", spy)
    for n in range(9):  # each new trade is read alone and appended, thinning the older points
        _buy(tx, user.id, q.id, yes, spend=1)
        with db.session() as s:
            fresh = s.get(type(q), q.id)
            sampled = queries.history(s, fresh, max_points=6)
            full = queries.history(s, fresh)
        assert len(full) == 6 + n
        assert 3 <= len(sampled) <= 6
        assert sampled[0] == full[0] and sampled[1] == full[1] and sampled[-1] == full[-1]
        assert all(p in full for p in sampled)
        assert [p["at"] for p in sampled] == sorted(p["at"] for p in sampled)
    (kept,) = queries._HISTORIES.values()
    assert kept.trade_count == 13 and len(kept.micros) <= 5
    assert 6 not in sampled_reads  # never sampled again from scratch: grown trade by trade


def test_a_join_shows_on_the_kept_leaderboard_at_once(db, make_user, public):
    make_user("first")

    def names() -> set[str]:
        with db.session() as s:
            comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
            return {r.username for r in queries.leaderboard(s, comp)}

    assert "first" in names()
    make_user("second")  # every new account joins the public competition
    assert {"first", "second"} <= names()
    with db.session() as s:
        comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
        count = len(s.exec(select(Membership).where(Membership.competition_id == comp.id)).all())
        assert comp.member_count == count


def _alices_trades(db, max_age: float) -> int:
    """Alice's trade count on the public leaderboard, as queries.leaderboard gives it."""
    with db.session() as s:
        comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
        board = queries.leaderboard(s, comp, max_age=max_age)
        return {r.username: r.trades for r in board}["alice"]


def _alice_on_a_slow_board(db, make_user, make_question, monkeypatch, *, recheck: float):
    """Alice, a question and its first outcome; every leaderboard counts as slow, and is
    asked whether it changed at most every ``recheck`` seconds."""
    q = make_question()
    alice = make_user("alice")
    with db.session() as s:
        yes = queries.outcomes_of(s, q.id)[0].id
    monkeypatch.setattr(queries, "SLOW_LEADERBOARD", 0.0)
    monkeypatch.setattr(queries, "RECHECK_SLOW", recheck)
    return alice, q, yes


def test_a_slow_leaderboard_is_redone_in_the_background_while_the_old_one_shows(
    db, tx, make_user, make_question, monkeypatch
):
    # every view asks whether the board changed
    alice, q, yes = _alice_on_a_slow_board(db, make_user, make_question, monkeypatch, recheck=0.0)

    assert _alices_trades(db, 3600) == 0
    _buy(tx, alice.id, q.id, yes)
    computed = []
    real = queries._compute_leaderboard
    monkeypatch.setattr(
        queries, "_compute_leaderboard", lambda *a, **k: computed.append(1) or real(*a, **k)
    )
    assert _alices_trades(db, 3600) == 0  # the kept board, at once; a thread redoes it
    for _ in range(200):
        if not queries._REFRESHING and computed:
            break
        time.sleep(0.01)
    assert computed == [1]
    assert _alices_trades(db, 3600) == 1  # the thread's board: no view computed it
    assert computed == [1]


def test_a_slow_leaderboard_is_checked_for_changes_at_most_once_a_recheck_period(
    db, tx, make_user, make_question, monkeypatch
):
    alice, q, yes = _alice_on_a_slow_board(
        db, make_user, make_question, monkeypatch, recheck=3600.0
    )
    asked = []  # by this thread (a refresh thread asks too, when it redoes the board)
    me, real = threading.get_ident(), queries._board_version
    monkeypatch.setattr(
        queries,
        "_board_version",
        lambda *a: (threading.get_ident() == me and asked.append(1)) or real(*a),
    )

    assert _alices_trades(db, 3600) == 0 and len(asked) == 1
    _buy(tx, alice.id, q.id, yes)
    assert _alices_trades(db, 3600) == 0 and len(asked) == 1  # shown again without a query
    assert _alices_trades(db, 0) == 1 and len(asked) == 2  # without max_age: asked, and exact
    monkeypatch.setattr(queries, "RECHECK_SLOW", 0.0)
    _buy(tx, alice.id, q.id, yes)
    _alices_trades(db, 3600)
    assert len(asked) == 3  # the period over: asked again (the db fixture awaits the refresh)


def test_kept_marks_equal_marks_made_afresh_after_every_kind_of_change(
    db, tx, make_user, make_question
):
    from forecast.services import resolution

    admin = make_user("admin", admin=True)
    players = [make_user(f"player{k}") for k in range(4)]
    qs = [make_question(title=f"Q{k}") for k in range(3)]
    mc = make_question(kind="multiple_choice", outcomes=["A", "B", "C"], title="MC")
    with db.session() as s:
        outs = {q.id: [o.id for o in queries.outcomes_of(s, q.id)] for q in [*qs, mc]}

    def kept_and_fresh() -> tuple[dict, dict]:
        with db.session() as s:
            comp = s.exec(select(Competition).where(Competition.slug == "public")).one()
            kept = queries.open_values(s, comp)
            queries._MARKS.clear()
            fresh = queries.open_values(s, comp)
            members = s.exec(select(Membership).where(Membership.competition_id == comp.id))
            each = {
                m.id: v
                for m in members
                if (v := queries.open_values(s, comp, member_id=m.id).get(m.id, 0))
            }
        return kept, fresh, each

    kept_and_fresh()  # marks kept from here on
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
    writes one) is not kept as a packed history, and the charts draw its missing
    outcomes at 0 instead of failing the home page and the question page."""
    from sqlalchemy import update

    from forecast.models import Trade

    q = _bought(db, tx, make_user, make_question, trades=3, spend=2)
    with db.session() as s:
        first = s.exec(select(Trade.id).where(Trade.question_id == q.id).order_by(Trade.id)).first()
        s.execute(update(Trade).where(Trade.id == first).values(probabilities={"0": 1.0}))
        s.commit()
    queries._HISTORIES.clear()
    assert client.get("/").status_code == 200
    assert client.get(f"/questions/{q.id}").status_code == 200
