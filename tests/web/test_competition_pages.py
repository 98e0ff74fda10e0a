"""Competition pages: create, join (code and link), settings, roles, close, packs, CSV, comments."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlmodel import select

from forecast.models import Comment, Competition, Membership, Question
from forecast.services import competitions, packs, trading
from forecast.services.questions import outcomes_of

TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def login(client, user):
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user.id)
        sess["_fresh"] = True


def csrf(client, path="/competitions/new") -> str:
    html = client.get(path).get_data(as_text=True)
    m = TOKEN_RE.search(html)
    assert m, html[:500]
    return m.group(1)


@pytest.fixture
def teacher(make_user):
    make_user("admin")
    return make_user("teacher")


def test_create_competition_and_see_its_settings(client, db, teacher):
    login(client, teacher)
    token = csrf(client)
    r = client.post(
        "/competitions/new",
        data={
            "csrf_token": token,
            "name": "Class 7B <script>",
            "slug": "class-7b",
            "starting_balance": "500",
        },
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/c/class-7b/settings")
    page = client.get("/c/class-7b/settings").get_data(as_text=True)
    with db.session() as s:
        comp = s.exec(select(Competition).where(Competition.slug == "class-7b")).one()
    assert (
        comp.join_code in page
        and "Class 7B &lt;script&gt;" in page
        and "<script>" not in page.split("</head>")[1]
    )
    assert f"/c/class-7b/join?code={comp.join_code}" in page


@pytest.mark.parametrize(
    "data, field_text",
    [
        ({"name": "X", "slug": "Bad Slug", "starting_balance": "10"}, "slug is 1-40"),
        ({"name": "X", "slug": "ok", "starting_balance": "-1"}, "must be positive"),
        ({"name": "X", "slug": "ok", "starting_balance": "NaN"}, "finite"),
        ({"name": "X", "slug": "ok", "starting_balance": "lots"}, "must be a number"),
        ({"name": "", "slug": "ok", "starting_balance": "10"}, "required"),
        ({"name": "X", "slug": "public", "starting_balance": "10"}, "taken"),
    ],
)
def test_create_competition_errors_next_to_the_field(client, db, teacher, public, data, field_text):
    login(client, teacher)
    r = client.post("/competitions/new", data={"csrf_token": csrf(client), **data})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'class="field-error"' in html and field_text in html
    with db.session() as s:
        assert len(list(s.exec(select(Competition)))) == 1


def test_post_without_csrf_is_refused(client, db, teacher):
    login(client, teacher)
    r = client.post("/competitions/new", data={"name": "X", "slug": "x", "starting_balance": "10"})
    assert r.status_code in (400, 422)
    with db.session() as s:
        assert s.exec(select(Competition).where(Competition.slug == "x")).first() is None


def test_join_with_link_and_code(client, db, tx, teacher, make_user):
    comp = tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=teacher.id,
            name="Secret class",
            slug="secret",
            starting_balance=100,
            is_listed=False,
        )
    )
    student = make_user("student")
    login(client, student)
    # Without the code the name does not show; a wrong code is an error next to the field.
    page = client.get("/c/secret/join").get_data(as_text=True)
    assert "Secret class" not in page
    r = client.post(
        "/c/secret/join", data={"csrf_token": csrf(client, "/c/secret/join"), "code": "NOPE"}
    )
    assert r.status_code == 422 and "not right" in r.get_data(as_text=True)
    page = client.get(f"/c/secret/join?code={comp.join_code}").get_data(as_text=True)
    assert comp.join_code in page
    r = client.post(
        "/c/secret/join",
        data={"csrf_token": csrf(client, "/c/secret/join"), "code": comp.join_code},
    )
    assert r.status_code == 303
    with db.session() as s:
        assert (
            s.exec(
                select(Membership).where(
                    Membership.user_id == student.id, Membership.competition_id == comp.id
                )
            )
            .one()
            .balance
            == 100 * 10_000
        )


def test_players_cannot_use_settings(client, tx, teacher, make_user):
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=teacher.id, name="Office", slug="office", starting_balance=100
        )
    )
    player = make_user("player")
    tx(
        lambda s: competitions.join(
            session=s, user_id=player.id, slug="office", code=comp.join_code
        )
    )
    outsider = make_user("outsider")
    login(client, player)
    token = csrf(client)
    assert client.get("/c/office/settings").status_code == 403
    assert client.get("/c/office/leaderboard.csv").status_code == 403
    assert client.get("/c/office/pack.yaml").status_code == 403
    for path in (
        "/c/office/code",
        "/c/office/close",
        "/c/office/roles",
        "/c/office/packs/preview",
        "/c/office/packs/load",
    ):
        assert (
            client.post(
                path,
                data={
                    "csrf_token": token,
                    "username": "player",
                    "role": "moderator",
                    "shipped": "amazon-tiktok",
                    "text": "x",
                },
            ).status_code
            == 403
        ), path
    private = tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=teacher.id,
            name="Hidden",
            slug="hidden",
            starting_balance=100,
            is_listed=False,
        )
    )
    assert private
    login(client, outsider)
    assert client.get("/c/hidden/settings").status_code == 404


def test_owner_rotates_code_appoints_moderator_and_closes(client, db, tx, teacher, make_user):
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=teacher.id, name="Office", slug="office", starting_balance=100
        )
    )
    helper = make_user("helper")
    tx(
        lambda s: competitions.join(
            session=s, user_id=helper.id, slug="office", code=comp.join_code
        )
    )
    login(client, teacher)
    token = csrf(client)
    assert client.post("/c/office/code", data={"csrf_token": token}).status_code == 303
    assert (
        client.post(
            "/c/office/roles", data={"csrf_token": token, "username": "helper", "role": "moderator"}
        ).status_code
        == 303
    )
    # Closing asks first (a page that names what it ends), then closes.
    r = client.post("/c/office/close", data={"csrf_token": token})
    assert r.status_code == 200 and "Close Office?" in r.get_data(as_text=True)
    assert "cannot be undone" in r.get_data(as_text=True)
    with db.session() as s:
        assert (
            s.exec(select(Competition).where(Competition.slug == "office")).one().status == "open"
        )
    r = client.post("/c/office/close", data={"csrf_token": token, "confirmed": "1"})
    assert r.status_code == 303
    with db.session() as s:
        c = s.exec(select(Competition).where(Competition.slug == "office")).one()
        assert c.join_code != comp.join_code and c.status == "closed"
        m = s.exec(
            select(Membership).where(
                Membership.user_id == helper.id, Membership.competition_id == c.id
            )
        ).one()
        assert m.role == "moderator"


def test_pack_preview_then_load_and_bad_file(client, db, tx, teacher):
    tx(
        lambda s: competitions.create_competition(
            session=s, user_id=teacher.id, name="Class", slug="class", starting_balance=100
        )
    )
    login(client, teacher)
    token = csrf(client)
    r = client.post(
        "/c/class/packs/preview", data={"csrf_token": token, "shipped": "amazon-tiktok"}
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Will Amazon complete an acquisition" in html
    with db.session() as s:
        assert list(s.exec(select(Question))) == []  # a preview creates nothing
    text = packs.SEED_PACK.read_text()
    r = client.post("/c/class/packs/load", data={"csrf_token": token, "text": text})
    assert r.status_code == 303
    client.post("/c/class/packs/load", data={"csrf_token": token, "text": text})
    with db.session() as s:
        assert len(list(s.exec(select(Question)))) == 6  # loading twice does not duplicate
    bad = b"pack: x\nquestions:\n  - key: a\n    title: A?\n    liquidity: -5\n    close_at: 2099-01-01\n"
    r = client.post(
        "/c/class/packs/preview",
        data={"csrf_token": token, "shipped": "", "file": (io.BytesIO(bad), "bad.yaml")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and "line 5, field liquidity" in r.get_data(as_text=True)
    exported = client.get("/c/class/pack.yaml").get_data(as_text=True)
    assert len(packs.parse(exported).questions) == 6


def test_leaderboard_csv_download(client, db, tx, teacher, make_user):
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=teacher.id, name="Class", slug="class", starting_balance=100
        )
    )
    student = make_user("student")
    tx(
        lambda s: competitions.join(
            session=s, user_id=student.id, slug="class", code=comp.join_code
        )
    )
    login(client, teacher)
    r = client.get("/c/class/leaderboard.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[0][:3] == ["rank", "username", "net_worth"]
    assert len(rows) == 3 and float(rows[1][2]) == 100.0


def test_comments_post_and_hide(client, db, tx, teacher, make_user, make_question):
    q = make_question()
    student = make_user("student")
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    tx(
        lambda s: trading.trade(
            session=s,
            user_id=student.id,
            question_id=q.id,
            order=trading.parse_order(outcome_id=yes, spend=10),
        )
    )
    login(client, student)
    token = csrf(client)
    r = client.post(
        f"/questions/{q.id}/comments",
        data={"csrf_token": token, "body": "<img src=x onerror=alert(1)>"},
        headers={"HX-Request": "true"},
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "&lt;img src=x" in html and "<img src=x" not in html
    assert "holds" in html and "YES" in html
    assert client.post(f"/questions/{q.id}/comments", data={"body": "no token"}).status_code == 400
    with db.session() as s:
        comment = s.exec(select(Comment)).one()
    assert (
        client.post(f"/comments/{comment.id}/hide", data={"csrf_token": token}).status_code == 403
    )
    login(client, teacher.__class__(id=1, username="admin", password_hash="", is_admin=True))
    assert (
        client.post(
            f"/comments/{comment.id}/hide",
            data={"csrf_token": csrf(client)},
            headers={"HX-Request": "true"},
        ).status_code
        == 200
    )
    with db.session() as s:
        assert s.exec(select(Comment)).one().hidden


def test_the_switcher_in_the_layout_lists_my_competitions(client, tx, teacher, make_user):
    for name, slug in (("Office league", "office"), ("Class 7B", "class-7b")):
        tx(
            lambda s, name=name, slug=slug: competitions.create_competition(
                session=s, user_id=teacher.id, name=name, slug=slug, starting_balance=100
            )
        )
    stranger = make_user("stranger")
    tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=stranger.id,
            name="Not mine",
            slug="not-mine",
            starting_balance=100,
            is_listed=False,
        )
    )
    login(client, teacher)
    html = client.get("/c/office/").get_data(as_text=True)
    switcher = html[html.index('<details class="switcher">') : html.index("</details>")]
    assert "Competition: <strong>Office league</strong>" in switcher
    assert 'href="/c/class-7b/"' in switcher and 'href="/c/office/" aria-current="true"' in switcher
    assert "Not mine" not in switcher and 'href="/competitions"' in switcher
    # Without JavaScript it is a plain <details>: the links are in the page, no script needed.
    assert "<script>" not in switcher
    client.get("/logout")
    with client.session_transaction() as sess:
        sess.clear()
    assert '<details class="switcher">' not in client.get("/").get_data(as_text=True)


def test_a_competition_ends_by_itself_at_its_end_date(
    client, db, tx, teacher, make_user, make_question
):
    from datetime import timedelta

    from forecast.models import utcnow
    from forecast.services.errors import Conflict

    comp = tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=teacher.id,
            name="Quiz week",
            slug="quiz",
            starting_balance=100,
            end_at=utcnow() + timedelta(hours=1),
        )
    )
    q = make_question(competition=comp, user_id=teacher.id)
    player = make_user("player")
    tx(lambda s: competitions.join(session=s, user_id=player.id, slug="quiz", code=comp.join_code))
    yes = tx(lambda s: outcomes_of(s, q.id))[0].id
    order = trading.parse_order(outcome_id=yes, spend=5)
    tx(lambda s: trading.trade(session=s, user_id=player.id, question_id=q.id, order=order))

    # The end date passes; nobody closes anything by hand and no job runs.
    with db.session() as s:
        c = s.get(Competition, comp.id)
        c.end_at = utcnow() - timedelta(seconds=1)
        s.add(c)
        s.commit()
    with pytest.raises(Conflict) as e:
        tx(lambda s: trading.trade(session=s, user_id=player.id, question_id=q.id, order=order))
    assert e.value.code == "question_not_open"
    late = make_user("late")
    with pytest.raises(Conflict) as e:
        tx(
            lambda s: competitions.join(
                session=s, user_id=late.id, slug="quiz", code=comp.join_code
            )
        )
    assert e.value.code == "competition_closed"
    login(client, player)
    assert "This competition has ended" in client.get("/c/quiz/").get_data(as_text=True)
    assert "This competition has ended; trading is over." in client.get(
        f"/questions/{q.id}"
    ).get_data(as_text=True)
    assert "final standings" in client.get("/c/quiz/leaderboard").get_data(as_text=True)
    from forecast.services import reads

    with db.session() as s:  # what bots read: the question is closed with its competition
        assert reads.question_json(s, s.get(Question, q.id))["status"] == "closed"
    login(client, teacher)
    assert "Status: <strong>closed</strong>" in client.get("/c/quiz/settings").get_data(
        as_text=True
    )
    with db.session() as s:
        assert (
            s.get(Competition, comp.id).status == "open"
        )  # nothing was written: it is read as ended


def test_final_standings_are_frozen_when_the_competition_ends(
    client, db, tx, teacher, make_user, make_question
):
    from forecast.services import resolution, standings

    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=teacher.id, name="Term 1", slug="term", starting_balance=100
        )
    )
    early = make_question(competition=comp, user_id=teacher.id, title="Settled in term")
    late = make_question(competition=comp, user_id=teacher.id, title="Settled after term")
    ann, ben = make_user("ann"), make_user("ben")
    for u in (ann, ben):
        tx(
            lambda s, u=u: competitions.join(
                session=s, user_id=u.id, slug="term", code=comp.join_code
            )
        )

    def buy(user, q, k, spend):
        oid = tx(lambda s: outcomes_of(s, q.id))[k].id
        order = trading.parse_order(outcome_id=oid, spend=spend)
        tx(lambda s: trading.trade(session=s, user_id=user.id, question_id=q.id, order=order))
        return oid

    yes_early = buy(ann, early, 0, 20)
    buy(ben, early, 1, 20)
    buy(ann, late, 1, 30)  # ann bets NO on the late question...
    yes_late = buy(ben, late, 0, 30)  # ...ben YES, and YES will win after the end
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=teacher.id, question_id=early.id, outcome_id=yes_early
        )
    )

    def board(by="net_worth"):
        with db.session() as s:
            c = s.get(Competition, comp.id)
            return [
                (x.username, x.net_worth, x.balance, x.brier, x.scored)
                for x in standings.leaderboard(s, c, by=by)
            ]

    login(client, teacher)
    r = client.post(
        "/c/term/close", data={"csrf_token": csrf(client, "/c/term/settings"), "confirmed": "1"}
    )
    assert r.status_code == 303
    at_close = board()
    by_brier = board("brier")
    assert [n for n, *_ in at_close if n != "teacher"] == ["ann", "ben"]

    # After the end, the moderator resolves the other question: ben's YES wins.
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=teacher.id, question_id=late.id, outcome_id=yes_late
        )
    )
    with db.session() as s:
        ben_now = s.exec(
            select(Membership).where(
                Membership.user_id == ben.id, Membership.competition_id == comp.id
            )
        ).one()
        assert ben_now.balance > dict((n, b) for n, _, b, *_ in at_close)["ben"]  # ben was paid
    assert board() == at_close and board("brier") == by_brier  # and the final standings hold
    assert all(scored <= 1 for *_, scored in at_close)  # only the question settled in term

    html = client.get("/c/term/leaderboard").get_data(as_text=True)
    assert "Final standings, frozen when the competition ended" in html
    assert 'hx-trigger="every 5s"' not in html  # nothing to refresh
    # The CSV for grading is the frozen table too.
    rows = list(
        csv.DictReader(io.StringIO(client.get("/c/term/leaderboard.csv").get_data(as_text=True)))
    )
    assert [(r["username"], round(float(r["net_worth"]) * 10_000)) for r in rows] == [
        (n, w) for n, w, *_ in at_close
    ]
    # Closing twice is refused and changes nothing.
    r = client.post(
        "/c/term/close",
        data={"csrf_token": csrf(client, "/c/term/settings")},
        follow_redirects=True,
    )
    assert "already ended" in r.get_data(as_text=True)


def _settle_then_end_scene(db, tx, teacher, make_user, make_question, slug):
    """A competition with ann and ben holding both sides of two questions; returns helpers."""
    from forecast.models import LedgerEntry, ModeratorAction, Score
    from forecast.services import standings

    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=teacher.id, name="Term", slug=slug, starting_balance=100
        )
    )
    first = make_question(competition=comp, user_id=teacher.id, title="First?")
    second = make_question(competition=comp, user_id=teacher.id, title="Second?")
    ann, ben = make_user("ann"), make_user("ben")
    for u in (ann, ben):
        tx(
            lambda s, u=u: competitions.join(
                session=s, user_id=u.id, slug=slug, code=comp.join_code
            )
        )
    for q in (first, second):
        yes, no = (o.id for o in tx(lambda s, q=q: outcomes_of(s, q.id)))
        for user, oid in ((ann, yes), (ben, no)):
            order = trading.parse_order(outcome_id=oid, spend=20)
            tx(
                lambda s, user=user, q=q, order=order: trading.trade(
                    session=s, user_id=user.id, question_id=q.id, order=order
                )
            )

    def board(by="net_worth"):
        with db.session() as s:
            return [
                (x.username, x.net_worth, x.balance, x.brier, x.scored)
                for x in standings.leaderboard(s, s.get(Competition, comp.id), by=by)
            ]

    def snapshot():
        """Everything an undo would write: balances, scores, ledger, audit log, questions."""
        with db.session() as s:
            count = lambda model: len(s.exec(select(model.id)).all())  # noqa: E731
            return (
                sorted(
                    (m.id, m.balance)
                    for m in s.exec(select(Membership).where(Membership.competition_id == comp.id))
                ),
                sorted((x.question_id, x.membership_id, x.brier) for x in s.exec(select(Score))),
                count(LedgerEntry),
                count(ModeratorAction),
                [
                    (q.status, q.resolved_outcome_id, q.resolved_at, q.resolution_action_id)
                    for q in (s.get(Question, first.id), s.get(Question, second.id))
                ],
            )

    def yes_of(q):
        return tx(lambda s: outcomes_of(s, q.id))[0].id

    return comp, first, second, board, snapshot, yes_of


@pytest.mark.parametrize("ending", ["closed by owner", "end date passed"])
def test_a_resolution_made_before_the_end_cannot_be_undone_after_it(
    client, db, tx, teacher, make_user, make_question, ending
):
    from forecast.models import utcnow
    from forecast.services import accounts, resolution
    from forecast.services.errors import Conflict

    comp, first, second, board, snapshot, yes_of = _settle_then_end_scene(
        db, tx, teacher, make_user, make_question, "term"
    )
    # Both settled in term: one resolved, one cancelled (N/A).
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=teacher.id, question_id=first.id, outcome_id=yes_of(first)
        )
    )
    tx(lambda s: resolution.cancel(session=s, user_id=teacher.id, question_id=second.id))
    if ending == "closed by owner":
        tx(lambda s: competitions.close_competition(session=s, user_id=teacher.id, slug="term"))
    else:
        with db.session() as s:
            c = s.get(Competition, comp.id)
            c.end_at = utcnow()  # not before the resolutions: they were made in term
            s.add(c)
            s.commit()
    final, final_brier, before = board(), board("brier"), snapshot()
    assert {n: scored for n, *_, scored in final} == {"teacher": 0, "ann": 1, "ben": 1}
    message = "settled before the competition ended"

    for q in (first, second):  # the service refuses
        with pytest.raises(Conflict) as e:
            tx(lambda s, q=q: resolution.undo(session=s, user_id=teacher.id, question_id=q.id))
        assert e.value.code == "competition_closed" and message in e.value.message
        assert e.value.status == 409

    # The JSON API answers 409 in the documented error shape.
    token = tx(lambda s: accounts.create_token(session=s, user_id=teacher.id, name="t"))[1]
    r = client.delete(
        f"/api/v1/questions/{first.id}/resolution",
        headers={"Authorization": f"Bearer {token}"},
        json={"note": "Oops."},
    )
    assert r.status_code == 409
    body = r.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == "competition_closed"
    assert message in body["error"]["message"]

    # The moderator page says so up front, with no undo button; a form sent anyway
    # (from a page opened before the end) gets the message and a 409.
    login(client, teacher)
    path = f"/moderate/questions/{second.id}/undo"
    page = client.get(path).get_data(as_text=True)
    assert "part of the final standings and cannot be undone" in page
    assert "Undo the cancellation</button>" not in page
    token = csrf(client)  # the session's token, from any form
    r = client.post(path, data={"csrf_token": token, "note": "Oops."})
    assert r.status_code == 409
    assert message in r.get_data(as_text=True)

    # Nothing moved: no reversal, no audit line, scores and final standings as they were.
    assert snapshot() == before
    assert board() == final and board("brier") == final_brier


def test_a_resolution_made_after_the_end_can_still_be_undone(
    db, tx, teacher, make_user, make_question
):
    from forecast.services import resolution

    comp, first, second, board, snapshot, yes_of = _settle_then_end_scene(
        db, tx, teacher, make_user, make_question, "term"
    )
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=teacher.id, question_id=first.id, outcome_id=yes_of(first)
        )
    )
    tx(lambda s: competitions.close_competition(session=s, user_id=teacher.id, slug="term"))
    final, final_brier = board(), board("brier")

    # After the end the other question is resolved, then the moderator undoes that.
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=teacher.id, question_id=second.id, outcome_id=yes_of(second)
        )
    )
    assert board() == final
    q = tx(
        lambda s: resolution.undo(
            session=s, user_id=teacher.id, question_id=second.id, note="Wrong source."
        )
    )
    assert q.status == "closed" and q.resolved_at is None
    # The final standings never counted it, before or after the undo.
    assert board() == final and board("brier") == final_brier
    # It can be resolved (and undone) again; the one settled in term still cannot.
    tx(lambda s: resolution.cancel(session=s, user_id=teacher.id, question_id=second.id))
    tx(lambda s: resolution.undo(session=s, user_id=teacher.id, question_id=second.id))
    assert board() == final
    from forecast.services.errors import Conflict

    with pytest.raises(Conflict) as e:
        tx(lambda s: resolution.undo(session=s, user_id=teacher.id, question_id=first.id))
    assert e.value.code == "competition_closed"


def test_comments_are_rate_limited_per_account(
    db, make_user, make_question, limited_app, signed_in
):
    """A member posting faster than RATELIMIT_COMMENT gets a 429 and nothing is written."""
    from sqlmodel import select

    from forecast.models import Comment

    alice = make_user("alice")
    q = make_question()
    client, token = signed_in(limited_app(comment="2 per minute"), alice, f"/questions/{q.id}")
    codes = [
        client.post(
            f"/questions/{q.id}/comments", data={"csrf_token": token, "body": f"take {k}"}
        ).status_code
        for k in range(3)
    ]
    assert codes == [303, 303, 429]
    with db.session() as s:
        assert len(list(s.exec(select(Comment)))) == 2
