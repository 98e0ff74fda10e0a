"""Trading, resolution, cancel and undo through the services, on the test database."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlmodel import select

from forecast.market.money import UNIT, from_units
from forecast.models import LedgerEntry, Membership, Trade, utcnow
from forecast.services import audit, resolution, trading
from forecast.services.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from forecast.services.questions import outcomes_of


def balances(db) -> dict[int, int]:
    with db.session() as s:
        return {m.id: m.balance for m in s.exec(select(Membership))}


def ledger_rows(db) -> int:
    with db.session() as s:
        return len(list(s.exec(select(LedgerEntry))))


def outcome_ids(db, question) -> list[int]:
    with db.session() as s:
        return [o.id for o in outcomes_of(s, question.id)]


def place(tx, user, question, outcome, **order):
    return tx(
        lambda s: trading.trade(
            session=s,
            user_id=user.id,
            question_id=question.id,
            order=trading.parse_order(outcome_id=outcome, **order),
        )
    )


def assert_audit(db):
    with db.session() as s:
        assert audit.audit(session=s) == []


def test_spend_books_trade_position_and_ledger(db, tx, make_user, make_question):
    alice = make_user("alice")
    q = make_question()
    yes, _ = outcome_ids(db, q)
    result = place(tx, alice, q, yes, spend="50")
    assert result.trade.cost == 50 * UNIT
    assert result.trade.shares == 831_796
    assert result.balance == 950 * UNIT
    assert round(result.trade.probabilities[str(yes)], 4) == 0.6967
    assert_audit(db)


def test_sell_and_to_probability(db, tx, make_user, make_question):
    alice = make_user("alice")
    q = make_question()
    yes, no = outcome_ids(db, q)
    bought = place(tx, alice, q, yes, to_probability=0.8)
    assert abs(bought.trade.probabilities[str(yes)] - 0.8) < 1e-3
    assert bought.trade.forecast[str(yes)] == pytest.approx(0.8)
    down = place(tx, alice, q, yes, to_probability=0.6)
    assert down.trade.shares < 0 and down.trade.cost < 0
    sold = place(tx, alice, q, yes, sell=str(from_units(bought.trade.shares + down.trade.shares)))
    assert sold.trade.cost < 0
    with pytest.raises(Conflict) as e:
        place(tx, alice, q, yes, sell="1")
    assert e.value.code == "not_enough_shares"
    with pytest.raises(Conflict) as e:
        place(tx, alice, q, no, to_probability=0.2)  # selling NO she does not hold
    assert e.value.code == "not_enough_shares"
    assert_audit(db)


def test_max_spend_caps_a_to_probability_buy(db, tx, make_user, make_question):
    alice = make_user("alice")
    q = make_question()
    yes, _ = outcome_ids(db, q)
    r = place(tx, alice, q, yes, to_probability=0.9, max_spend="10")
    assert r.trade.cost == 10 * UNIT
    assert r.trade.probabilities[str(yes)] < 0.9


@pytest.mark.parametrize(
    "order, error",
    [
        ({"spend": -5}, Invalid),
        ({"spend": 0}, Invalid),
        ({"spend": float("nan")}, Invalid),
        ({"spend": float("inf")}, Invalid),
        ({"spend": "1e30"}, Invalid),
        ({"spend": "ten"}, Invalid),
        ({"spend": True}, Invalid),
        ({"spend": [1]}, Invalid),
        ({"sell": -1}, Invalid),
        ({"to_probability": 0}, Invalid),
        ({"to_probability": 1}, Invalid),
        ({"to_probability": 1.5}, Invalid),
        ({"to_probability": float("nan")}, Invalid),
        ({"spend": 5, "sell": 5}, Invalid),
        ({}, Invalid),
        ({"spend": 5, "max_spend": 3}, Invalid),
        ({"to_probability": 0.9, "max_spend": -3}, Invalid),
        ({"spend": 5000}, Conflict),  # more than the balance (or past the limit)
        ({"to_probability": 0.9999}, Conflict),
    ],
)
def test_bad_orders_change_nothing(db, tx, make_user, make_question, order, error):
    alice = make_user("alice")
    q = make_question()
    yes, _ = outcome_ids(db, q)
    before, rows = balances(db), ledger_rows(db)
    with pytest.raises(error):
        place(tx, alice, q, yes, **order)
    assert balances(db) == before and ledger_rows(db) == rows


def test_wrong_outcome_other_question_closed_and_non_member(db, tx, make_user, make_question):
    from forecast.services import competitions

    admin = make_user("admin")  # the first account is the site admin
    alice = make_user("alice")
    bob = make_user("bob")
    q = make_question()
    other = make_question(title="Another?")
    other_yes, _ = outcome_ids(db, other)
    yes, _ = outcome_ids(db, q)
    before = balances(db)
    with pytest.raises(NotFound):
        place(tx, alice, q, other_yes, spend=5)
    with pytest.raises(NotFound):
        place(tx, alice, q, 999_999, spend=5)
    with pytest.raises(NotFound):
        tx(
            lambda s: trading.trade(
                session=s,
                user_id=alice.id,
                question_id=424242,
                order=trading.parse_order(outcome_id=yes, spend=5),
            )
        )
    with pytest.raises(Invalid):
        place(tx, alice, q, "1", spend=5)
    private = tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=bob.id,
            name="Class",
            slug="class",
            starting_balance=100,
            is_listed=False,
        )
    )
    pq = make_question(competition=private)
    pyes, _ = outcome_ids(db, pq)
    with pytest.raises(NotFound):  # a private competition does not leak to a non-member
        place(tx, alice, pq, pyes, spend=5)
    listed = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=bob.id, name="Office", slug="office", starting_balance=100
        )
    )
    lq = make_question(competition=listed)
    lyes, _ = outcome_ids(db, lq)
    with pytest.raises(Forbidden):
        place(tx, alice, lq, lyes, spend=5)
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=admin.id, question_id=other.id, outcome_id=other_yes
        )
    )
    with pytest.raises(Conflict) as e:
        place(tx, alice, other, other_yes, spend=5)
    assert e.value.code == "question_not_open"
    assert {k: v for k, v in balances(db).items() if k in before} == before


def test_trade_after_close_time_is_refused_without_any_job(db, tx, make_user, make_question):
    alice = make_user("alice")
    q = make_question(close_at=utcnow() + timedelta(minutes=5))  # in the future when made
    yes, _ = outcome_ids(db, q)
    later = utcnow() + timedelta(minutes=10)
    with pytest.raises(Conflict) as e:
        tx(
            lambda s: trading.trade(
                session=s,
                user_id=alice.id,
                question_id=q.id,
                order=trading.parse_order(outcome_id=yes, spend=5),
                now=later,
            )
        )
    assert e.value.code == "question_not_open"


def test_idempotency_key(db, tx, make_user, make_question):
    alice = make_user("alice")
    q = make_question()
    yes, _ = outcome_ids(db, q)

    def go(key, spend):
        return tx(
            lambda s: trading.trade(
                session=s,
                user_id=alice.id,
                question_id=q.id,
                order=trading.parse_order(outcome_id=yes, spend=spend),
                idempotency_key=key,
            )
        )

    first = go("k1", 10)
    again = go("k1", 10)
    assert again.replayed and again.trade.id == first.trade.id and again.balance == first.balance
    with pytest.raises(Conflict) as e:
        go("k1", 11)
    assert e.value.code == "idempotency_key_reused"
    with db.session() as s:
        assert len(list(s.exec(select(Trade)))) == 1
    # The order's fingerprint is kept with a key, the only thing it is checked against.
    go(None, 10)
    with db.session() as s:
        hashes = [t.request_hash for t in s.exec(select(Trade).order_by(Trade.id))]
    assert hashes[0] == trading.parse_order(outcome_id=yes, spend=10).fingerprint(q.id)
    assert hashes[1] is None


def test_resolution_pays_winners_and_undo_restores_exactly(db, tx, make_user, make_question):
    admin = make_user("admin", admin=True)
    alice, bob = make_user("alice"), make_user("bob")
    q = make_question()
    yes, no = outcome_ids(db, q)
    place(tx, alice, q, yes, spend=100)
    place(tx, bob, q, no, spend=40)
    before = balances(db)
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=admin.id, question_id=q.id, outcome_id=yes, note="It happened"
        )
    )
    after = balances(db)
    assert after[2] > before[2] and after[3] == before[3]
    with pytest.raises(Conflict):
        tx(
            lambda s: resolution.resolve(
                session=s, user_id=admin.id, question_id=q.id, outcome_id=no
            )
        )
    assert_audit(db)
    tx(lambda s: resolution.undo(session=s, user_id=admin.id, question_id=q.id))
    assert balances(db) == before
    assert_audit(db)
    tx(lambda s: resolution.resolve(session=s, user_id=admin.id, question_id=q.id, outcome_id=no))
    assert balances(db)[3] > before[3]
    assert_audit(db)


def test_a_payout_books_a_row_per_holder_and_one_for_the_market_maker(
    db, tx, make_user, make_question
):
    """ledger.transfer_many: the market maker's side of a resolution is one row, their sum
    negated (a row per holder on both sides cost PostgreSQL a foreign-key check each)."""
    admin = make_user("admin", admin=True)
    players = [make_user() for _ in range(3)]
    q = make_question()
    yes, no = outcome_ids(db, q)
    for k, player in enumerate(players):
        place(tx, player, q, yes if k < 2 else no, spend=10 + k)
    tx(lambda s: resolution.resolve(session=s, user_id=admin.id, question_id=q.id, outcome_id=yes))
    tx(lambda s: resolution.undo(session=s, user_id=admin.id, question_id=q.id))
    with db.session() as s:
        rows = s.exec(select(LedgerEntry).where(LedgerEntry.kind.in_(["payout", "reversal"]))).all()
    for kind, sign in (("payout", 1), ("reversal", -1)):
        wallets = [r for r in rows if r.kind == kind and r.membership_id is not None]
        makers = [r for r in rows if r.kind == kind and r.membership_id is None]
        assert len(wallets) == 2 and all(sign * r.amount > 0 for r in wallets)  # yes holders
        assert [r.question_id for r in makers] == [q.id]
        assert makers[0].amount == -sum(r.amount for r in wallets)
        assert len({r.action_id for r in wallets + makers}) == 1
    assert_audit(db)


def test_cancel_restores_every_balance_exactly(db, tx, make_user, make_question):
    admin = make_user("admin", admin=True)
    players = [make_user() for _ in range(3)]
    q = make_question(kind="multiple_choice", outcomes=["A", "B", "C"])
    ids = outcome_ids(db, q)
    start = balances(db)
    place(tx, players[0], q, ids[0], spend=30)
    place(tx, players[1], q, ids[1], spend=70)
    r = place(tx, players[0], q, ids[0], spend=20)
    place(tx, players[0], q, ids[0], sell=str(from_units(r.trade.shares)))
    place(tx, players[2], q, ids[2], to_probability=0.5)
    tx(lambda s: resolution.cancel(session=s, user_id=admin.id, question_id=q.id, note="Ambiguous"))
    assert balances(db) == start
    assert_audit(db)
    tx(lambda s: resolution.undo(session=s, user_id=admin.id, question_id=q.id))
    assert balances(db) != start
    assert_audit(db)


def test_players_cannot_resolve(db, tx, make_user, make_question):
    make_user("admin")  # first account: admin
    alice = make_user("alice")
    q = make_question()
    yes, _ = outcome_ids(db, q)
    for fn in (
        lambda s: resolution.resolve(session=s, user_id=alice.id, question_id=q.id, outcome_id=yes),
        lambda s: resolution.cancel(session=s, user_id=alice.id, question_id=q.id),
        lambda s: resolution.undo(session=s, user_id=alice.id, question_id=q.id),
    ):
        with pytest.raises(Forbidden):
            tx(fn)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_conservation_under_random_play(db, tx, make_user, make_question, seed):
    rng = random.Random(seed)
    admin = make_user("admin", admin=True)
    players = [make_user() for _ in range(5)]
    qs = [
        make_question(),
        make_question(kind="multiple_choice", outcomes=["A", "B", "C", "D"], liquidity=50),
        make_question(liquidity=20, initial_probabilities=[0.3, 0.7]),
    ]
    outs = {q.id: outcome_ids(db, q) for q in qs}
    for _ in range(60):
        q = rng.choice(qs)
        p = rng.choice(players)
        o = rng.choice(outs[q.id])
        op = rng.random()
        try:
            if op < 0.45:
                place(tx, p, q, o, spend=round(rng.uniform(0.01, 80), 4))
            elif op < 0.65:
                place(tx, p, q, o, sell=round(rng.uniform(0.01, 60), 4))
            elif op < 0.85:
                place(
                    tx,
                    p,
                    q,
                    o,
                    to_probability=round(rng.uniform(0.02, 0.98), 3),
                    **({"max_spend": 25} if rng.random() < 0.5 else {}),
                )
            elif op < 0.92:
                tx(
                    lambda s: resolution.resolve(
                        session=s, user_id=admin.id, question_id=q.id, outcome_id=o
                    )
                )
            elif op < 0.96:
                tx(lambda s: resolution.cancel(session=s, user_id=admin.id, question_id=q.id))
            else:
                tx(lambda s: resolution.undo(session=s, user_id=admin.id, question_id=q.id))
        except DomainError:
            pass
        assert_audit(db)


def test_the_market_holds_the_outcomes_in_order_with_the_callers_positions(
    db, tx, make_user, make_question
):
    alice = make_user("alice")
    q = make_question()
    yes, no = outcome_ids(db, q)
    place(tx, alice, q, yes, spend=5)
    with db.session() as s:
        market = trading.open_market(s, alice.id, q.id)
        assert [o.id for o in market.outcomes] == [yes, no]
        assert market.outcomes[0].shares > 0 and market.outcomes[1].position_id is None
        assert market.member.balance == 995 * 10_000


@pytest.mark.parametrize("bad", [True, "1", 1.0, None, 0, -1, 2**31, 2**63, 2**64])
def test_a_question_id_no_question_could_have_is_not_found(bad):
    """access.question_id_of, the one check every use case and page makes of a question
    id: an int from 1 to the 32-bit column's largest; anything else is no such question."""
    from forecast.services import access

    with pytest.raises(NotFound):
        access.question_id_of(bad)
    assert access.question_id_of(1) == 1
    assert access.question_id_of(access.MAX_QUESTION_ID) == 2**31 - 1
