"""What a page asks the database for: no row is read twice in one view."""

from __future__ import annotations

import pytest
from sqlalchemy import event


def _statements(app, monkeypatch) -> list[str]:
    """Every statement from now on but SQLite's BEGIN (forecast.db's recipe emits it)."""
    seen: list[str] = []
    engine = app.extensions["forecast_db"].engine

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        if not statement.startswith("BEGIN"):
            seen.append(" ".join(statement.split()))

    return seen


def _forget_drawn(app) -> None:
    """Empty the app's cache, so the next view draws everything afresh."""
    app.extensions["forecast_cache"].clear()


@pytest.fixture
def steady_clock(monkeypatch):
    """An open question's chart runs to "now" taken to the minute (questions._now_step):
    two views either side of a minute would draw it again."""
    from forecast.web import questions

    step = questions._now_step()
    monkeypatch.setattr(questions, "_now_step", lambda: step)


def test_the_api_question_reads_its_competition_once(app, make_question, monkeypatch):
    q = make_question()
    client = app.test_client()
    seen = _statements(app, monkeypatch)
    assert client.get(f"/api/v1/questions/{q.id}").status_code == 200
    competition_reads = [s for s in seen if "FROM competition" in s or "JOIN competition" in s]
    assert len(competition_reads) == 1, competition_reads


def test_the_comments_show_what_was_said_hidden_and_traded_at_once(
    web, tx, make_user, make_question, buy
):
    """The comments section is read with the page: a comment, a hide and a trade (which
    moves a commenter's position) each show on the next view; a moderator sees the
    hidden comment and no one else does."""
    from forecast.services import comments

    alice, admin = make_user("alice"), make_user("root", admin=True)
    q = make_question()
    client, (yes, _) = web.client, web.outcomes(q)

    def view() -> str:
        page = client.get(f"/questions/{q.id}").get_data(as_text=True)
        section = page[page.index('<section id="comments"') :]
        return section[: section.index("</section>")]

    def say(body: str):
        return tx(
            lambda s: comments.add_comment(session=s, user_id=alice.id, question_id=q.id, body=body)
        )

    assert "No comments yet" in view()
    first = say("YES, the deal closes")
    assert "the deal closes" in view()
    say("Regulators will wave it through")
    assert "wave it through" in view()
    tx(lambda s: comments.set_hidden(session=s, user_id=admin.id, comment_id=first.id))
    held = view()
    assert "the deal closes" not in held
    buy(alice, q, yes, spend=50)  # alice's position, shown beside her comment, grows
    assert view() != held
    web.login(admin)
    assert "the deal closes" in view()
    web.logout()
    assert "the deal closes" not in view()


def _chart(html: str) -> str:
    chart = html[html.index('<svg class="chart history-chart"') :]
    return chart[: chart.index("</svg>")]


def _drawings(monkeypatch, module, name: str) -> list:
    """Each call of ``module.name`` from now on (its first argument)."""
    calls: list = []
    real = getattr(module, name)

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(args[0] if args else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


@pytest.mark.usefixtures("steady_clock")
def test_a_question_chart_is_drawn_once_per_trade_for_every_viewer(
    app, web, make_user, make_question, buy, signed_in, monkeypatch
):
    """The app's cache keeps a question's chart by its id at its trade count: viewers after
    the first, signed in or not, get it as drawn; a trade draws it again, and what is kept
    is what drawing afresh gives."""
    from forecast.web import charts

    alice = make_user("alice")
    q = make_question()
    yes, no = web.outcomes(q)
    buy(alice, q, yes, spend=5)
    page = f"/questions/{q.id}"
    drawn = _drawings(monkeypatch, charts, "history_chart_columns")
    first = web.client.get(page).get_data(as_text=True)
    member, _ = signed_in(app, alice, page)
    mine = member.get(page).get_data(as_text=True)
    assert len(drawn) == 1 and _chart(mine) == _chart(first)
    buy(alice, q, no, spend=20)
    after = web.client.get(page).get_data(as_text=True)
    assert len(drawn) == 2 and _chart(after) != _chart(first)
    _forget_drawn(app)
    assert _chart(web.client.get(page).get_data(as_text=True)) == _chart(after)


def test_home_cards_are_built_once_per_trade_on_their_question(
    app, web, make_user, make_question, buy, monkeypatch
):
    """A question card (its probability and sparkline) is kept by the question's id at its
    trade count: a trade on one question builds that card again and no other."""
    from forecast.web import home

    alice = make_user("alice")
    q = make_question()
    make_question(title="Another question?")
    built = _drawings(monkeypatch, home, "_card")
    first = web.client.get("/").get_data(as_text=True)
    assert len(built) == 2 and "Another question?" in first
    assert web.client.get("/").get_data(as_text=True) == first and len(built) == 2
    buy(alice, q, web.outcomes(q)[0], spend=30)
    after = web.client.get("/").get_data(as_text=True)
    assert len(built) == 3 and after != first
    _forget_drawn(app)
    assert web.client.get("/").get_data(as_text=True) == after


def _recent_trades_section(html: str) -> str:
    section = html[html.index('<section id="recent-trades"') :]
    return section[: section.index("</section>")]


def test_the_recent_trades_show_the_latest_newest_first(web, make_user, make_question, buy):
    from forecast.services import reads

    alice, bob = make_user("alice"), make_user("bob")
    q = make_question()
    yes, no = web.outcomes(q)
    page = f"/questions/{q.id}"
    assert "No trades yet" in _recent_trades_section(web.client.get(page).get_data(as_text=True))
    buy(alice, q, yes, spend=5)
    buy(bob, q, no, spend=3)
    table = _recent_trades_section(web.client.get(page).get_data(as_text=True))
    assert table.index(">bob<") < table.index(">alice<")  # newest first
    assert "bought NO" in table and "just now" in table
    for k in range(reads.RECENT_TRADES):
        buy(alice, q, yes, spend=1 + k % 3)
    table = _recent_trades_section(web.client.get(page).get_data(as_text=True))
    assert table.count("<tr>") == reads.RECENT_TRADES + 1  # and the header
    assert ">bob<" not in table


def _rendered(app) -> list[str]:
    """The names of the templates rendered from now on (Flask's template_rendered signal)."""
    from flask import template_rendered

    names: list[str] = []

    def record(sender, template, context, **extra):  # noqa: ANN001, ANN202
        names.append(template.name)

    template_rendered.connect(record, app, weak=False)
    return names


def test_htmx_fragments_of_the_question_page_draw_only_the_panel(
    app, web, make_question, monkeypatch
):
    """A change of mode swaps the trade panel: no chart, recent trades or comments."""
    from forecast.web import charts

    q = make_question()
    drawn = _drawings(monkeypatch, charts, "history_chart_columns")
    names = _rendered(app)
    r = web.client.get(f"/questions/{q.id}/trade?mode=sell", headers={"HX-Request": "true"})
    assert r.status_code == 200 and names == ["partials/_trade_panel.html"], names
    assert drawn == []
