"""Competitions: separate wallets, private visibility, join codes, roles, packs, CSV, comments."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlmodel import select

from forecast.market import lmsr
from forecast.market.money import UNIT, from_units
from forecast.models import Membership, Question
from forecast.services import comments, competitions, exports, packs, resolution, standings, trading
from forecast.services.access import get_competition
from forecast.services.errors import Conflict, Forbidden, Invalid, NotFound
from forecast.services.questions import outcomes_of


def test_two_competitions_keep_separate_balances_and_leaderboards(db, tx, make_user, make_question):
    make_user("admin")
    teacher, student = make_user("teacher"), make_user("student")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=teacher.id, name="Class 7B", slug="class-7b", starting_balance=500
        )
    )
    tx(
        lambda s: competitions.join(
            session=s, user_id=student.id, slug="class-7b", code=comp.join_code
        )
    )
    q_class = make_question(competition=comp)
    q_public = make_question()
    with db.session() as s:
        yes_class = outcomes_of(s, q_class.id)[0].id
        yes_public = outcomes_of(s, q_public.id)[0].id
    tx(
        lambda s: trading.trade(
            session=s,
            user_id=student.id,
            question_id=q_class.id,
            order=trading.parse_order(outcome_id=yes_class, spend=100),
        )
    )
    with db.session() as s:
        ms = {
            m.competition_id: m.balance
            for m in s.exec(select(Membership).where(Membership.user_id == student.id))
        }
        assert ms[comp.id] == 400 * UNIT
        assert ms[get_competition(s, "public").id] == 1000 * UNIT
        assert [r.username for r in standings.leaderboard(s, comp)] != []
        assert {r.username for r in standings.leaderboard(s, comp)} == {"teacher", "student"}
    with pytest.raises(Conflict) as e:  # 500 points here, not 1,000
        tx(
            lambda s: trading.trade(
                session=s,
                user_id=student.id,
                question_id=q_class.id,
                order=trading.parse_order(outcome_id=yes_class, spend=450),
            )
        )
    assert e.value.code in ("insufficient_balance", "probability_limit")
    tx(
        lambda s: trading.trade(
            session=s,
            user_id=student.id,
            question_id=q_public.id,
            order=trading.parse_order(outcome_id=yes_public, spend=5),
        )
    )


def test_private_competition_is_invisible_and_needs_the_code(db, tx, make_user, make_question):
    make_user("admin")
    owner, outsider = make_user("owner"), make_user("outsider")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=owner.id,
            name="Secret",
            slug="secret",
            starting_balance=100,
            is_listed=False,
        )
    )
    q = make_question(competition=comp)
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    with pytest.raises(NotFound):
        tx(
            lambda s: trading.trade(
                session=s,
                user_id=outsider.id,
                question_id=q.id,
                order=trading.parse_order(outcome_id=yes, spend=5),
            )
        )
    with pytest.raises(Conflict) as e:
        tx(lambda s: competitions.join(session=s, user_id=outsider.id, slug="secret", code="WRONG"))
    assert e.value.code == "wrong_code"
    with pytest.raises(Invalid):
        tx(lambda s: competitions.join(session=s, user_id=outsider.id, slug="secret", code=""))
    m = tx(
        lambda s: competitions.join(
            session=s, user_id=outsider.id, slug="secret", code=comp.join_code.lower()
        )
    )
    assert m.balance == 100 * UNIT
    again = tx(
        lambda s: competitions.join(
            session=s, user_id=outsider.id, slug="secret", code=comp.join_code
        )
    )
    assert again.id == m.id  # joining twice grants nothing more


def test_owner_appoints_moderators_who_can_resolve(db, tx, make_user, make_question):
    make_user("admin")
    owner, mod, player = make_user("owner"), make_user("mod"), make_user("player")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Office", slug="office", starting_balance=100
        )
    )
    for u in (mod, player):
        tx(lambda s: competitions.join(session=s, user_id=u.id, slug="office", code=comp.join_code))
    with pytest.raises(Forbidden):
        tx(
            lambda s: competitions.set_role(
                session=s, user_id=mod.id, slug="office", username="mod", role="moderator"
            )
        )
    tx(
        lambda s: competitions.set_role(
            session=s, user_id=owner.id, slug="office", username="mod", role="moderator"
        )
    )
    q = make_question(competition=comp)
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    with pytest.raises(Forbidden):
        tx(
            lambda s: resolution.resolve(
                session=s, user_id=player.id, question_id=q.id, outcome_id=yes
            )
        )
    tx(lambda s: resolution.resolve(session=s, user_id=mod.id, question_id=q.id, outcome_id=yes))
    old = comp.join_code
    new = tx(lambda s: competitions.rotate_code(session=s, user_id=mod.id, slug="office"))
    assert new != old


def test_closed_competition_stops_trading(db, tx, make_user, make_question):
    make_user("admin")
    owner = make_user("owner")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Done", slug="done", starting_balance=100
        )
    )
    q = make_question(competition=comp)
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    tx(lambda s: competitions.close_competition(session=s, user_id=owner.id, slug="done"))
    with pytest.raises(Conflict):
        tx(
            lambda s: trading.trade(
                session=s,
                user_id=owner.id,
                question_id=q.id,
                order=trading.parse_order(outcome_id=yes, spend=5),
            )
        )


@pytest.mark.parametrize(
    "slug, name, balance",
    [
        ("Bad Slug", "x", 10),
        ("ok", "", 10),
        ("ok", "x", -1),
        ("ok", "x", "NaN"),
        ("ok", "x", 10**12),
    ],
)
def test_bad_competition_input(tx, make_user, slug, name, balance):
    u = make_user()
    with pytest.raises(Invalid):
        tx(
            lambda s: competitions.create_competition(
                session=s, user_id=u.id, name=name, slug=slug, starting_balance=balance
            )
        )


def test_pack_loads_once_and_bad_pack_names_line_and_field(db, tx, make_user, public):
    admin = make_user("admin")
    text = packs.SEED_PACK.read_text()
    first = tx(lambda s: packs.load(session=s, text=text, competition=public, user_id=admin.id))
    second = tx(lambda s: packs.load(session=s, text=text, competition=public, user_id=admin.id))
    assert len(first) == 6 and second == []
    bad = text.replace(
        "    kind: multiple_choice\n", "    kind: multiple_choice\n    liquidity: -3\n", 1
    )
    with pytest.raises(packs.PackError) as e:
        tx(
            lambda s: packs.load(
                session=s,
                text=bad.replace("pack: amazon-tiktok", "pack: other"),
                competition=public,
                user_id=admin.id,
            )
        )
    line = next(i for i, ln in enumerate(bad.splitlines(), 1) if "liquidity: -3" in ln)
    assert f"line {line}" in e.value.message and "liquidity" in e.value.message
    with db.session() as s:
        assert len(list(s.exec(select(Question)))) == 6
    exported = db.session().__enter__()
    try:
        again = packs.parse(packs.export(session=exported, competition=public))
    finally:
        exported.close()
    assert len(again.questions) == 6


def test_the_seed_pack_opens_every_question_after_its_dates_have_passed(
    db, tx, public, monkeypatch
):
    """The shipped pack's close times are the article's dates.  Once one has passed, the
    shipped pack still gives every question open: that time moves on by whole years
    (packs.seed_text, which the site's seed and a moderator's "shipped pack" use); a
    pack file anyone writes is refused as before."""
    from datetime import UTC, datetime

    text = packs.SEED_PACK.read_text()
    as_written = {q["key"]: packs.parse_time(q["close_at"]) for q in packs.parse(text).questions}
    assert packs.seed_text() == text  # today every date in it is ahead
    july = datetime(2027, 7, 1, tzinfo=UTC)  # the agreement question closed the day before
    with pytest.raises(packs.PackError, match="close_at: The close time must be in the future"):
        packs.parse(text, now=july)
    rolled = {
        q["key"]: packs.parse_time(q["close_at"])
        for q in packs.parse(packs.seed_text(july), now=july).questions
    }
    assert sorted(rolled) == sorted(as_written)
    for key, close in as_written.items():
        if close > july:
            assert rolled[key] == close, key  # still ahead: as written
        else:
            assert rolled[key] == close.replace(year=close.year + 1), key
    later = datetime(2031, 3, 1, tzinfo=UTC)
    for q in packs.parse(packs.seed_text(later), now=later).questions:
        assert later < packs.parse_time(q["close_at"]) <= datetime(2032, 3, 1, tzinfo=UTC)
    leap = datetime(2028, 2, 29, tzinfo=UTC)
    assert packs._rolled(leap, datetime(2029, 1, 1, tzinfo=UTC)) == datetime(
        2029, 2, 28, tzinfo=UTC
    )
    assert packs._rolled(leap, later) == datetime(2032, 2, 29, tzinfo=UTC)  # 28 Feb 2031 passed
    # The site's seed loads what seed_text gives: on a site made in 2031, six open questions.
    real = packs.seed_text
    monkeypatch.setattr(packs, "seed_text", lambda now=None: real(now or later))
    created = tx(lambda s: packs.load_seed(session=s, competition=public))
    assert len(created) == 6 and all(q.close_at > later for q in created)


@pytest.mark.parametrize(
    "text, where",
    [
        ("just text", "pack"),
        ("pack: p\nquestions: []\n", "questions"),
        (
            "pack: p\nquestions:\n  - key: a\n    title: ''\n    close_at: 2099-01-01T00:00:00Z\n",
            "line 4, field title",
        ),
        (
            "pack: p\nquestions:\n  - key: a\n    title: T\n    close_at: soon\n",
            "line 5, field close_at",
        ),
        (
            "pack: p\nquestions:\n  - key: a\n    title: T\n    close_at: 2099-01-01\n    colour: red\n",
            "field colour",
        ),
        (
            "pack: p\nquestions:\n  - key: a\n    title: T\n    kind: multiple_choice\n    outcomes: [A]\n    close_at: 2099-01-01\n",
            "field outcomes",
        ),
        ("pack: p\nquestions: [\n", "line"),
    ],
)
def test_bad_packs(text, where):
    with pytest.raises(packs.PackError) as e:
        packs.parse(text)
    assert where in e.value.message


def test_leaderboard_csv(db, tx, make_user, make_question, public):
    admin = make_user("admin")
    alice = make_user("alice")
    q = make_question()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    tx(
        lambda s: trading.trade(
            session=s,
            user_id=alice.id,
            question_id=q.id,
            order=trading.parse_order(outcome_id=yes, spend="12.5"),
        )
    )
    with db.session() as s:
        text = exports.leaderboard_csv(session=s, user_id=admin.id, competition=public)
        with pytest.raises(Forbidden):
            exports.leaderboard_csv(session=s, user_id=alice.id, competition=public)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["rank"] for r in rows] == ["1", "2"]
    by_name = {r["username"]: r for r in rows}
    assert float(by_name["alice"]["balance"]) == 987.5
    assert by_name["alice"]["trades"] == "1"
    # her YES shares count at what selling them all would pay now: at most the 12.5 she paid
    with db.session() as s:
        member = s.exec(select(Membership).where(Membership.user_id == alice.id)).one()
        outcomes = outcomes_of(s, q.id)
        held = trading.held_shares(s, member, q.id)[yes]
        pays = lmsr.sell_proceeds([o.q for o in outcomes], s.get(Question, q.id).liquidity, 0, held)
    assert Decimal(by_name["alice"]["net_worth"]) == Decimal("987.5") + from_units(pays)
    assert 987.5 < float(by_name["alice"]["net_worth"]) <= 1000.0
    assert float(by_name["admin"]["net_worth"]) == 1000.0 and by_name["admin"]["brier"] == ""
    assert [r["username"] for r in rows] == ["admin", "alice"]


def test_comments_show_position_and_moderators_hide_them(db, tx, make_user, make_question):
    admin = make_user("admin")
    alice = make_user("alice")
    q = make_question()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    tx(
        lambda s: trading.trade(
            session=s,
            user_id=alice.id,
            question_id=q.id,
            order=trading.parse_order(outcome_id=yes, spend=10),
        )
    )
    c = tx(
        lambda s: comments.add_comment(
            session=s, user_id=alice.id, question_id=q.id, body="<b>YES</b> for sure"
        )
    )
    with pytest.raises(Invalid):
        tx(lambda s: comments.add_comment(session=s, user_id=alice.id, question_id=q.id, body="  "))
    with pytest.raises(Forbidden):
        tx(lambda s: comments.set_hidden(session=s, user_id=alice.id, comment_id=c.id))
    with db.session() as s:
        [view] = comments.comments_for(s, q.id)
        assert view.position[0][0] == "YES" and view.position[0][1] > 0
    tx(lambda s: comments.set_hidden(session=s, user_id=admin.id, comment_id=c.id))
    with db.session() as s:
        assert comments.comments_for(s, q.id) == []
        assert len(comments.comments_for(s, q.id, include_hidden=True)) == 1
