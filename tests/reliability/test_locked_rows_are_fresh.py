"""A row read before it is locked must not keep its old values once locked.

SQLAlchemy's identity map keeps the attributes of an object it already
holds, even when a later SELECT ... FOR UPDATE returns a newer row.  On
PostgreSQL a wallet that a caller read (and still holds) before a resolution
locks and pays it would be paid on a stale balance, losing a trade that
committed in between.  SQLite serialises writers, so only PostgreSQL can
interleave like this.
"""

from __future__ import annotations

import pytest
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
