"""The classroom in a real Chromium: the projector view on a wall at 1920x1080 follows
a trade made in another browser, and passes axe-core."""

from __future__ import annotations

import re

import pytest
from a11y import assert_accessible, assert_fits  # same folder (pytest puts it on sys.path)
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

WALL = {"width": 1920, "height": 1080}


def login(page: Page, server: str, username: str, password: str = "tidy-otter-123") -> None:
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
        teacher = accounts.create_user(session=s, username="teacher", password="tidy-otter-123")
        student = accounts.create_user(session=s, username="student", password="tidy-otter-123")
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

    wall_ctx = browser.new_context(viewport=WALL, bypass_csp=True)
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
    phone = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
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


def test_a_logged_out_student_joins_by_link_in_one_step(live_server, page, shots):
    server = live_server.url
    made = _class_with_a_question(live_server.app)
    page.goto(f"{server}/c/class-7b/join?code={made['code']}")
    expect(page.locator("h1")).to_have_text("Join Class 7B")
    new = page.locator("section", has=page.get_by_role("heading", name="New here"))
    new.get_by_label("Username").fill("newkid")
    new.get_by_label("Password", exact=True).fill("tidy-otter-123")
    new.get_by_label("Password again").fill("tidy-otter-123")
    assert_accessible(page)
    new.get_by_role("button", name="Create account and join").click()
    page.wait_for_url(f"{server}/c/class-7b/")
    expect(page.locator(".flash-success")).to_contain_text("You joined Class 7B with 500.00 points")
    expect(page.locator(".switcher summary")).to_contain_text("Class 7B")
    expect(page.locator(".account-name")).to_contain_text("newkid")

    # Logged out and back in, the class opens, not the public competition.
    page.get_by_role("button", name="Log out").click()
    login(page, server, "newkid")
    page.wait_for_url(f"{server}/c/class-7b/")


def test_organiser_resets_a_password_and_the_student_logs_in(live_server, browser, page, shots):
    server = live_server.url
    _class_with_a_question(live_server.app)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    teacher = phone.new_page()
    login(teacher, server, "teacher")
    teacher.goto(f"{server}/c/class-7b/roster")
    expect(teacher.locator("h1")).to_have_text("Roster")
    assert_fits(teacher)
    assert_accessible(teacher)
    teacher.screenshot(path=str(shots / "roster-390.png"), full_page=True)
    teacher.get_by_role("button", name="Password reset link for student").click()
    link = teacher.get_by_label("Reset link").input_value()
    assert "/reset/" in link
    phone.close()

    page.goto(link)
    expect(page.locator("h1")).to_have_text("Choose a new password")
    page.get_by_label("New password", exact=True).fill("brand-new-pass")
    page.get_by_label("New password again").fill("brand-new-pass")
    assert_accessible(page)
    page.get_by_role("button", name="Set the password").click()
    page.wait_for_url(re.compile(r".*/login$"))
    login(page, server, "student", "brand-new-pass")
    gone = page.request.get(link)  # used once: it works no more
    assert gone.status == 404 and "used up or has expired" in gone.text()


def test_each_irreversible_step_asks_on_the_server_first(live_server, browser):
    server = live_server.url
    made = _class_with_a_question(live_server.app)
    # Plain forms and pages: the same without JavaScript (axe-core needs it to run).
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = ctx.new_page()
    login(page, server, "teacher")

    # Close trading now: a page that says what it does; going back changes nothing.
    page.goto(f"{server}/moderate/questions/{made['question']}/edit")
    page.get_by_role("button", name="Close trading now").click()
    expect(page.locator("h1")).to_have_text("Close trading in “Will it snow on Friday?” now?")
    assert_accessible(page)
    page.get_by_role("link", name="Go back").click()
    page.goto(f"{server}/questions/{made['question']}")
    expect(page.locator(".badge-open").first).to_be_visible()
    page.goto(f"{server}/moderate/questions/{made['question']}/edit")
    page.get_by_role("button", name="Close trading now").click()
    page.get_by_role("button", name="Close trading now").click()
    expect(page.locator(".flash-success")).to_contain_text("is closed")

    # Resolve: nothing preselected; the preview names the outcome and who gets what.
    page.goto(f"{server}/moderate/questions/{made['question']}/resolve")
    expect(page.get_by_label("Outcome")).to_have_value("")
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator(".field-error")).to_contain_text("Choose the outcome.")
    page.get_by_label("Outcome").select_option(label="NO")
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator("h1")).to_have_text("Resolve to NO?")
    expect(page.locator(".consequences")).to_contain_text("0 players holding NO")
    assert_accessible(page)
    page.get_by_role("button", name="Resolve to NO and pay out").click()
    expect(page.locator("#resolution-h")).to_have_text("Resolved: NO")

    # Close the competition: asked, then done.
    page.goto(f"{server}/c/class-7b/settings")
    page.get_by_role("button", name="Close Class 7B").click()
    expect(page.locator("h1")).to_have_text("Close Class 7B?")
    expect(page.locator(".consequences")).to_contain_text("cannot be undone")
    assert_accessible(page)
    page.get_by_role("button", name="Close Class 7B for good").click()
    expect(page.locator(".flash-success")).to_contain_text("leaderboard is final")
    ctx.close()


def test_times_show_in_the_viewers_zone_and_utc_without_javascript(live_server, browser, shots):
    server = live_server.url
    made = _class_with_a_question(live_server.app)
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, timezone_id="Asia/Tokyo", bypass_csp=True
    )
    page = ctx.new_page()
    login(page, server, "student")
    page.goto(f"{server}/questions/{made['question']}")
    close = page.locator(".question-head time").first
    expect(close).to_have_attribute("data-localised", "1")
    assert "UTC" not in close.inner_text() and "GMT+9" in close.inner_text()
    assert "Asia/Tokyo" in close.get_attribute("title")
    assert_fits(page)
    page.screenshot(path=str(shots / "question-390.png"), full_page=True)
    ctx.close()

    ctx = browser.new_context(java_script_enabled=False, timezone_id="Asia/Tokyo")
    page = ctx.new_page()
    login(page, server, "student")
    page.goto(f"{server}/questions/{made['question']}")
    assert page.locator(".question-head time").first.inner_text().endswith("UTC")
    ctx.close()


def test_slug_follows_the_name_and_the_join_link_copies(live_server, browser):
    server = live_server.url
    _class_with_a_question(live_server.app)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    page = ctx.new_page()
    login(page, server, "teacher")
    page.goto(f"{server}/competitions/new")
    page.get_by_label("Name", exact=True).fill("Physics 9C: Étude")
    expect(page.get_by_label("Short name for links (slug)")).to_have_value("physics-9c-etude")
    page.get_by_label("Short name for links (slug)").fill("phys")
    page.get_by_label("Name", exact=True).fill("Physics 9C")
    expect(page.get_by_label("Short name for links (slug)")).to_have_value("phys")  # kept

    page.goto(f"{server}/c/class-7b/settings")
    link = page.get_by_label("Join link").input_value()
    page.get_by_role("button", name="Copy the join link").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == link
    expect(page.get_by_role("img", name="QR code to join Class 7B")).to_be_visible()
    assert_accessible(page)
    ctx.close()


def test_the_question_form_takes_local_time(live_server, browser):
    from forecast.models import Question

    server = live_server.url
    made = _class_with_a_question(live_server.app)
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Asia/Tokyo", bypass_csp=True
    )
    page = ctx.new_page()
    login(page, server, "teacher")
    page.goto(f"{server}/moderate/questions/{made['question']}/edit")
    field = page.get_by_label(re.compile(r"^Close time \(your time, Asia/Tokyo\)"))
    shown = field.input_value()
    field.fill("2031-06-01T09:30")  # Tokyo: 00:30 UTC
    page.get_by_label("Reason for the change").fill("New date")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".flash-success")).to_be_visible()
    db = live_server.app.extensions["forecast_db"]
    with db.session() as s:
        close = s.get(Question, made["question"]).close_at
    assert (close.year, close.month, close.day, close.hour, close.minute) == (2031, 6, 1, 0, 30)
    assert shown  # the field showed the close time (in Tokyo time)
    ctx.close()
