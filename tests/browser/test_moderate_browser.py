"""Moderator pages in a real Chromium: write a question, resolve it through the
labelled form, see the audit log, with no Content-Security-Policy violation."""

from __future__ import annotations

import os
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import select
from werkzeug.serving import make_server

from forecast.market.money import UNIT
from forecast.models import Question, utcnow
from forecast.services import access, competitions, trading
from forecast.services.questions import outcomes_of

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
        reason="Chromium is not installed at /usr/bin/chromium",
    ),
]


@pytest.fixture
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)
    srv.server_close()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def signed_in(app, browser, server, user):
    """A browser context holding a session cookie for ``user`` (made by the app itself)."""
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user.id)
        sess["_fresh"] = True
    cookie = client.get_cookie("session")
    context = browser.new_context()
    context.add_cookies([{"name": "session", "value": cookie.value, "url": server}])
    return context


def test_a_moderator_writes_and_resolves_a_question_in_chromium(
    app, db, tx, make_user, server, browser, tmp_path
):
    make_user("admin")
    teacher, ann = make_user("teacher"), make_user("ann")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=teacher.id, name="Class <7B>", slug="class", starting_balance=1000
        )
    )
    tx(lambda s: competitions.join(session=s, user_id=ann.id, slug="class", code=comp.join_code))
    context = signed_in(app, browser, server, teacher)
    page = context.new_page()
    violations = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )

    page.goto(f"{server}/moderate/class")
    page.get_by_role("link", name="Write a new question").click()
    page.get_by_role("radio", name="Multiple choice").check()
    page.get_by_label("Title").fill("Which team wins?")
    page.get_by_label("Outcomes (multiple choice only)").fill("Red\nGreen\nBlue")
    page.get_by_label("Resolution criteria").fill("The referee's report.")
    close = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    # The field takes the browser's own time (UTC here too), and says so.
    page.get_by_label(re.compile(r"^Close time \(your time")).fill(close)
    page.get_by_label("Or your own liquidity b (points, optional)").fill("0")
    page.get_by_role("button", name="Create question").click()
    error = page.locator("#liquidity-error")
    assert "between 1 and 10,000,000,000" in error.inner_text()
    assert page.get_by_label("Title").input_value() == "Which team wins?"
    page.screenshot(path=str(tmp_path / "new-question-error.png"), full_page=True)
    page.get_by_label("Or your own liquidity b (points, optional)").fill("50")
    page.get_by_label("Opening probabilities (%, optional)").fill("50\n30\n20")
    page.get_by_role("button", name="Create question").click()
    page.wait_for_url(re.compile(r"/questions/\d+$"))
    with db.session() as s:
        q = s.exec(select(Question).where(Question.title == "Which team wins?")).one()
        green = outcomes_of(s, q.id)[1]
    tx(
        lambda s: trading.trade(
            session=s,
            user_id=ann.id,
            question_id=q.id,
            order=trading.parse_order(outcome_id=green.id, spend="20"),
        )
    )

    page.goto(f"{server}/moderate/questions/{q.id}/resolve")
    page.get_by_label("Outcome").select_option(label="Green")
    page.get_by_label("Note").fill("Green won 3-1 <b>clearly</b>.")
    page.get_by_label("Source URL").fill("https://example.org/report")
    page.screenshot(path=str(tmp_path / "resolve.png"), full_page=True)
    page.get_by_role("button", name="Resolve", exact=True).click()
    # The server asks first: the outcome, and who gets what.
    expect(page.locator("h1")).to_have_text("Resolve to Green?")
    expect(page.locator(".confirm table")).to_contain_text("ann")
    page.get_by_role("button", name="Resolve to Green and pay out").click()
    page.wait_for_url(f"{server}/questions/{q.id}")
    with db.session() as s:
        q = s.get(Question, q.id)
        assert (q.status, q.resolved_outcome_id) == ("resolved", green.id)
        assert access.membership(s, ann.id, comp.id).balance > 1000 * UNIT

    page.goto(f"{server}/moderate/class")
    log = page.locator("section", has=page.locator("#log-h"))
    assert "Green won 3-1 <b>clearly</b>." in log.inner_text()  # shown as text, not markup
    assert log.locator("b").count() == 0
    assert "Class <7B>" in page.locator("h1").inner_text()
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    page.goto(f"{server}/moderate/questions/{q.id}/undo")
    assert "resolved to Green" in page.locator("main").inner_text()
    page.get_by_role("button", name="Undo the resolution").click()
    page.wait_for_url(f"{server}/moderate/class")
    assert "Which team wins?" in page.locator("section", has=page.locator("#queue-h")).inner_text()
    assert violations == []
    context.close()
