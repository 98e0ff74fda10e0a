"""Moderator pages through the Flask test client: who may see and post them,
creating, editing, closing, resolving, cancelling and undoing questions, the
queue and the audit log, escaping, and no 500 for any input."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from forecast import config as forecast_config
from forecast import create_app
from forecast.market.money import UNIT, fmt
from forecast.models import Membership, ModeratorAction, Position, Question, utcnow
from forecast.services import access, audit, competitions, questions, reads, trading
from forecast.services.competitions import log_action
from forecast.services.moderation import AUDIT_PAGE_SIZE
from forecast.services.questions import outcomes_of

TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
START = 1000 * UNIT


# ---------------------------------------------------------------- helpers


def login(client, user) -> None:
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user.id)
        sess["_fresh"] = True


def logout(client) -> None:
    with client.session_transaction() as sess:
        sess.pop("_user_id", None)


def csrf(client, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    m = TOKEN_RE.search(r.get_data(as_text=True))
    assert m, path
    return m.group(1)


def token_for(client, w, user) -> str:
    """A valid CSRF token in this client's session, then sign in as ``user``.

    The token lives in the session, not the account: a player who got one
    from any page of the site posts with it.
    """
    login(client, w.owner)
    t = csrf(client, f"/moderate/{w.comp.slug}/questions/new")
    login(client, user)
    return t


def future(days: int = 10) -> str:
    return (utcnow() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def count(db, model, *where) -> int:
    with db.session() as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def balance(db, user, comp) -> int:
    with db.session() as s:
        return access.membership(s, user.id, comp.id).balance


def fresh(db, question_id: int) -> Question:
    with db.session() as s:
        return s.get(Question, question_id)


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


def assert_audit(db) -> None:
    with db.session() as s:
        assert audit.audit(session=s) == []


def field_error(html: str, field: str) -> str:
    """The error shown next to ``field``, checking the input points at it."""
    m = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', html, re.S)
    assert m, f"no error next to {field}"
    assert re.search(rf'aria-describedby="[^"]*{field}-error[^"]*"', html) or field == "kind"
    return unescape(m.group(1))


def body(html: str) -> str:
    """The page after </head> (the head legitimately holds a <script src>)."""
    return html.split("</head>", 1)[1]


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("</section>", start)
    return html[start:end]


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def w(db, tx, make_user, make_question):
    """A listed class with an owner, a moderator, two players; an admin; a private class."""
    admin = make_user("admin", admin=True)
    owner, mod = make_user("teacher"), make_user("helper")
    player, player2, outsider = make_user("ann"), make_user("bob"), make_user("zed")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Class 7B", slug="class", starting_balance=1000
        )
    )
    for u in (mod, player, player2):
        tx(lambda s: competitions.join(session=s, user_id=u.id, slug="class", code=comp.join_code))
    tx(
        lambda s: competitions.set_role(
            session=s, user_id=owner.id, slug="class", username="helper", role="moderator"
        )
    )
    private = tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=owner.id,
            name="Secret",
            slug="secret",
            starting_balance=1000,
            is_listed=False,
        )
    )
    q = make_question(competition=comp, title="Will it rain?", user_id=owner.id)
    pq = make_question(competition=private, title="Secret question", user_id=owner.id)
    return SimpleNamespace(
        admin=admin,
        owner=owner,
        mod=mod,
        player=player,
        player2=player2,
        outsider=outsider,
        comp=comp,
        private=private,
        q=q,
        pq=pq,
    )


def resolved_question(w, tx, db, make_question, *, cancel=False):
    from forecast.services import resolution

    q = make_question(competition=w.comp, title="Done?")
    yes, _ = outcome_ids(db, q)
    if cancel:
        tx(lambda s: resolution.cancel(session=s, user_id=w.owner.id, question_id=q.id))
    else:
        tx(
            lambda s: resolution.resolve(
                session=s, user_id=w.owner.id, question_id=q.id, outcome_id=yes
            )
        )
    return q


def pages(w, settled) -> list[str]:
    return [
        f"/moderate/{w.comp.slug}",
        f"/moderate/{w.comp.slug}?page=2",
        f"/moderate/{w.comp.slug}/questions/new",
        f"/moderate/questions/{w.q.id}/edit",
        f"/moderate/questions/{w.q.id}/resolve",
        f"/moderate/questions/{w.q.id}/cancel",
        f"/moderate/questions/{settled.id}/undo",
        f"/moderate/questions/{settled.id}/edit",
        f"/moderate/questions/{settled.id}/resolve",
        f"/moderate/questions/{settled.id}/cancel",
        f"/moderate/questions/{w.q.id}/undo",
    ]


# ---------------------------------------------------------------- who may


@pytest.mark.parametrize("who", ["owner", "mod", "admin"])
def test_every_page_renders_for_moderators_and_admins(client, db, tx, w, make_question, who):
    settled = resolved_question(w, tx, db, make_question)
    login(client, getattr(w, who))
    for path in pages(w, settled):
        r = client.get(path)
        assert r.status_code == 200, path
        html = r.get_data(as_text=True)
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert "<script>" not in body(html) and " style=" not in html, path
        assert "Something went wrong" not in html
    # An admin moderates even a private competition they never joined.
    if who == "admin":
        assert client.get("/moderate/secret").status_code == 200
        assert client.get(f"/moderate/questions/{w.pq.id}/resolve").status_code == 200


def test_every_input_has_a_visible_label_and_ids_are_unique(client, db, tx, w, make_question):
    settled = resolved_question(w, tx, db, make_question)
    make_question(competition=w.comp, title="Second open question")
    login(client, w.owner)
    for path in pages(w, settled):
        html = client.get(path).get_data(as_text=True)
        for tag in re.finditer(r"<(input|select|textarea)\b([^>]*)>", html):
            attrs = tag.group(2)
            if 'type="hidden"' in attrs:
                continue
            ident = re.search(r'id="([^"]+)"', attrs).group(1)
            assert f'<label for="{ident}">' in html, (path, ident)
        assert html.count("<form") == html.count('name="csrf_token"'), path
        ids = re.findall(r'\bid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), (path, sorted(i for i in ids if ids.count(i) > 1))


def player_requests(w, settled, outcome):
    """Every moderator GET and POST, with bodies that would succeed for a moderator."""
    gets = pages(w, settled)
    posts = [
        (
            f"/moderate/{w.comp.slug}/questions/new",
            {"kind": "binary", "title": "Sneaky", "close_at": future(), "liquidity": "100"},
        ),
        (
            f"/moderate/questions/{w.q.id}/edit",
            {"title": "Hijacked", "close_at": future(20), "reason": "mine now"},
        ),
        (f"/moderate/questions/{w.q.id}/resolve", {"outcome": str(outcome), "confirmed": "1"}),
        (f"/moderate/questions/{w.q.id}/cancel", {"note": "nope"}),
        (f"/moderate/questions/{w.q.id}/close", {"confirmed": "1"}),
        (f"/moderate/questions/{settled.id}/undo", {"note": "again"}),
    ]
    return gets, posts


def test_a_player_gets_403_on_every_page_and_form(client, db, tx, w, make_question):
    settled = resolved_question(w, tx, db, make_question)
    yes, _ = outcome_ids(db, w.q)
    actions = count(db, ModeratorAction)
    gets, posts = player_requests(w, settled, yes)
    token = token_for(client, w, w.player)
    for path in gets:
        assert client.get(path).status_code == 403, path
    for path, data in posts:
        r = client.post(path, data={"csrf_token": token, **data})
        assert r.status_code == 403, path
        assert "Only a moderator" in r.get_data(as_text=True)
    assert count(db, ModeratorAction) == actions
    assert count(db, Question) == 3
    q = fresh(db, w.q.id)
    assert (q.status, q.title) == ("open", "Will it rain?")
    assert fresh(db, settled.id).status == "resolved"


def test_a_non_member_of_a_private_competition_gets_404(client, db, w):
    yes, _ = outcome_ids(db, w.pq)
    token = token_for(client, w, w.outsider)
    for path in (
        "/moderate/secret",
        "/moderate/secret/questions/new",
        f"/moderate/questions/{w.pq.id}/edit",
        f"/moderate/questions/{w.pq.id}/resolve",
        f"/moderate/questions/{w.pq.id}/cancel",
        f"/moderate/questions/{w.pq.id}/undo",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "Secret" not in r.get_data(as_text=True)
    r = client.post(
        f"/moderate/questions/{w.pq.id}/resolve", data={"csrf_token": token, "outcome": str(yes)}
    )
    assert r.status_code == 404
    assert fresh(db, w.pq.id).status == "open"


def test_unknown_things_are_404(client, w):
    login(client, w.admin)
    for path in (
        "/moderate/nope",
        "/moderate/questions/999999/edit",
        "/moderate/questions/99999999999999999999999/resolve",
        "/moderate/questions/0/cancel",
        "/moderate/questions/-1/undo",
        "/moderate/questions/abc/edit",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/moderate/questions/{w.q.id}/close").status_code == 405


def _assert_sent_to_login(app, r) -> None:
    if "auth.login" in app.view_functions:
        assert r.status_code == 302
        assert r.headers["Location"].split("?")[0].endswith("/login")
    else:  # before the login view exists there is nowhere to send them
        assert r.status_code == 401


def test_anonymous_is_sent_to_login(app, client, db, tx, w, make_question):
    settled = resolved_question(w, tx, db, make_question)
    yes, _ = outcome_ids(db, w.q)
    gets, posts = player_requests(w, settled, yes)
    token = token_for(client, w, w.player)
    logout(client)
    for path in gets:
        r = client.get(path)
        _assert_sent_to_login(app, r)
        if r.status_code == 302:
            assert "next=" in r.headers["Location"]
    for path, data in posts:
        _assert_sent_to_login(app, client.post(path, data={"csrf_token": token, **data}))
    assert fresh(db, w.q.id).status == "open"


def test_a_post_without_the_csrf_token_is_refused(db, database_url, tmp_path, w):
    config = forecast_config.TestingConfig(database_url, str(tmp_path / "csrf-instance"))
    config.WTF_CSRF_ENABLED = True
    app = create_app(config)
    assert app.config["WTF_CSRF_ENABLED"] is True
    client = app.test_client()
    try:
        login(client, w.owner)
        yes, _ = outcome_ids(db, w.q)
        for path, data in [
            (
                "/moderate/class/questions/new",
                {"kind": "binary", "title": "No token", "close_at": future(), "liquidity": "100"},
            ),
            (f"/moderate/questions/{w.q.id}/resolve", {"outcome": str(yes), "confirmed": "1"}),
            (f"/moderate/questions/{w.q.id}/cancel", {}),
            (f"/moderate/questions/{w.q.id}/close", {"confirmed": "1"}),
        ]:
            for token in (None, "forged-token"):
                sent = data if token is None else {"csrf_token": token, **data}
                r = client.post(path, data=sent)
                assert r.status_code == 400, path
                assert "reload the page" in r.get_data(as_text=True)
        assert count(db, Question) == 2
        assert fresh(db, w.q.id).status == "open"
    finally:
        app.extensions["forecast_db"].dispose()


# ---------------------------------------------------------------- create


def create(client, w, **fields):
    token = csrf(client, f"/moderate/{w.comp.slug}/questions/new")
    data = {
        "csrf_token": token,
        "kind": "binary",
        "title": "Will Amazon close above $200?",
        "description": "On the last trading day.",
        "resolution_criteria": "Closing price on nasdaq.com.",
        "source": "https://www.nasdaq.com/",
        "close_at": future(),
        "liquidity": "100",
        "initial_probabilities": "",
        **fields,
    }
    return client.post(f"/moderate/{w.comp.slug}/questions/new", data=data)


def test_create_a_binary_question(client, db, w):
    login(client, w.mod)
    close = (utcnow() + timedelta(days=12)).replace(second=0, microsecond=0)
    r = create(
        client,
        w,
        close_at=close.strftime("%Y-%m-%dT%H:%M"),
        liquidity="250.5",
        initial_probabilities="70\n30",
    )
    assert r.status_code == 303
    with db.session() as s:
        q = s.exec(select(Question).where(Question.title == "Will Amazon close above $200?")).one()
        outcomes = outcomes_of(s, q.id)
        probs = reads.probabilities(q, outcomes)
        log = s.exec(select(ModeratorAction).where(ModeratorAction.question_id == q.id)).one()
    assert r.headers["Location"].endswith(f"/questions/{q.id}")
    assert (q.kind, q.competition_id, q.created_by) == ("binary", w.comp.id, w.mod.id)
    assert q.close_at == close.astimezone(UTC)  # the datetime-local value is UTC
    assert q.liquidity == 2_505_000
    assert (q.description, q.source) == ("On the last trading day.", "https://www.nasdaq.com/")
    assert [o.label for o in outcomes] == ["YES", "NO"]
    assert [round(probs[o.id], 6) for o in outcomes] == [0.7, 0.3]
    assert (log.action, log.user_id) == ("create_question", w.mod.id)
    # The flash shows on the next page.
    with client.session_transaction() as sess:
        assert any("Created" in m for _, m in sess["_flashes"])


def test_create_a_multiple_choice_question_with_equal_odds(client, db, w):
    login(client, w.admin)  # an admin who is not a member
    r = create(
        client,
        w,
        kind="multiple_choice",
        title="Which colour wins?",
        outcomes="Red\n\n  Green  \nBlue\n",
        liquidity="100",
    )
    assert r.status_code == 303
    with db.session() as s:
        q = s.exec(select(Question).where(Question.title == "Which colour wins?")).one()
        outcomes = outcomes_of(s, q.id)
        probs = reads.probabilities(q, outcomes)
    assert q.kind == "multiple_choice"
    assert [o.label for o in outcomes] == ["Red", "Green", "Blue"]
    assert all(abs(p - 1 / 3) < 1e-9 for p in probs.values())


def test_create_multiple_choice_with_opening_percentages(client, db, w):
    login(client, w.owner)
    r = create(
        client,
        w,
        kind="multiple_choice",
        title="Podium?",
        outcomes="A\nB\nC",
        initial_probabilities="50%, 30%, 20%",
    )
    assert r.status_code == 303
    with db.session() as s:
        q = s.exec(select(Question).where(Question.title == "Podium?")).one()
        outcomes = outcomes_of(s, q.id)
        probs = reads.probabilities(q, outcomes)
    assert [round(probs[o.id], 6) for o in outcomes] == [0.5, 0.3, 0.2]


TWENTY_ONE = "\n".join(f"Option {i}" for i in range(21))
TWENTY = "\n".join(f"Option {i}" for i in range(20))


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"title": ""}, "title", "Title is required"),
        ({"title": "   "}, "title", "Title is required"),
        ({"title": "x" * 301}, "title", "300 characters"),
        ({"kind": "trinary"}, "kind", "Not a valid choice"),
        ({"close_at": "2001-01-01T00:00"}, "close_at", "must be in the future"),
        (
            {"close_at": (utcnow() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")},
            "close_at",
            "future",
        ),
        ({"close_at": ""}, "close_at", "Give the close time"),
        ({"close_at": "tomorrow"}, "close_at", "Not a valid datetime"),
        ({"close_at": "9999-12-31T23:59"}, "close_at", "out of range"),
        ({"kind": "multiple_choice", "outcomes": "Only one"}, "outcomes", "2 to 20 outcomes"),
        ({"kind": "multiple_choice", "outcomes": ""}, "outcomes", "2 to 20 outcomes"),
        ({"kind": "multiple_choice", "outcomes": TWENTY_ONE}, "outcomes", "2 to 20 outcomes"),
        ({"kind": "multiple_choice", "outcomes": "Red\nred"}, "outcomes", "must differ"),
        ({"kind": "multiple_choice", "outcomes": "A\n" + "b" * 121}, "outcomes", "120 characters"),
        ({"liquidity": "0"}, "liquidity", "between 1 and 10,000,000,000"),
        ({"liquidity": "-5"}, "liquidity", "must be positive"),
        ({"liquidity": "NaN"}, "liquidity", "finite"),
        ({"liquidity": "inf"}, "liquidity", "finite"),
        ({"liquidity": "1e13"}, "liquidity", "too large"),
        ({"liquidity": "10000000001"}, "liquidity", "between 1 and 10,000,000,000"),
        ({"liquidity": "0.5"}, "liquidity", "between 1 and 10,000,000,000"),
        ({"liquidity": "lots"}, "liquidity", "must be a number"),
        ({"initial_probabilities": "60, 30"}, "initial_probabilities", "add up to 90%, not 100%"),
        ({"initial_probabilities": "60\n50"}, "initial_probabilities", "add up to 110%"),
        ({"initial_probabilities": "100, 0"}, "initial_probabilities", "0.1% to 99.9%"),
        ({"initial_probabilities": "NaN, 50"}, "initial_probabilities", "0.1% to 99.9%"),
        ({"initial_probabilities": "half, half"}, "initial_probabilities", "is not a number"),
        (
            {"initial_probabilities": "50, 30, 20"},
            "initial_probabilities",
            "one opening probability per outcome",
        ),
        (
            {"kind": "multiple_choice", "outcomes": "A\nB\nC", "initial_probabilities": "50, 50"},
            "initial_probabilities",
            "one opening probability per outcome (3)",
        ),
    ],
)
def test_bad_input_shows_next_to_its_field_and_creates_nothing(
    client, db, w, fields, field, message
):
    login(client, w.owner)
    before = count(db, Question)
    r = create(client, w, **fields)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert message in field_error(html, field)
    assert count(db, Question) == before
    # What was typed comes back (except the CSRF token, which is fresh).
    if field == "title" and fields["title"].strip() and "\x00" not in fields["title"]:
        assert fields["title"] in html


def test_twenty_outcomes_are_allowed(client, db, w):
    login(client, w.owner)
    r = create(client, w, kind="multiple_choice", title="Twenty", outcomes=TWENTY)
    assert r.status_code == 303
    assert count(db, Question, Question.title == "Twenty") == 1


# ---------------------------------------------------------------- edit and close


def edit(client, w, question, **fields):
    token = csrf(client, f"/moderate/questions/{question.id}/edit")
    data = {
        "csrf_token": token,
        "title": question.title,
        "description": question.description,
        "resolution_criteria": question.resolution_criteria,
        "source": question.source,
        "close_at": question.close_at.strftime("%Y-%m-%dT%H:%M"),
        "reason": "typo",
        **fields,
    }
    return client.post(f"/moderate/questions/{question.id}/edit", data=data)


def test_edit_text_and_close_time_with_a_reason(client, db, w):
    login(client, w.mod)
    page = client.get(f"/moderate/questions/{w.q.id}/edit").get_data(as_text=True)
    assert f'value="{w.q.close_at.strftime("%Y-%m-%dT%H:%M")}"' in page  # prefilled, in UTC
    new_close = (utcnow() + timedelta(days=40)).replace(second=0, microsecond=0)
    r = edit(
        client,
        w,
        w.q,
        title="Will it rain in Oslo?",
        description="Any rain at all.",
        close_at=new_close.strftime("%Y-%m-%dT%H:%M"),
        reason="clearer place",
    )
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/questions/{w.q.id}")
    q = fresh(db, w.q.id)
    assert (q.title, q.description, q.close_at) == (
        "Will it rain in Oslo?",
        "Any rain at all.",
        new_close,
    )
    with db.session() as s:
        entry = s.exec(
            select(ModeratorAction).where(ModeratorAction.action == "edit_question")
        ).one()
    assert entry.reason == "clearer place" and entry.user_id == w.mod.id
    assert entry.detail["changed"] == ["close_at", "description", "title"]


def test_edit_errors_show_next_to_the_field(client, db, w):
    login(client, w.owner)
    for fields, field, message in [
        ({"reason": ""}, "reason", "Say why"),
        ({"title": ""}, "title", "Title is required"),
        ({"close_at": "2001-01-01T00:00"}, "close_at", "must be in the future"),
        ({"close_at": "soon"}, "close_at", "Not a valid datetime"),
    ]:
        r = edit(client, w, w.q, **fields)
        assert r.status_code == 422, fields
        assert message in field_error(r.get_data(as_text=True), field)
    assert fresh(db, w.q.id).title == "Will it rain?"
    assert count(db, ModeratorAction, ModeratorAction.action == "edit_question") == 0


def test_edit_a_closed_question_without_touching_its_past_close_time(client, db, tx, w):
    tx(lambda s: questions.close_question(session=s, user_id=w.owner.id, question_id=w.q.id))
    login(client, w.owner)
    r = edit(client, w, fresh(db, w.q.id), title="Will it rain (fixed)?")
    assert r.status_code == 303
    q = fresh(db, w.q.id)
    assert (q.title, q.status) == ("Will it rain (fixed)?", "closed")


def test_a_resolved_question_cannot_be_edited(client, db, tx, w, make_question):
    settled = resolved_question(w, tx, db, make_question)
    login(client, w.owner)
    page = client.get(f"/moderate/questions/{settled.id}/edit").get_data(as_text=True)
    assert "Undo the resolution" in page and "<form" not in body(page).split("</header>")[1]
    r = client.post(
        f"/moderate/questions/{settled.id}/edit",
        data={
            "csrf_token": csrf(client, f"/moderate/{w.comp.slug}"),
            "title": "Changed",
            "close_at": future(),
            "reason": "x",
        },
    )
    assert r.status_code == 409
    assert "Undo the resolution</a> before editing" in r.get_data(as_text=True)
    assert fresh(db, settled.id).title == "Done?"


def test_close_trading_now(client, db, w):
    login(client, w.mod)
    token = csrf(client, f"/moderate/{w.comp.slug}")
    # The first POST asks: it names what closing does and changes nothing.
    r = client.post(
        f"/moderate/questions/{w.q.id}/close",
        data={"csrf_token": token, "close_reason": "It already rained."},
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "Close trading in “Will it rain?” now?" in page
    assert 'name="close_reason" value="It already rained."' in page
    assert fresh(db, w.q.id).status == "open"
    r = client.post(
        f"/moderate/questions/{w.q.id}/close",
        data={"csrf_token": token, "close_reason": "It already rained.", "confirmed": "1"},
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/moderate/class")
    assert fresh(db, w.q.id).status == "closed"
    with db.session() as s:
        entry = s.exec(select(ModeratorAction).where(ModeratorAction.action == "close")).one()
    assert (entry.reason, entry.user_id, entry.question_id) == (
        "It already rained.",
        w.mod.id,
        w.q.id,
    )
    page = client.get("/moderate/class").get_data(as_text=True)
    assert "is closed; it awaits resolution" in page
    # The moderator pages lead to packs, the CSV and the competition's settings.
    assert 'href="/c/class/settings#packs-h">Load a question pack' in page
    assert 'href="/c/class/leaderboard.csv"' in page
    assert "Will it rain?" in section(page, "queue-h")
    # Closing again is refused with a message, not an error page.
    r = client.post(
        f"/moderate/questions/{w.q.id}/close", data={"csrf_token": token}, follow_redirects=True
    )
    assert r.status_code == 200 and "This question is not open." in r.get_data(as_text=True)
    assert count(db, ModeratorAction, ModeratorAction.action == "close") == 1


# ---------------------------------------------------------------- resolve, cancel, undo


@pytest.fixture
def traded(db, tx, w):
    """ann buys YES for 50, bob buys NO for 80, then ann buys YES for 20 more."""
    yes, no = outcome_ids(db, w.q)
    place(tx, w.player, w.q, yes, spend="50")
    place(tx, w.player2, w.q, no, spend="80")
    place(tx, w.player, w.q, yes, spend="20")
    return SimpleNamespace(yes=yes, no=no)


def test_the_resolve_form_keeps_its_contract(client, db, w):
    login(client, w.owner)
    html = client.get(f"/moderate/questions/{w.q.id}/resolve").get_data(as_text=True)
    yes, no = outcome_ids(db, w.q)
    assert '<label for="outcome">Outcome</label>' in html
    assert re.search(r'<select[^>]*id="outcome"[^>]*name="outcome"', html)
    assert (
        f'<option value="{yes}">YES</option>' in html
        and f'<option value="{no}">NO</option>' in html
    )
    assert (
        '<label for="note">Note</label>' in html
        and '<label for="source_url">Source URL</label>' in html
    )
    assert re.search(r"<button[^>]*>Resolve</button>", html)


def test_resolve_pays_the_winners(client, db, tx, w, traded):
    ann_before, bob_before = balance(db, w.player, w.comp), balance(db, w.player2, w.comp)
    with db.session() as s:
        ann_shares = sum(
            p.shares for p in s.exec(select(Position).where(Position.outcome_id == traded.yes))
        )
    assert ann_before == START - 70 * UNIT and ann_shares > 0
    login(client, w.mod)
    html = client.get(f"/moderate/questions/{w.q.id}/resolve").get_data(as_text=True)
    payouts = section(html, "payout-h")
    assert re.search(
        rf"<td>YES</td>.*?<td class=\"num\">1</td><td class=\"num\">{fmt(ann_shares)}</td>", payouts
    )
    token = TOKEN_RE.search(html).group(1)
    data = {
        "csrf_token": token,
        "outcome": str(traded.yes),
        "note": "It rained.",
        "source_url": "https://weather.example/oslo",
    }
    # Nothing is preselected, and the first POST only shows what would happen.
    assert "selected" not in html.split('name="outcome"', 1)[1].split("</select>", 1)[0]
    r = client.post(f"/moderate/questions/{w.q.id}/resolve", data=data)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "Resolve to YES?" in page
    assert re.search(rf"<td>ann</td><td class=\"num\">{fmt(ann_shares)}</td>", page)
    assert 'name="confirmed" value="1"' in page and 'value="It rained."' in page
    assert balance(db, w.player, w.comp) == ann_before and fresh(db, w.q.id).status == "open"
    r = client.post(f"/moderate/questions/{w.q.id}/resolve", data={**data, "confirmed": "1"})
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/questions/{w.q.id}")
    with client.session_transaction() as sess:
        assert any("Resolved" in m and "YES" in m for _, m in sess["_flashes"])
    assert balance(db, w.player, w.comp) == ann_before + ann_shares  # a share pays one point
    assert balance(db, w.player2, w.comp) == bob_before
    q = fresh(db, w.q.id)
    assert (q.status, q.resolved_outcome_id) == ("resolved", traded.yes)
    assert (q.resolution_note, q.resolution_source_url) == (
        "It rained.",
        "https://weather.example/oslo",
    )
    assert_audit(db)
    # Resolving again is a conflict shown on the form.
    r = client.post(
        f"/moderate/questions/{w.q.id}/resolve",
        data={"csrf_token": token, "outcome": str(traded.no)},
    )
    assert r.status_code == 409 and "already resolved" in r.get_data(as_text=True)
    assert fresh(db, w.q.id).resolved_outcome_id == traded.yes


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"source_url": "javascript:alert(1)"}, "source_url", "http(s) URL"),
        ({"source_url": "https://x.example/" + "a" * 2000}, "source_url", "2000 characters"),
        ({"note": "n" * 5001}, "note", "5000 characters"),
        ({"outcome": "999999"}, "outcome", "Not a valid choice"),
        ({"outcome": "YES"}, "outcome", "Invalid Choice"),
        ({"outcome": ""}, "outcome", ""),
    ],
)
def test_resolve_errors_show_next_to_the_field(client, db, w, traded, fields, field, message):
    login(client, w.owner)
    token = csrf(client, f"/moderate/questions/{w.q.id}/resolve")
    data = {"csrf_token": token, "outcome": str(traded.yes), "note": "", "source_url": "", **fields}
    r = client.post(f"/moderate/questions/{w.q.id}/resolve", data=data)
    assert r.status_code == 422
    assert message in field_error(r.get_data(as_text=True), field)
    assert fresh(db, w.q.id).status == "open"


def test_an_outcome_of_another_question_is_refused(client, db, w, make_question):
    other = make_question(competition=w.comp, title="Other")
    foreign = outcome_ids(db, other)[0]
    login(client, w.owner)
    token = csrf(client, f"/moderate/questions/{w.q.id}/resolve")
    r = client.post(
        f"/moderate/questions/{w.q.id}/resolve", data={"csrf_token": token, "outcome": str(foreign)}
    )
    assert r.status_code == 422
    assert fresh(db, w.q.id).status == "open" and fresh(db, other.id).status == "open"


def test_cancel_preview_states_what_is_reversed_and_cancel_restores_balances(
    client, db, tx, w, traded
):
    # ann sells everything after bob pushed YES up: her sales paid more than she spent.
    place(tx, w.player2, w.q, traded.yes, spend="300")
    with db.session() as s:
        ann_yes = s.exec(
            select(Position).where(
                Position.outcome_id == traded.yes,
                Position.membership_id == access.membership(s, w.player.id, w.comp.id).id,
            )
        ).one()
    place(tx, w.player, w.q, traded.yes, sell=str(ann_yes.shares / UNIT))
    with db.session() as s:
        spent = {
            m.user_id: sum(
                p.spent for p in s.exec(select(Position).where(Position.membership_id == m.id))
            )
            for m in s.exec(select(Membership).where(Membership.competition_id == w.comp.id))
        }
    assert spent[w.player.id] < 0 < spent[w.player2.id]  # ann gives back, bob gets back
    login(client, w.owner)
    r = client.get(f"/moderate/questions/{w.q.id}/cancel")
    html = unescape(r.get_data(as_text=True))
    assert "5 trades" in html and "2 players" in html
    assert f"gives {fmt(-spent[w.player.id])} points back" in html
    assert f"gets {fmt(spent[w.player2.id])} points back" in html
    assert re.search(r"<button[^>]*>Cancel question \(N/A\)</button>", html)
    token = TOKEN_RE.search(html).group(1)
    r = client.post(
        f"/moderate/questions/{w.q.id}/cancel", data={"csrf_token": token, "note": "Ambiguous."}
    )
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/questions/{w.q.id}")
    for u in (w.player, w.player2, w.owner, w.mod):
        assert balance(db, u, w.comp) == START, u.username  # every trade reversed exactly
    q = fresh(db, w.q.id)
    assert (q.status, q.resolution_note) == ("cancelled", "Ambiguous.")
    assert_audit(db)


def test_cancel_of_an_untraded_question_says_nothing_moves(client, w):
    login(client, w.owner)
    html = client.get(f"/moderate/questions/{w.q.id}/cancel").get_data(as_text=True)
    assert "Nobody has traded on this question, so no points move." in html


def test_undo_a_resolution_restores_balances_exactly(client, db, tx, w, traded):
    from forecast.services import resolution

    before = {u.id: balance(db, u, w.comp) for u in (w.player, w.player2)}
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=w.owner.id, question_id=w.q.id, outcome_id=traded.no
        )
    )
    gain = balance(db, w.player2, w.comp) - before[w.player2.id]
    assert gain > 0
    login(client, w.mod)
    r = client.get(f"/moderate/questions/{w.q.id}/undo")
    html = unescape(r.get_data(as_text=True))
    assert "resolved to <strong>NO</strong>" in html
    assert f"gives {fmt(gain)} points back" in html and "taken back" in html
    token = TOKEN_RE.search(html).group(1)
    r = client.post(
        f"/moderate/questions/{w.q.id}/undo", data={"csrf_token": token, "note": "wrong"}
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/moderate/class")
    assert {u.id: balance(db, u, w.comp) for u in (w.player, w.player2)} == before
    q = fresh(db, w.q.id)
    assert (q.status, q.resolved_outcome_id) == ("closed", None)
    assert_audit(db)
    # Now it is in the queue, and undoing again is refused on the page.
    page = client.get("/moderate/class").get_data(as_text=True)
    assert "Will it rain?" in section(page, "queue-h")
    r = client.post(f"/moderate/questions/{w.q.id}/undo", data={"csrf_token": token})
    assert r.status_code == 409 and "not resolved" in r.get_data(as_text=True)


def test_undo_a_cancellation_restores_balances_exactly(client, db, tx, w, traded):
    from forecast.services import resolution

    before = {u.id: balance(db, u, w.comp) for u in (w.player, w.player2)}
    tx(lambda s: resolution.cancel(session=s, user_id=w.owner.id, question_id=w.q.id))
    assert balance(db, w.player, w.comp) == START
    login(client, w.owner)
    html = unescape(client.get(f"/moderate/questions/{w.q.id}/undo").get_data(as_text=True))
    assert "cancelled (N/A)" in html and "Undo the cancellation" in html
    assert f"gives {fmt(70 * UNIT)} points back" in html
    token = TOKEN_RE.search(html).group(1)
    r = client.post(f"/moderate/questions/{w.q.id}/undo", data={"csrf_token": token})
    assert r.status_code == 303
    assert {u.id: balance(db, u, w.comp) for u in (w.player, w.player2)} == before
    assert_audit(db)


# ---------------------------------------------------------------- dashboard


def test_the_queue_holds_questions_past_their_close_time(client, db, tx, w, make_question):
    due = make_question(competition=w.comp, title="Overdue, still marked open")
    closed = make_question(competition=w.comp, title="Closed by hand")
    make_question(competition=w.comp, title="Trading still")
    with db.session() as s:  # its close time passed; nothing wrote "closed" yet
        row = s.get(Question, due.id)
        row.close_at = utcnow() - timedelta(hours=2)
        s.add(row)
        s.commit()
    tx(lambda s: questions.close_question(session=s, user_id=w.owner.id, question_id=closed.id))
    resolved_question(w, tx, db, make_question)
    login(client, w.owner)
    html = client.get("/moderate/class").get_data(as_text=True)
    queue = section(html, "queue-h")
    assert "Overdue, still marked open" in queue and "Closed by hand" in queue
    assert queue.index("Overdue") < queue.index("Closed by hand")  # longest waiting first
    assert "Trading still" not in queue and "Done?" not in queue
    assert f"/moderate/questions/{due.id}/resolve" in queue
    assert f"/moderate/questions/{due.id}/cancel" in queue
    assert f"/moderate/questions/{due.id}/edit" in queue
    assert "Trading still" in section(html, "open-h")
    assert "Done?" in section(html, "settled-h")


def test_the_audit_log_is_newest_first_and_paginated(client, db, tx, w):
    base = datetime(2030, 1, 1, tzinfo=UTC)

    def many(s):
        for i in range(120):
            entry = log_action(
                s, w.comp.id, w.mod.id, "close", question_id=w.q.id, reason=f"r{i:03d}"
            )
            entry.created_at = base + timedelta(minutes=i)
            s.add(entry)

    tx(many)
    total = count(db, ModeratorAction, ModeratorAction.competition_id == w.comp.id)
    login(client, w.owner)

    def reasons(page):
        html = client.get(f"/moderate/class?page={page}").get_data(as_text=True)
        return re.findall(r"<td>(r\d{3})</td>", section(html, "log-h")), html

    first, html = reasons(1)
    assert len(first) == AUDIT_PAGE_SIZE and first[0] == "r119" and first[-1] == "r070"
    assert f"({total} in all)" in html and "helper" in section(html, "log-h")
    assert "Page 1 of 3" in html and "page=2" in html
    second, _ = reasons(2)
    assert second[0] == "r069"
    last, html = reasons(3)
    assert last[-1] == "r000" and len([r for r in last if r.startswith("r")]) == 20
    assert reasons(999)[0] == last  # past the end: the last page
    assert reasons("abc")[0] == first
    assert reasons(-4)[0] == first


def test_xss_payloads_come_out_escaped(client, db, tx, w, traded):
    evil = '<script>alert("t")</script><img src=x onerror=alert(1)>'
    login(client, w.owner)
    assert create(client, w, title=f"T {evil}", description=evil).status_code == 303
    with db.session() as s:
        q = s.exec(select(Question).where(Question.title == f"T {evil}")).one()
    assert edit(client, w, fresh(db, w.q.id), reason=f"R {evil}").status_code in (303, 422)
    token = csrf(client, f"/moderate/questions/{w.q.id}/resolve")
    r = client.post(
        f"/moderate/questions/{w.q.id}/resolve",
        data={
            "csrf_token": token,
            "outcome": str(traded.yes),
            "note": f"N {evil}",
            "confirmed": "1",
        },
    )
    assert r.status_code == 303
    tx(
        lambda s: questions.close_question(
            session=s, user_id=w.owner.id, question_id=q.id, reason=f"C {evil}"
        )
    )
    for path in (
        "/moderate/class",
        f"/moderate/questions/{q.id}/resolve",
        f"/moderate/questions/{q.id}/cancel",
        f"/moderate/questions/{q.id}/edit",
        f"/moderate/questions/{w.q.id}/undo",
    ):
        html = client.get(path).get_data(as_text=True)
        page = body(html)
        assert "<script>" not in page and "<img" not in page and "onerror=alert(1)>" not in page, (
            path
        )
        assert "&lt;script&gt;" in page, path
    log = section(client.get("/moderate/class").get_data(as_text=True), "log-h")
    for marker in ("T &lt;script&gt;", "N &lt;script&gt;", "C &lt;script&gt;"):
        assert marker in log, marker


# ---------------------------------------------------------------- no 500


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["binary", "multiple_choice", "", "x"]) | text,
    title=text,
    outcomes=text,
    close_at=st.sampled_from(["", "2030-01-01T00:00", "0001-01-01T00:00", "2030-13-01T00:00"])
    | text,
    liquidity=st.sampled_from(["1", "1e999", "-0", "1_000", "0x10", "١٠٠"]) | text,
    probs=st.sampled_from(["", "50,50", "1e999,1", "-50,150", "50,50,"]) | text,
)
def test_no_create_input_gives_a_500(client, w, kind, title, outcomes, close_at, liquidity, probs):
    login(client, w.owner)
    r = create(
        client,
        w,
        kind=kind,
        title=title,
        outcomes=outcomes,
        close_at=close_at,
        liquidity=liquidity,
        initial_probabilities=probs,
    )
    assert r.status_code in (303, 409, 422), r.status_code


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(outcome=text, note=text, source=text, reason=text, page=text)
def test_no_resolve_edit_or_page_input_gives_a_500(client, w, outcome, note, source, reason, page):
    login(client, w.owner)
    token = csrf(client, "/moderate/class/questions/new")
    r = client.post(
        f"/moderate/questions/{w.q.id}/cancel"
        if outcome == ""
        else f"/moderate/questions/{w.pq.id}/resolve",
        data={
            "csrf_token": token,
            "outcome": outcome,
            "note": note,
            "source_url": source,
            "confirmed": "1",
        },
    )
    assert r.status_code in (303, 409, 422)
    r = client.post(
        f"/moderate/questions/{w.q.id}/edit",
        data={"csrf_token": token, "title": note or "t", "close_at": source, "reason": reason},
    )
    assert r.status_code in (303, 409, 422)
    assert client.get("/moderate/class", query_string={"page": page}).status_code == 200
