"""A row read before it is locked must not keep its old values once locked.

SQLAlchemy's identity map keeps the attributes of an object it already
holds, even when a later SELECT ... FOR UPDATE returns a newer row.  On
PostgreSQL a wallet that a caller read (and still holds) before a resolution
locks and pays it would be paid on a stale balance, losing a trade that
committed in between.  SQLite serialises writers, so only PostgreSQL can
interleave like this.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlmodel import Session

from forecast.services import access, audit, competitions, resolution, trading
from forecast.services.questions import outcomes_of


def test_a_resolution_pays_on_the_wallet_as_locked_not_as_first_read(
    db, tx, make_user, make_question, is_postgres
):
    if not is_postgres:
        pytest.skip("only PostgreSQL lets two writers interleave")
    make_user("admin")
    owner = make_user("owner")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="C", slug="c", starting_balance=1000
        )
    )
    a = make_question(competition=comp, liquidity=1000, title="A?")
    b = make_question(competition=comp, liquidity=1000, title="B?")
    with db.session() as s:
        a_yes = outcomes_of(s, a.id)[0].id
        b_yes = outcomes_of(s, b.id)[0].id

    def buy(question_id, outcome_id):
        return tx(
            lambda s: trading.trade(
                session=s,
                user_id=owner.id,
                question_id=question_id,
                order=trading.parse_order(outcome_id=outcome_id, spend=100),
            )
        )

    bought = buy(a.id, a_yes).trade.shares
    with Session(db.write_engine, expire_on_commit=False) as s:
        # A request reads the owner's wallet (to show it, to check a role) and keeps it ...
        wallet = access.membership(s, owner.id, comp.id)
        assert wallet.balance == 900 * 10_000
        # ... another request's trade commits ...
        buy(b.id, b_yes)
        # ... and this request resolves A, which locks and pays that wallet.
        resolution.resolve(session=s, user_id=owner.id, question_id=a.id, outcome_id=a_yes)
        s.commit()
    with db.session() as s:
        assert audit.audit(session=s) == []
        assert access.membership(s, owner.id, comp.id).balance == 800 * 10_000 + bought


@pytest.mark.parametrize("first", ["alice", "bob"])
def test_a_trade_that_waited_for_its_lock_reads_what_the_trade_before_left(
    db, tx, make_user, make_question, is_postgres, first
):
    """A trade that waited for its locks (trading.open_market) while another trade
    committed (alice's own, or bob's on the same question) must see the market's q
    and, after her own sale, her shares as that trade left them."""
    if not is_postgres:
        pytest.skip("only PostgreSQL lets two writers interleave")
    users = {"alice": make_user("alice"), "bob": make_user("bob")}
    alice = users["alice"]
    q = make_question()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id

    def order(**kw):  # noqa: ANN003, ANN202
        return trading.parse_order(outcome_id=yes, **kw)

    for user in users.values():
        tx(
            lambda s, u=user: trading.trade(
                session=s, user_id=u.id, question_id=q.id, order=order(spend=50)
            )
        )
    with db.session() as s:
        held = trading.open_market(s, alice.id, q.id).outcomes[0].shares
    seen: dict[str, object] = {}
    ready = threading.Event()

    def open_after_the_first() -> None:
        try:
            with Session(db.write_engine) as s2:
                seen["pid"] = _backend_pid(s2)
                ready.set()
                try:
                    seen["market"] = trading.open_market(s2, alice.id, q.id)
                finally:
                    s2.rollback()
        except BaseException as e:  # noqa: BLE001 - raised again in the test's thread
            seen["error"] = e
            ready.set()

    second = threading.Thread(target=open_after_the_first, daemon=True)
    with Session(db.write_engine) as s1:
        sold = trading.trade(
            session=s1, user_id=users[first].id, question_id=q.id, order=order(sell=40)
        )
        assert sold.trade.shares == -40 * 10_000 and held > 40 * 10_000
        second.start()
        assert ready.wait(5) and "error" not in seen
        _wait_until_blocked(db, seen["pid"], by=_backend_pid(s1))
        s1.commit()
    second.join(10)
    assert not second.is_alive()
    if "error" in seen:
        raise seen["error"]
    market = seen["market"]
    assert market.outcomes[0].id == yes
    assert market.outcomes[0].q == next(o.q for o in _fresh_outcomes(db, q.id) if o.id == yes)
    if first == "alice":
        assert market.outcomes[0].shares == held - 40 * 10_000  # not `held`
        assert market.member.balance == sold.balance
    else:
        assert market.outcomes[0].shares == held


def _backend_pid(session: Session) -> int:
    return session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()


def _wait_until_blocked(db, pid: int, *, by: int) -> None:  # noqa: ANN001
    """Until PostgreSQL backend ``pid`` waits for a lock that backend ``by`` holds (or 5 s)."""
    deadline = time.monotonic() + 5
    with db.write_engine.connect() as conn:
        while time.monotonic() < deadline:
            blocked = conn.execute(
                text("SELECT CAST(:by AS integer) = ANY(pg_blocking_pids(:pid))"),
                {"by": by, "pid": pid},
            ).scalar()
            conn.rollback()
            if blocked:
                return
            time.sleep(0.01)
    raise AssertionError("the second trade never waited for the first's lock")


def _fresh_outcomes(db, question_id: int):  # noqa: ANN001, ANN202
    with db.session() as s:
        return outcomes_of(s, question_id)
