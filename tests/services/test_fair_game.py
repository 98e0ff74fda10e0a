"""A fair game through the services: liquidity from the starting balance, end dates that
stop trading, and the debt an undo leaves when a payout was spent (docs/debts.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from forecast.market.liquidity import default_liquidity
from forecast.market.money import UNIT
from forecast.models import Competition, Membership, Question, utcnow
from forecast.services import audit, competitions, moderation, packs, resolution, standings, trading
from forecast.services.errors import Conflict, Invalid
from forecast.services.questions import outcomes_of


def _comp(tx, owner, slug="club", balance="500", **kw):
    return tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=owner.id,
            name=slug.title(),
            slug=slug,
            starting_balance=balance,
            **kw,
        )
    )


def _outcomes(db, question):
    with db.session() as s:
        return [o.id for o in outcomes_of(s, question.id)]


def _member(db, user, comp) -> Membership:
    with db.session() as s:
        return s.exec(
            select(Membership).where(
                Membership.user_id == user.id, Membership.competition_id == comp.id
            )
        ).one()


def _audit_clean(db):
    with db.session() as s:
        assert audit.audit(session=s) == []


# ---------------------------------------------------------------- liquidity


def test_a_question_without_liquidity_takes_the_competitions_default(
    db, make_user, tx, make_question, buy
):
    owner = make_user()
    comp = _comp(tx, owner, balance="500")
    q = make_question(competition=comp, liquidity=None)
    assert q.liquidity == default_liquidity(500 * UNIT)
    given = make_question(competition=comp, liquidity=250)
    assert given.liquidity == 250 * UNIT
    # one player's whole starting balance moves it from 50% to at most 75%
    player = make_user()
    tx(lambda s: competitions.join(session=s, user_id=player.id, slug="club", code=comp.join_code))
    yes, _ = _outcomes(db, q)
    result = buy(player, q, yes, spend="500")
    assert result.trade.probabilities[str(yes)] <= 0.75


def test_the_shipped_pack_takes_the_default_and_a_pack_may_say_otherwise(db, make_user, tx):
    owner = make_user()
    comp = _comp(tx, owner, balance="2000")
    created = tx(
        lambda s: packs.load(session=s, text=packs.seed_text(), competition=comp, user_id=owner.id)
    )
    assert created and {q.liquidity for q in created} == {default_liquidity(2000 * UNIT)}
    text = """
pack: mine
questions:
  - key: one
    title: Will it?
    close_at: 2099-01-01T00:00:00Z
    liquidity: 75
  - key: two
    title: Will it too?
    close_at: 2099-01-01T00:00:00Z
"""
    mine = tx(lambda s: packs.load(session=s, text=text, competition=comp, user_id=owner.id))
    assert [q.liquidity for q in mine] == [75 * UNIT, default_liquidity(2000 * UNIT)]


def test_existing_questions_keep_their_liquidity(db, make_question, tx):
    q = make_question(liquidity=100)
    with db.session() as s:
        assert s.get(Question, q.id).liquidity == 100 * UNIT


# ---------------------------------------------------------------- end dates


def test_an_end_date_in_the_past_is_refused(make_user, tx):
    owner = make_user()
    with pytest.raises(Invalid) as e:
        _comp(tx, owner, end_at=utcnow() - timedelta(minutes=1))
    assert e.value.field == "end_at"
    comp = _comp(tx, owner, end_at=utcnow() + timedelta(days=3))
    assert comp.end_at is not None


def test_trading_stops_at_the_competitions_end_date(db, make_user, tx, make_question, buy):
    owner, player = make_user(), make_user()
    comp = _comp(tx, owner, end_at=utcnow() + timedelta(days=1))
    tx(lambda s: competitions.join(session=s, user_id=player.id, slug="club", code=comp.join_code))
    q = make_question(competition=comp, close_at=utcnow() + timedelta(days=30))
    yes, _ = _outcomes(db, q)
    buy(player, q, yes, spend="10")
    with pytest.raises(Conflict) as e:  # checked in the trade, at the trade's time
        tx(
            lambda s: trading.trade(
                session=s,
                user_id=player.id,
                question_id=q.id,
                order=trading.parse_order(outcome_id=yes, spend="10"),
                now=utcnow() + timedelta(days=2),
            )
        )
    assert e.value.code == "question_not_open"
    with db.session() as s:  # the end date passes
        s.execute(
            update(Competition)
            .where(Competition.id == comp.id)
            .values(end_at=utcnow() - timedelta(seconds=1))
        )
        s.commit()
    for order in ({"spend": "10"}, {"sell": "1"}):
        with pytest.raises(Conflict) as e:
            buy(player, q, yes, **order)
        assert e.value.code == "question_not_open"
    _audit_clean(db)


def test_an_ended_competition_takes_no_new_questions(db, make_user, tx, make_question):
    owner = make_user()
    comp = _comp(tx, owner)
    make_question(competition=comp)
    tx(lambda s: competitions.close_competition(session=s, user_id=owner.id, slug="club"))
    with pytest.raises(Conflict) as e:
        make_question(competition=comp)
    assert e.value.code == "competition_closed"
    with pytest.raises(Conflict):
        tx(
            lambda s: packs.load(
                session=s, text=packs.seed_text(), competition=comp, user_id=owner.id
            )
        )


# ---------------------------------------------------------------- debts


def _spent_payout(db, tx, make_user, make_question, buy):
    """Alice wins 'first', spends the payout on 'second'; the moderator may then undo."""
    owner, alice, bob = make_user("mod"), make_user("alice"), make_user("bob")
    comp = _comp(tx, owner, balance="100")
    for p in (alice, bob):
        tx(
            lambda s, p=p: competitions.join(
                session=s, user_id=p.id, slug="club", code=comp.join_code
            )
        )
    first = make_question(competition=comp, liquidity=50, title="First?")
    second = make_question(competition=comp, liquidity=5000, title="Second?")
    yes1, no1 = _outcomes(db, first)
    yes2, _ = _outcomes(db, second)
    buy(alice, first, yes1, spend="90")
    buy(bob, first, no1, spend="10")
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=owner.id, question_id=first.id, outcome_id=yes1
        )
    )
    paid = _member(db, alice, comp).balance
    assert paid > 100 * UNIT
    buy(alice, second, yes2, spend=str(paid // UNIT))  # spends nearly all of it
    return owner, alice, bob, comp, first, second, yes2


def test_the_undo_preview_names_every_player_it_would_put_in_debt(
    db, tx, make_user, make_question, buy
):
    owner, alice, bob, comp, first, _, _ = _spent_payout(db, tx, make_user, make_question, buy)
    before = _member(db, alice, comp).balance
    with db.session() as s:
        preview = moderation.undo_preview(s, s.get(Question, first.id))
    [debt] = preview.debts  # bob lost: the undo takes nothing from him
    taken = -next(m.amount for m in preview.moves if m.username == "alice")
    assert debt.username == "alice" and debt.balance == before
    assert debt.after == before - taken < 0 and debt.owed == taken - before
    tx(lambda s: resolution.undo(session=s, user_id=owner.id, question_id=first.id))
    assert _member(db, alice, comp).balance == debt.after
    _audit_clean(db)


def test_a_debt_blocks_buying_allows_selling_and_counts_on_the_leaderboard(
    db, tx, make_user, make_question, buy
):
    owner, alice, bob, comp, first, second, yes2 = _spent_payout(
        db, tx, make_user, make_question, buy
    )
    tx(lambda s: resolution.undo(session=s, user_id=owner.id, question_id=first.id))
    debt = _member(db, alice, comp).balance
    assert debt < 0
    with pytest.raises(Conflict) as e:
        buy(alice, second, yes2, spend="1")
    assert e.value.code == "insufficient_balance"
    assert "You owe" in e.value.message and "sell" in e.value.message
    with pytest.raises(Conflict):
        buy(alice, second, yes2, to_probability=0.99)
    # a sell repays it
    sold = buy(alice, second, yes2, sell="10")
    assert sold.balance == debt - sold.trade.cost > debt
    with db.session() as s:
        board = {row.username: row for row in standings.leaderboard(s, s.get(Competition, comp.id))}
        member = _member(db, alice, comp)
        assert board["alice"].balance == member.balance < 0
        assert board["alice"].net_worth == standings.member_net_worth(s, member)
    # resolving again pays the holders of the winner: alice's debt is repaid
    yes1, _ = _outcomes(db, first)
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=owner.id, question_id=first.id, outcome_id=yes1
        )
    )
    assert _member(db, alice, comp).balance > 0
    buy(alice, second, yes2, spend="1")
    _audit_clean(db)
