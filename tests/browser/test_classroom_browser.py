"""The classroom in a real Chromium: the projector view on a wall at 1920x1080 follows
a trade made in another browser, and passes axe-core."""

from __future__ import annotations

import re

import pytest
from a11y import assert_accessible  # same folder (pytest puts it on sys.path)
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

WALL = {"width": 1920, "height": 1080}


def login(page: Page, server: str, username: str, password: str = "password123") -> None:
    page.goto(f"{server}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".account-name")).to_contain_text(username)


def _class_with_a_question(app) -> dict:
    """A teacher, a student and a private class with one question (through the services)."""
    from datetime import timedelta

    from forecast.models import utcnow
    from forecast.services import accounts, competitions, questions

    db = app.extensions["forecast_db"]

    def setup(s):
        teacher = accounts.create_user(session=s, username="teacher", password="password123")
        student = accounts.create_user(session=s, username="student", password="password123")
        comp = competitions.create_competition(
            session=s,
            user_id=teacher.id,
            name="Class 7B",
            slug="class-7b",
            starting_balance="500",
            is_listed=False,
        )
        competitions.add_member(session=s, competition=comp, user=student)
        q = questions.create_question(
            session=s,
            user_id=teacher.id,
            competition=comp,
            check_moderator=False,
            title="Will it snow on Friday?",
            kind="binary",
            outcomes=None,
            close_at=utcnow() + timedelta(days=7),
            liquidity=100,
        )
        return {"code": comp.join_code, "question": q.id}

    return db.transaction(setup)


def test_projector_follows_a_trade_made_elsewhere(live_server, browser, page, shots):
    server = live_server.url
    made = _class_with_a_question(live_server.app)

    wall_ctx = browser.new_context(viewport=WALL)
    wall_ctx.set_default_timeout(15_000)
    wall = wall_ctx.new_page()
    login(wall, server, "teacher")
    wall.goto(f"{server}/c/class-7b/live")
    expect(wall.locator("h1")).to_have_text("Class 7B")
    expect(wall.locator(".live-code")).to_contain_text(made["code"])
    expect(wall.get_by_role("img", name="QR code to join Class 7B")).to_be_visible()
    expect(wall.locator(".live-moved h2")).to_have_text("No trades yet")
    wall.wait_for_load_state()
    wall.evaluate("window.__marker = 'no reload'")

    # A student buys on their own phone-sized browser.
    phone = browser.new_context(viewport={"width": 390, "height": 844})
    student = phone.new_page()
    login(student, server, "student")
    student.goto(f"{server}/questions/{made['question']}")
    student.get_by_role("radio", name=re.compile(r"^YES\b")).check()
    student.get_by_label("Points to spend").fill("80")
    student.get_by_role("button", name="Buy", exact=True).click()
    expect(student.locator("#trade-panel .flash-success")).to_contain_text("shares of YES")
    phone.close()

    # The wall shows it within a refresh or two, without reloading the page.
    expect(wall.locator(".live-moved h2")).to_have_text("Last move: Will it snow on Friday?")
    expect(wall.locator(".live-trades li").first).to_contain_text("student")
    expect(wall.locator(".live-trades li").first).to_contain_text("YES")
    expect(wall.locator(".live-ranks li")).to_have_count(2)
    expect(wall.locator(".live-chart svg")).to_be_visible()
    assert wall.evaluate("window.__marker") == "no reload"
    assert wall.evaluate("document.documentElement.scrollWidth") <= WALL["width"]
    assert_accessible(wall)
    wall.screenshot(path=str(shots / "projector.png"))
    wall_ctx.close()


def test_projector_without_javascript_reloads_itself(live_server, browser):
    server = live_server.url
    _class_with_a_question(live_server.app)
    ctx = browser.new_context(java_script_enabled=False, viewport=WALL)
    page = ctx.new_page()
    login(page, server, "student")
    page.goto(f"{server}/c/class-7b/live")
    expect(page.locator("h1")).to_have_text("Class 7B")
    refresh = page.locator('noscript meta[http-equiv="refresh"]')
    assert refresh.count() == 1 or "refresh" in page.content()
    expect(page.get_by_role("link", name=re.compile("^updated"))).to_be_visible()
    ctx.close()
