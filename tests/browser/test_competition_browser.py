"""A class in a real Chromium: a teacher creates a competition, a student joins
with the code, the teacher loads the seed pack, both trade, the teacher
resolves, and the leaderboard and the CSV export agree."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect
from test_game_browser import DEAL, register  # same folder (pytest puts it on sys.path)

pytestmark = pytest.mark.browser


def buy(page, outcome: str, points: str) -> None:
    page.get_by_role("radio", name=re.compile(rf"^{outcome}\b")).check()
    page.get_by_label("Points to spend").fill(points)
    expect(page.locator("#quote-cost")).to_have_text(f"{points}.00 points")
    page.get_by_role("button", name="Buy", exact=True).click()
    expect(page.locator("#trade-panel .flash-success")).to_contain_text(f"shares of {outcome}")


def test_teacher_runs_a_class(live_server, browser, page):
    server = live_server.url
    admin_ctx = browser.new_context()
    register(
        admin_ctx.new_page(), server, "siteadmin"
    )  # the first account; the teacher is not admin
    admin_ctx.close()

    teacher_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    teacher = teacher_ctx.new_page()
    register(teacher, server, "teacher")
    teacher.goto(f"{server}/competitions/new")
    teacher.get_by_label("Name", exact=True).fill("Class 7B")
    teacher.get_by_label("Short name for links (slug)").fill("class-7b")
    teacher.get_by_label("Starting balance (points)").fill("500")
    teacher.get_by_role("button", name="Create").click()
    teacher.wait_for_url(f"{server}/c/class-7b/settings")
    code = teacher.locator(".code").inner_text().strip()
    join_link = teacher.get_by_label("Join link").input_value()
    assert join_link.endswith(f"/c/class-7b/join?code={code}")

    # The teacher loads the shipped Amazon-TikTok pack, after a preview.
    teacher.get_by_label("Or a shipped pack").select_option(label="Amazon and TikTok")
    teacher.get_by_role("button", name="Preview").click()
    expect(teacher.locator("table")).to_contain_text(DEAL)
    teacher.get_by_role("button", name="Create these questions").click()
    teacher.wait_for_url(f"{server}/c/class-7b/")
    expect(teacher.locator(".question-card .qc-title")).to_have_count(6)

    # A student joins with the link (the code is filled in) and trades with 500 points.
    register(page, server, "student")
    page.goto(join_link)
    expect(page.get_by_label("Join code")).to_have_value(code)
    page.get_by_role("button", name="Join").click()
    page.wait_for_url(f"{server}/c/class-7b/")
    page.get_by_role("link", name=DEAL).click()
    expect(page.locator("h1")).to_have_text(DEAL)
    buy(page, "YES", "100")
    expect(page.locator("#balance")).to_have_text("400.00")

    teacher.get_by_role("link", name=DEAL).click()
    buy(teacher, "NO", "50")

    # The teacher resolves YES through the moderator page.
    teacher.get_by_role("link", name="Moderate").click()
    teacher.get_by_label("Outcome").select_option(label="YES")
    teacher.get_by_label("Note").fill("Closed, per Amazon's press release.")
    teacher.get_by_role("button", name="Resolve", exact=True).click()
    teacher.get_by_role("button", name="Resolve to YES and pay out").click()
    expect(teacher.locator("#resolution-h")).to_have_text("Resolved: YES")

    # The leaderboard puts the student first, and the CSV agrees row for row.
    teacher.goto(f"{server}/c/class-7b/leaderboard")
    rows = teacher.locator("#leaderboard tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("student")
    shown = [
        (r.locator("td").nth(1).inner_text().split()[0], r.locator("td").nth(2).inner_text())
        for r in rows.all()
    ]
    answer = teacher_ctx.request.get(f"{server}/c/class-7b/leaderboard.csv")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(answer.text())))
    assert [(r["username"], f"{float(r['net_worth']):,.2f}") for r in table] == shown
    assert table[0]["rank"] == "1" and float(table[0]["net_worth"]) > 500

    # Ranked by accuracy instead: the student forecast YES, the teacher NO; the CSV by Brier agrees.
    teacher.get_by_role("link", name="Accuracy (Brier)").click()
    teacher.wait_for_url(f"{server}/c/class-7b/leaderboard?by=brier")
    expect(rows.first).to_contain_text("student")
    brier = [
        (r.locator("td").nth(1).inner_text().split()[0], r.locator("td").nth(4).inner_text())
        for r in rows.all()
    ]
    answer = teacher_ctx.request.get(f"{server}/c/class-7b/leaderboard.csv?by=brier")
    table = list(csv.DictReader(io.StringIO(answer.text())))
    assert [(r["username"], f"{float(r['brier']):.3f}") for r in table] == brier
    assert [r.locator("td").nth(5).inner_text() for r in rows.all()] == ["1", "1"]

    # The switcher in the layout goes back to the public competition and returns.
    teacher.locator(".switcher summary").click()
    teacher.locator(".switcher-menu").get_by_role("link", name="Public").click()
    teacher.wait_for_url(f"{server}/")
    teacher.locator(".switcher summary").click()
    teacher.locator(".switcher-menu").get_by_role("link", name="Class 7B").click()
    teacher.wait_for_url(f"{server}/c/class-7b/")

    # The student cannot export grades.
    assert page.context.request.get(f"{server}/c/class-7b/leaderboard.csv").status == 403
    teacher_ctx.close()
