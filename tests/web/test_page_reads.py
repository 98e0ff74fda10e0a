"""What a page asks the database for: no row is read twice in one view."""

from __future__ import annotations

import pytest
from sqlalchemy import event

import forecast.db


def _statements(app, monkeypatch) -> list[str]:
    """Every statement from now on: SQLAlchemy's, and those db.Prepared runs on the cursor."""
    seen: list[str] = []
    engine = app.extensions["forecast_db"].engine

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        seen.append(" ".join(statement.split()))

    run = forecast.db._Compiled.run

    def record_prepared(self, *args, **kwargs):  # noqa: ANN001, ANN202
        seen.append(" ".join(self.sql.split()))
        return run(self, *args, **kwargs)

    monkeypatch.setattr(forecast.db._Compiled, "run", record_prepared)
    return seen


def _forget_drawn() -> None:
    """Forget everything the pages keep drawn and read, so the next view draws afresh."""
    from forecast.services import queries
    from forecast.web import pages

    for kept in (pages._DRAWN, pages._PARTS, pages._ROWS, pages._LATEST, queries._HISTORIES):
        kept.clear()


@pytest.fixture
def steady_clock(monkeypatch):
    """Pages take "now" to the minute (pages._now_step), in the keys of what they keep
    drawn and in the chart's end: two views either side of a minute would draw again."""
    from forecast.web import pages

    step = pages._now_step()
    monkeypatch.setattr(pages, "_now_step", lambda: step)


@pytest.mark.usefixtures("steady_clock")
def test_a_question_page_reads_its_question_and_competition_once(app, make_question, monkeypatch):
    """With its outcomes, in one statement (questions.viewable_with_outcomes)."""
    q = make_question()
    client = app.test_client()
    assert client.get(f"/questions/{q.id}").status_code == 200
    seen = _statements(app, monkeypatch)
    assert client.get(f"/questions/{q.id}").status_code == 200
    competition_reads = [s for s in seen if "FROM competition" in s or "JOIN competition" in s]
    assert len(competition_reads) == 1, competition_reads  # with the question, not again by id
    assert "FROM question JOIN competition" in competition_reads[0]
    assert "LEFT OUTER JOIN outcome" in competition_reads[0]
    assert not [s for s in seen if "FROM outcome" in s], seen  # the outcomes came with it
    assert len([s for s in seen if "FROM question" in s]) == 1, seen  # and nothing again by id
    assert len(seen) == 1, seen  # the chart, the trades and the comments are kept already


def test_the_api_question_reads_its_competition_once(app, make_question, monkeypatch):
    q = make_question()
    client = app.test_client()
    seen = _statements(app, monkeypatch)
    assert client.get(f"/api/v1/questions/{q.id}").status_code == 200
    competition_reads = [s for s in seen if "FROM competition" in s or "JOIN competition" in s]
    assert len(competition_reads) == 1, competition_reads


def _recent_trades_section(html: str) -> str:
    section = html[html.index('<section id="recent-trades"') :]
    return section[: section.index("</section>")]


@pytest.mark.usefixtures("steady_clock")
def test_a_redrawn_recent_trades_table_draws_only_the_new_rows(
    web, make_user, make_question, buy, monkeypatch
):
    """After a trade the table is drawn again, but each earlier row comes as drawn before
    (pages._trade_rows), and the table is what drawing every row afresh gives."""
    from forecast.web import pages

    alice, bob = make_user("alice"), make_user("bob")
    q = make_question()
    client, (yes, _) = web.client, web.outcomes(q)
    page = client.get(f"/questions/{q.id}").get_data(as_text=True)
    assert "No trades yet" in _recent_trades_section(page)
    drawn: list[int] = []
    real = pages.get_template_attribute

    def counting(name, attribute):  # noqa: ANN001, ANN202
        macro = real(name, attribute)

        def row(t, when):  # noqa: ANN001, ANN202
            drawn.append(t["id"])
            return macro(t, when)

        return row

    monkeypatch.setattr(pages, "get_template_attribute", counting)
    first = buy(alice, q, yes, spend=5).trade.id
    client.get(f"/questions/{q.id}")
    second = buy(bob, q, yes, spend=3).trade.id
    table = _recent_trades_section(client.get(f"/questions/{q.id}").get_data(as_text=True))
    assert drawn == [first, second]  # the first row drawn once, for the first view
    assert table.index(">bob<") < table.index(">alice<")  # newest first
    _forget_drawn()
    afresh = _recent_trades_section(client.get(f"/questions/{q.id}").get_data(as_text=True))
    assert afresh == table and drawn == [first, second, second, first]


def _table_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if "FROM trade JOIN user" in s.replace('"', "")]


def test_the_recent_trades_are_read_once_each(app, web, make_user, make_question, buy, monkeypatch):
    """A view after new trades reads only those (pages._latest_trades), a view a minute
    later (its times reworded) reads none, and the table is always the one a fresh read
    draws, past the RECENT_TRADES it shows too."""
    from datetime import timedelta

    from forecast.services import queries
    from forecast.web import pages

    alice, bob = make_user("alice"), make_user("bob")
    q, other = make_question(), make_question(title="Another question?")
    client, (yes, no), (elsewhere, _) = web.client, web.outcomes(q), web.outcomes(other)
    step = pages._now_step()
    monkeypatch.setattr(pages, "_now_step", lambda: step)

    def view() -> tuple[str, list[str]]:
        seen = _statements(app, monkeypatch)
        table = _recent_trades_section(client.get(f"/questions/{q.id}").get_data(as_text=True))
        monkeypatch.undo()  # the recording (and the clock, set again below)
        monkeypatch.setattr(pages, "_now_step", lambda: step)
        return table, _table_reads(seen)

    def afresh() -> str:
        _forget_drawn()
        return view()[0]

    def trade(k: int) -> None:
        buy(bob if k % 2 else alice, q, no if k % 2 else yes, spend=1 + k % 3)
        buy(bob, other, elsewhere, spend=1)  # ids are the site's: the question's skip these

    for k in range(3):
        trade(k)
    table, reads = view()
    assert len(reads) == 1 and "trade.id >" not in reads[0]  # the first read: the latest 20
    assert table.count("<tr>") == 3 + 1  # and the header
    made = 3
    for n in (2, queries.RECENT_TRADES + 5):
        for k in range(n):
            trade(k)
        made += n
        table, reads = view()
        assert len(reads) == 1 and "trade.id >" in reads[0], reads  # only what came since
        assert table == afresh()
        assert table.count("<tr>") == min(made, queries.RECENT_TRADES) + 1
    step += timedelta(minutes=1)
    table, reads = view()
    assert reads == [] and table == afresh()  # drawn again for the new minute, nothing read


def _chart(html: str) -> str:
    chart = html[html.index('<svg class="chart history-chart"') :]
    return chart[: chart.index("</svg>")]


@pytest.mark.usefixtures("steady_clock")
@pytest.mark.parametrize("trades_since", [1, 25])
def test_a_redrawn_chart_takes_the_new_trades_from_the_recent_trades(
    app, web, make_user, make_question, buy, monkeypatch, trades_since
):
    """A kept history a few trades behind takes them from the recent trades the page has
    read anyway (queries.history_columns' ``newest``); more than the table holds are
    read.  Either way the chart is the one drawn from the whole history afresh."""
    from forecast.services import queries

    alice, bob = make_user("alice"), make_user("bob")
    q, other = make_question(), make_question(title="Another question?")
    client, (yes, no), (elsewhere, _) = web.client, web.outcomes(q), web.outcomes(other)
    buy(alice, q, yes, spend=5)
    client.get(f"/questions/{q.id}")  # keeps the history
    for k in range(trades_since):
        buy(bob if k % 2 else alice, q, no if k % 2 else yes, spend=1 + k % 3)
        buy(bob, other, elsewhere, spend=1)  # ids are the site's: the question's skip these
    seen = _statements(app, monkeypatch)
    chart = _chart(client.get(f"/questions/{q.id}").get_data(as_text=True))
    since = [s for s in seen if "trade.id >" in s and "username" not in s]  # not the table's
    assert len(since) == (0 if trades_since < queries.RECENT_TRADES else 1), seen
    _forget_drawn()
    assert _chart(client.get(f"/questions/{q.id}").get_data(as_text=True)) == chart


def test_the_trades_since_a_kept_history_come_from_the_newest_only_when_they_reach_it():
    from forecast.services.queries import _since

    newest = [(9, "t9", {}), (8, "t8", {}), (7, "t7", {})]
    assert _since(newest, 7) == [(8, "t8", {}), (9, "t9", {})]
    assert _since(newest, 9) == []
    # ids are the site's, not the question's: a trade between 6 and 7 would not show
    assert _since(newest, 6) is None
    assert _since([], 5) is None and _since(None, 5) is None


def test_the_comments_are_read_again_only_when_they_or_the_positions_move(
    app, web, tx, make_user, make_question, buy, monkeypatch
):
    """A page keeps the comments it read (web.comments._comments) while the question's
    comments_version and trade_count hold: a comment, a hide and a trade (which moves a
    commenter's position) each have them read again, and nothing else does; a trade on a
    question without comments leaves them as they are."""
    from forecast.services import comments
    from forecast.web import comments as comments_web
    from forecast.web import pages

    alice, admin = make_user("alice"), make_user("root", admin=True)
    q = make_question()
    client, (yes, _) = web.client, web.outcomes(q)
    step = pages._now_step()

    def view() -> tuple[str, int]:
        monkeypatch.setattr(pages, "_now_step", lambda: step)
        seen = _statements(app, monkeypatch)
        page = client.get(f"/questions/{q.id}").get_data(as_text=True)
        monkeypatch.undo()
        section = page[page.index('<section id="comments"') :]
        return section[: section.index("</section>")], len([s for s in seen if "FROM comment" in s])

    def afresh() -> str:
        comments_web._COMMENTS.clear()
        return view()[0]

    def say(body: str):
        return tx(
            lambda s: comments.add_comment(session=s, user_id=alice.id, question_id=q.id, body=body)
        )

    html, reads = view()
    assert reads == 1 and "No comments yet" in html
    buy(alice, q, yes, spend=5)
    assert view() == (html, 0)  # no comments: no commenter whose position the trade moved
    first = say("YES, the deal closes")
    html, reads = view()
    assert reads == 1 and "the deal closes" in html
    assert view() == (html, 0)  # kept
    say("Regulators will wave it through")
    html, reads = view()
    assert reads == 1 and "wave it through" in html and html == afresh()
    tx(lambda s: comments.set_hidden(session=s, user_id=admin.id, comment_id=first.id))
    html, reads = view()
    assert reads == 1 and "the deal closes" not in html and html == afresh()
    held = html
    buy(alice, q, yes, spend=50)  # alice's position, shown beside her comment, grows
    html, reads = view()
    assert reads == 1 and html != held and html == afresh()
    assert view() == (html, 0)
    # A moderator sees the hidden comment; what was read for them is never shown to others.
    web.login(admin)
    moderated, reads = view()
    assert reads == 1 and "the deal closes" in moderated
    web.logout()
    assert view() == (html, 0)


def test_comments_written_without_a_version_show_within_a_minute(
    app, db, web, tx, make_user, make_question, monkeypatch
):
    """A writer that counts no comments_version (a server of an older release during an
    upgrade) shows once the kept comments are COMMENTS_MAX_AGE old; a list longer than
    COMMENTS_KEEP_CHARS is read on every view."""
    import time

    from forecast.models import Comment
    from forecast.services import comments
    from forecast.web import comments as comments_web

    alice = make_user("alice")
    q = make_question()
    client = web.client
    tx(lambda s: comments.add_comment(session=s, user_id=alice.id, question_id=q.id, body="first"))

    def page() -> str:
        return client.get(f"/questions/{q.id}").get_data(as_text=True)

    assert "first" in page()
    with db.session() as s:  # as an older release writes it: no comments_version counted
        s.add(Comment(question_id=q.id, user_id=alice.id, body="from the old server"))
        s.commit()
    assert "from the old server" not in page()  # kept
    later = time.monotonic() + comments_web.COMMENTS_MAX_AGE
    monkeypatch.setattr(comments_web.time, "monotonic", lambda: later)
    assert "from the old server" in page()
    monkeypatch.setattr(comments_web, "COMMENTS_KEEP_CHARS", 10)
    comments_web._COMMENTS.clear()
    page()
    assert not comments_web._COMMENTS  # too long to keep


def _rendered(app) -> list[str]:
    """The names of the templates rendered from now on (Flask's template_rendered signal)."""
    from flask import template_rendered

    names: list[str] = []

    def record(sender, template, context, **extra):  # noqa: ANN001, ANN202
        names.append(template.name)

    template_rendered.connect(record, app, weak=False)
    return names


SHARED_PARTS = ("partials/_probability.html", "partials/_about.html")


@pytest.mark.usefixtures("steady_clock")
def test_the_parts_every_viewer_sees_are_drawn_once_per_trade(
    app, web, make_user, make_question, buy, signed_in
):
    """The probabilities and the question's text are drawn for the
    first view and kept (pages._Later) for everyone's next, signed in or not; a trade
    draws them again, and what each viewer sees of their own still is theirs."""

    alice = make_user("alice")
    q = make_question(description="Whether the <deal> closes.")
    yes, no = web.outcomes(q)
    buy(alice, q, yes, spend=5)
    page = f"/questions/{q.id}"
    first = web.client.get(page).get_data(as_text=True)
    names = _rendered(app)
    again = web.client.get(page).get_data(as_text=True)
    assert again == first and not [n for n in names if n in SHARED_PARTS], names
    member, _ = signed_in(app, alice, page)
    mine = member.get(page).get_data(as_text=True)
    assert not [n for n in names if n in SHARED_PARTS], names
    assert 'id="balance"' in mine and 'id="balance"' not in first  # hers, drawn for her
    assert "Log in to see what you hold." in first and "Log in to see" not in mine
    assert "Whether the &lt;deal&gt; closes." in mine  # escaped, as drawn
    buy(alice, q, no, spend=20)
    names.clear()
    after = web.client.get(page).get_data(as_text=True)
    assert [n for n in names if n in SHARED_PARTS] == ["partials/_probability.html"]  # not the text
    _forget_drawn()
    assert web.client.get(page).get_data(as_text=True) == after  # as drawn afresh
    assert _chart(after) != _chart(first)


@pytest.mark.usefixtures("steady_clock")
def test_htmx_fragments_of_the_question_page_draw_none_of_the_shared_parts(app, web, make_question):
    q = make_question()
    names = _rendered(app)
    r = web.client.get(f"/questions/{q.id}/trade?mode=sell", headers={"HX-Request": "true"})
    assert r.status_code == 200 and names[-1] == "partials/_trade_panel.html", names
    assert not [n for n in names if n in SHARED_PARTS], names
