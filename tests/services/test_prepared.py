"""db.Prepared runs a trade's statements on the DBAPI cursor: the same values in and out
as SQLAlchemy's own execution, and the same errors."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from forecast.db import Prepared
from forecast.models import Membership, Trade, User, utcnow
from forecast.services import trading
from forecast.services.questions import outcomes_of


def test_reads_match_sqlalchemy_row_for_row(db, tx, make_user, make_question):
    alice = make_user("alice")
    make_user("bob")  # a member who never traded: no last trade time to read
    q = make_question()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    tx(
        lambda s: trading.trade(
            session=s,
            user_id=alice.id,
            question_id=q.id,
            order=trading.parse_order(outcome_id=yes, spend="5"),
        )
    )
    with db.session() as s:
        member_id = trading.open_market(s, alice.id, q.id).member.id
        for stmt, params in (
            (trading._LOCK_SQL, {"qid": q.id, "uid": alice.id}),
            (trading._OUTCOMES_SQL, {"qid": q.id, "mid": member_id}),
        ):
            expected = [tuple(r) for r in s.execute(stmt, params).all()]
            got = Prepared(stmt).rows(s, params)
            assert got == expected and got
            assert [type(v) for v in got[0]] == [type(v) for v in expected[0]]
        close_at = Prepared(trading._LOCK_SQL).first(s, {"qid": q.id, "uid": alice.id})[3]
        assert close_at.tzinfo is not None  # aware UTC, as the column type gives it
        assert Prepared(trading._LOCK_SQL).first(s, {"qid": q.id, "uid": 10**6}) is None


def test_a_written_row_reads_back_through_the_orm_unchanged(db, tx, make_user, make_question):
    alice = make_user("alice")
    q = make_question()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
        member_id = trading.open_market(s, alice.id, q.id).member.id
    now = utcnow()
    row = dict(
        question_id=q.id,
        membership_id=member_id,
        user_id=alice.id,
        outcome_id=yes,
        kind="spend",
        shares=7,
        cost=3,
        balance_after=0,
        probabilities={str(yes): 0.25},
        forecast={str(yes): 0.5},
        idempotency_key=None,
        request_hash="h",
        created_at=now,
    )
    new_id = tx(lambda s: Prepared(insert(Trade.__table__), column_keys=list(row)).write(s, row))
    with db.session() as s:
        t = s.get(Trade, new_id)
        assert t.probabilities == {str(yes): 0.25} and t.forecast == {str(yes): 0.5}
        assert t.created_at == now and t.kind == "spend" and t.shares == 7


def test_driver_errors_come_out_as_sqlalchemy_errors(db, tx, make_user):
    make_user("alice")
    stmt = Prepared(
        insert(User.__table__),
        column_keys=["username", "password_hash", "is_admin", "is_active", "created_at"],
    )
    row = dict(username="alice", password_hash="x", is_admin=False, is_active=True)
    with pytest.raises(IntegrityError):
        tx(lambda s: stmt.write(s, {**row, "created_at": utcnow()}))


def test_python_side_defaults_are_refused_rather_than_written_as_null(db):
    with db.session() as s, pytest.raises(ValueError, match="defaults"):
        Prepared(insert(User.__table__), column_keys=["username"]).write(s, {"username": "x"})


def test_a_token_is_read_outside_any_transaction_on_a_connection_given_back_as_it_was(
    db, tx, make_user
):
    from forecast.services import accounts

    alice = make_user("alice")
    _, plain = tx(lambda s: accounts.create_token(session=s, user_id=alice.id))
    caller = accounts.api_caller(db, plain)
    assert (caller.id, caller.username) == (alice.id, "alice")
    assert accounts.api_caller(db, plain + "x") is None
    if not db.is_sqlite:
        pooled = db.engine.raw_connection()
        try:  # the pool hands out connections in their usual mode, with no transaction open
            conn = pooled.dbapi_connection
            assert conn.autocommit is False
            assert conn.info.transaction_status == 0  # IDLE
        finally:
            pooled.close()


def test_a_missing_parameter_is_an_error_not_a_null(db, tx):
    from sqlalchemy.exc import InvalidRequestError

    with db.session() as s, pytest.raises(InvalidRequestError, match="uid"):
        Prepared(trading._LOCK_SQL).first(s, {"qid": 1})


def test_a_dead_connection_is_an_operational_error_and_never_pooled_again(
    db, is_postgres, make_user, tx, monkeypatch
):
    if not is_postgres:
        pytest.skip("a PostgreSQL backend to kill")
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.pool import NullPool

    import forecast.db
    from forecast.services import accounts

    alice = make_user("alice")
    _, plain = tx(lambda s: accounts.create_token(session=s, user_id=alice.id))
    monkeypatch.setattr(forecast.db, "PING_AFTER", 3600.0)  # hand it out unpinged
    db.engine.dispose()  # one pooled connection from here on: the one the reads use
    assert accounts.api_caller(db, plain) is not None
    with db.engine.connect() as conn:  # the pooled connection the read used
        victim = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    killer = create_engine(db.url, poolclass=NullPool)
    with killer.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": victim})
    killer.dispose()
    with pytest.raises(OperationalError) as e:
        accounts.api_caller(db, plain)
    assert e.value.connection_invalidated
    assert accounts.api_caller(db, plain).id == alice.id  # a fresh connection


def test_many_rows_at_once_read_back_as_given_constant_columns_included(db, tx, make_user):
    """db.insert_many and update_many (PostgreSQL: unnest arrays, a column holding one value
    for every row sent once as a scalar; elsewhere executemany) write exactly the rows given."""
    from forecast.db import insert_many, update_many
    from forecast.models import Competition, LedgerEntry

    alice, bob = make_user("alice"), make_user("bob")
    at = utcnow()
    with db.session() as s:
        comp_id = s.exec(select(Competition.id)).first()
        members = [
            s.exec(select(Membership.id).where(Membership.user_id == u.id)).one()
            for u in (alice, bob)
        ]
    rows = [
        dict(
            competition_id=comp_id,
            membership_id=m,
            question_id=None,
            amount=a,
            kind="grant",
            trade_id=None,
            action_id=None,
            created_at=at,
        )
        for m, a in zip(members * 2, (5, -7, 11, 0), strict=True)
    ]

    def write(s):
        ids = [r[0] for r in insert_many(s, LedgerEntry.__table__, rows, returning=["id"])]
        wallets = [{"id": m, "questions_traded": 3} for m in members]  # one value for all
        update_many(s, Membership.__table__, "id", wallets)
        return ids

    ids = tx(write)
    with db.session() as s:
        got = s.exec(select(LedgerEntry).where(LedgerEntry.id.in_(ids))).all()
    assert sorted((e.membership_id, e.amount) for e in got) == sorted(
        (r["membership_id"], r["amount"]) for r in rows
    )
    assert {(e.competition_id, e.kind, e.question_id, e.created_at) for e in got} == {
        (comp_id, "grant", None, at)
    }
    with db.session() as s:
        counts = s.exec(select(Membership.questions_traded).where(Membership.id.in_(members)))
        assert set(counts.all()) == {3}


def test_the_connection_is_asked_once_per_transaction(db, make_user, monkeypatch):
    """Prepared finds the session's connection once per transaction (db._connection), and
    a session's next transaction asks again, whatever connection the pool hands it."""
    make_user("alice")
    stmt = Prepared(select(User.id).where(User.username == bindparam("u")))
    asked = []
    real = Session.connection
    monkeypatch.setattr(
        Session, "connection", lambda self, *a, **k: asked.append(1) or real(self, *a, **k)
    )
    with db.session() as s:
        first = [stmt.first(s, {"u": "alice"}) for _ in range(3)]
        assert len(asked) == 1 and first[0] == first[2] and first[0] is not None
        kept = s.info["forecast_connection"]
        s.commit()
        assert stmt.first(s, {"u": "alice"}) == first[0]
        assert len(asked) == 2 and s.info["forecast_connection"][0] is not kept[0]
        s.rollback()
        assert stmt.first(s, {"u": "nobody"}) is None and len(asked) == 3


def test_a_question_page_read_matches_the_orm(db, tx, make_user, make_question):
    """questions.viewable_with_outcomes: the question and competition as db.detached objects
    with every column the ORM loads, its outcomes in order; private ones for members only."""
    from forecast.services import access, competitions, questions
    from forecast.services.errors import NotFound

    make_user("admin")
    alice, bob = make_user("alice"), make_user("bob")
    q = make_question(kind="multiple_choice", outcomes=["Red", "Green", "Blue"])
    with db.session() as s:
        got_q, got_c, outcomes = questions.viewable_with_outcomes(s, None, q.id)
        orm_q, orm_c = access.viewable_question_and_competition(s, None, q.id)
        assert outcomes == questions.outcome_rows(s, q.id) and len(outcomes) == 3
        for got, orm in ((got_q, orm_q), (got_c, orm_c)):
            assert type(got) is type(orm) and got is not orm
            assert got.model_dump() == orm.model_dump()
        assert got_q not in s  # in no session: nothing to flush
    club = tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=bob.id,
            name="Club",
            slug="club",
            starting_balance=100,
            is_listed=False,
        )
    )
    private = make_question(competition=club)
    with db.session() as s:
        assert questions.viewable_with_outcomes(s, bob.id, private.id)[0].id == private.id
        for who, qid in ((alice.id, private.id), (None, private.id), (None, 10**6), (None, "1")):
            with pytest.raises(NotFound):
                questions.viewable_with_outcomes(s, who, qid)


def test_after_a_failed_flush_a_prepared_statement_says_roll_back(db, make_user):
    """The connection is found once per transaction (db._connection), but not handed out
    for a transaction a failed flush has ended: SQLAlchemy's own refusal comes instead."""
    from sqlalchemy.exc import PendingRollbackError

    make_user("alice")
    stmt = Prepared(select(User.id).where(User.username == bindparam("u")))
    with db.session() as s:
        assert stmt.first(s, {"u": "alice"}) is not None
        s.add(User(username="alice", password_hash="x"))
        with pytest.raises(IntegrityError):
            s.flush()
        with pytest.raises(PendingRollbackError):
            stmt.first(s, {"u": "alice"})
        s.rollback()
        assert stmt.first(s, {"u": "alice"}) is not None
