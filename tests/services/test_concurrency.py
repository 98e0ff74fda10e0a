"""Two requests can never spend the same points: real parallel connections."""

from __future__ import annotations

import threading
import time

import pytest
from sqlmodel import Session, select

from forecast.market.money import UNIT
from forecast.models import Competition, LedgerEntry, Membership, Question, Trade
from forecast.services import audit, trading
from forecast.services.errors import Conflict
from forecast.services.questions import outcomes_of


def test_fifty_simultaneous_spends_only_ten_succeed(db, make_user, make_question):
    alice = make_user("alice")  # 1,000 points: ten spends of 100
    q = make_question(liquidity=100_000)
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    barrier = threading.Barrier(50)
    results: list[str] = []
    lock = threading.Lock()

    def spend():
        barrier.wait()
        try:
            db.transaction(
                lambda s: trading.trade(
                    session=s,
                    user_id=alice.id,
                    question_id=q.id,
                    order=trading.parse_order(outcome_id=yes, spend=100),
                )
            )
            outcome = "ok"
        except Conflict as e:
            outcome = e.code
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=spend) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results.count("ok") == 10, results
    assert results.count("insufficient_balance") == 40, results
    with db.session() as s:
        member = s.exec(select(Membership).where(Membership.user_id == alice.id)).one()
        assert member.balance == 0
        assert len(list(s.exec(select(Trade)))) == 10
        assert audit.audit(session=s) == []
    assert 100 * UNIT * 10 == 1000 * UNIT


def test_trades_on_two_questions_and_a_resolution_do_not_deadlock(db, make_user, make_question):
    from forecast.services import resolution

    admin = make_user("admin")
    players = [make_user() for _ in range(6)]
    qs = [make_question(liquidity=1000), make_question(liquidity=1000)]
    with db.session() as s:
        outs = {q.id: [o.id for o in outcomes_of(s, q.id)] for q in qs}
    barrier = threading.Barrier(len(players) * 2 + 1)
    errors: list[BaseException] = []

    def play(p, q):
        barrier.wait()
        for k in range(5):
            try:
                db.transaction(
                    lambda s: trading.trade(
                        session=s,
                        user_id=p.id,
                        question_id=q.id,
                        order=trading.parse_order(outcome_id=outs[q.id][k % 2], spend=5),
                    )
                )
            except Conflict:
                pass
            except BaseException as e:  # a deadlock or anything unexpected fails the test
                errors.append(e)

    def resolve():
        barrier.wait()
        try:
            db.transaction(
                lambda s: resolution.resolve(
                    session=s, user_id=admin.id, question_id=qs[0].id, outcome_id=outs[qs[0].id][0]
                )
            )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=play, args=(p, q)) for p in players for q in qs]
    threads.append(threading.Thread(target=resolve))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with db.session() as s:
        assert audit.audit(session=s) == []


def test_closing_a_competition_waits_for_an_undo_in_flight(
    db, make_user, make_question, is_postgres
):
    """An undo that began before the close finishes first, so its reversal is before the end.

    Otherwise the reversal would land after closed_at while the question is
    closed again, and the final standings would count the payout and the
    position both (see resolution.undo).  SQLite has one writer at a time anyway.
    """
    from forecast.services import competitions, resolution

    if not is_postgres:
        pytest.skip("row locks: PostgreSQL only")
    owner, player = make_user("owner"), make_user("player")
    comp = db.transaction(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Club", slug="club", starting_balance=100
        )
    )
    db.transaction(
        lambda s: competitions.join(session=s, user_id=player.id, slug="club", code=comp.join_code)
    )
    q = make_question(competition=comp, user_id=owner.id)
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    order = trading.parse_order(outcome_id=yes, spend=10)
    db.transaction(
        lambda s: trading.trade(session=s, user_id=player.id, question_id=q.id, order=order)
    )
    db.transaction(
        lambda s: resolution.resolve(session=s, user_id=owner.id, question_id=q.id, outcome_id=yes)
    )

    closed = threading.Event()
    errors: list[BaseException] = []

    def close():
        try:
            db.transaction(
                lambda s: competitions.close_competition(session=s, user_id=owner.id, slug="club")
            )
            closed.set()
        except BaseException as e:
            errors.append(e)

    with Session(db.write_engine, expire_on_commit=False) as s:
        # The undo has made its check (the competition is open) but written nothing yet...
        resolution._refuse_if_in_final_standings(s, s.get(Question, q.id))
        t = threading.Thread(target=close)
        t.start()
        time.sleep(0.5)  # ...when the owner closes it
        assert not closed.is_set()  # the close waits for the undo
        resolution.undo(session=s, user_id=owner.id, question_id=q.id)
        s.commit()
    t.join(timeout=60)
    assert errors == [] and closed.is_set()
    with db.session() as s:
        end = s.get(Competition, comp.id).closed_at
        reversals = s.exec(select(LedgerEntry).where(LedgerEntry.kind == "reversal")).all()
        assert reversals and all(r.created_at <= end for r in reversals)
