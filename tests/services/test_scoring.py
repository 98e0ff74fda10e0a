"""Brier scores and calibration against numbers computed by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from forecast.market.scoring import brier, calibration, time_averaged_brier
from forecast.models import Membership, Score, utcnow
from forecast.services import accuracy, resolution, standings, trading
from forecast.services.questions import outcomes_of


def test_brier_by_hand():
    assert brier({1: 0.8, 2: 0.2}, 1) == pytest.approx(0.08)
    assert brier({1: 0.6, 2: 0.4}, 1) == pytest.approx(0.32)
    assert brier({1: 0.0, 2: 1.0}, 1) == pytest.approx(2.0)


def test_time_average_by_hand():
    t0 = utcnow()
    forecasts = [(t0, {1: 0.8, 2: 0.2}), (t0 + timedelta(hours=1), {1: 0.6, 2: 0.4})]
    # 1 h at 0.08, then 3 h at 0.32: (0.08 + 0.96) / 4
    assert time_averaged_brier(forecasts, 1, t0 + timedelta(hours=4)) == pytest.approx(0.26)
    assert time_averaged_brier(forecasts, 1, t0 - timedelta(hours=1)) is None
    assert time_averaged_brier(forecasts[:1], 1, t0) == pytest.approx(0.08)


def test_calibration_buckets_by_hand():
    buckets = calibration([(0.05, False), (0.15, True), (0.12, False), (0.95, True), (1.0, True)])
    assert [b.count for b in buckets] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert buckets[1].frequency == 0.5 and buckets[9].frequency == 1.0
    assert buckets[2].frequency is None


def _trade(tx, user, q, outcome, when, **order):
    return tx(
        lambda s: trading.trade(
            session=s,
            user_id=user.id,
            question_id=q.id,
            now=when,
            order=trading.parse_order(outcome_id=outcome, **order),
        )
    )


def test_scores_recorded_at_resolution_and_removed_on_undo(db, tx, make_user, make_question):
    admin = make_user("admin")
    alice, bob = make_user("alice"), make_user("bob")
    t0 = utcnow() + timedelta(days=1)
    q = make_question(close_at=t0 + timedelta(hours=4))
    with db.session() as s:
        yes, no = [o.id for o in outcomes_of(s, q.id)]
    _trade(tx, alice, q, yes, t0, to_probability=0.8)
    _trade(tx, alice, q, yes, t0 + timedelta(hours=1), to_probability=0.6)
    _trade(tx, bob, q, no, t0 + timedelta(hours=2), to_probability=0.9)  # YES at 0.1
    tx(
        lambda s: resolution.resolve(
            session=s,
            user_id=admin.id,
            question_id=q.id,
            outcome_id=yes,
            now=t0 + timedelta(hours=5),
        )
    )
    with db.session() as s:
        scores = {sc.membership_id: sc.brier for sc in s.exec(select(Score))}
        alice_m = s.exec(select(Membership).where(Membership.user_id == alice.id)).one()
        bob_m = s.exec(select(Membership).where(Membership.user_id == bob.id)).one()
        assert scores[alice_m.id] == pytest.approx(0.26, abs=1e-9)
        # Bob: YES 0.1, NO 0.9 for 2 h to the close: 0.81 + 0.81
        assert scores[bob_m.id] == pytest.approx(1.62, abs=1e-9)
        board = {st.username: st for st in standings.leaderboard(s, queries_public(s), by="brier")}
        assert board["alice"].rank == 1 and board["alice"].scored == 1
        assert board["admin"].brier is None and board["admin"].scored == 0
        hist = accuracy.brier_history(s, alice_m)
        assert [round(h.brier, 6) for h in hist] == [0.26]
        # Alice's last forecast before the close: YES at 0.6, and YES happened
        assert accuracy.calibration_pairs(s, alice_m) == [(pytest.approx(0.6), True)]
        assert accuracy.member_calibration(s, bob_m)[1].count == 1  # 0.1 -> the 10-20% bucket
    tx(lambda s: resolution.undo(session=s, user_id=admin.id, question_id=q.id))
    with db.session() as s:
        assert list(s.exec(select(Score))) == []


def test_cancelled_question_scores_nothing(db, tx, make_user, make_question):
    admin = make_user("admin")
    alice = make_user("alice")
    q = make_question()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    _trade(tx, alice, q, yes, utcnow(), spend=10)
    tx(lambda s: resolution.cancel(session=s, user_id=admin.id, question_id=q.id))
    with db.session() as s:
        assert list(s.exec(select(Score))) == []


def queries_public(s):
    from forecast.services.access import get_competition

    return get_competition(s, "public")
