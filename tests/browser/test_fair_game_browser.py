"""A fair game in a real Chromium: "my probability" below the market buys the other
outcome, Max and All my shares fill exact amounts, and a resolved question's position
box shows what was paid and the final profit, as the portfolio does.

Screenshots go where the ``shots`` fixture says (docs/screenshots/ with
FORECAST_SCREENSHOTS=1, else the test's temporary folder).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

pytestmark = pytest.mark.browser

DEAL = "Will Amazon complete an acquisition of TikTok (or of its US business)?"


def register(page: Page, server: str, username: str) -> None:
    page.goto(f"{server}/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("tidy-otter-123")
    page.get_by_label("Password again").fill("tidy-otter-123")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{server}/")


def open_deal(page: Page) -> None:
    page.get_by_role("link", name=DEAL).click()
    expect(page.locator("h1")).to_have_text(DEAL)
    page.wait_for_load_state()


def settled(page: Page) -> None:
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def probability(page: Page, label: str) -> str:
    row = page.locator(".prob-row", has=page.locator(".prob-label", has_text=label))
    return row.locator(".prob-value").inner_text()


def held_units(app, username: str, label: str) -> int:
    from forecast.models import Membership, Outcome, Position, Question, User

    with app.extensions["forecast_db"].session() as s:
        return s.exec(
            select(Position.shares)
            .join(Outcome, Outcome.id == Position.outcome_id)
            .join(Question, Question.id == Position.question_id)
            .join(Membership, Membership.id == Position.membership_id)
            .join(User, User.id == Membership.user_id)
            .where(User.username == username, Question.title == DEAL, Outcome.label == label)
        ).one()


def test_my_probability_sell_all_and_the_resolved_position(live_server, browser, page, shots):
    from forecast.market.money import fmt_exact, from_units

    server, app = live_server.url, live_server.app
    moderator = browser.new_context(viewport={"width": 1280, "height": 900})
    mod_page = moderator.new_page()
    register(mod_page, server, "teacher")  # the first account: the site's admin
    register(page, server, "alice")
    open_deal(page)
    assert probability(page, "YES") == "10.0%"

    # My probability is 6% on YES, below the market's 10%: the quote says it buys NO.
    page.get_by_role("link", name="My probability is…").click()
    settled(page)
    page.get_by_role("radio", name=re.compile(r"^YES\b")).check()
    page.get_by_label("Your probability (%)").fill("6")
    expect(page.locator("#quote-note")).to_contain_text("Buys NO")
    expect(page.locator("#quote")).to_contain_text("Quote for NO")
    expect(page.locator("#quote-probability")).to_have_text("90.0% → 94.0%")
    page.screenshot(path=str(shots / "my-probability-below.png"), full_page=True)
    page.get_by_role("button", name="Trade to my probability").click()
    expect(page.locator("#trade-panel .flash-success")).to_contain_text("shares of NO")
    settled(page)
    assert probability(page, "YES") == "6.0%"

    # Sell: "All my shares" puts the exact holding in the box; selling it leaves none.
    page.get_by_role("link", name="Sell").click()
    settled(page)
    page.get_by_role("radio", name=re.compile(r"^NO\b")).check()
    no_units = held_units(app, "alice", "NO")
    expect(page.locator("#trade-panel")).to_contain_text(f"you hold {fmt_exact(no_units)}")
    page.get_by_role("button", name="All my shares").click()
    settled(page)
    expect(page.get_by_label("Shares to sell")).to_have_value(str(from_units(no_units)))
    expect(page.locator("#quote-shares")).to_have_text(f"{fmt_exact(no_units)} shares")
    page.screenshot(path=str(shots / "sell-all.png"), full_page=True)
    page.get_by_role("button", name="Sell", exact=True).click()
    expect(page.locator("#trade-panel .flash-success")).to_contain_text(
        f"Sold {fmt_exact(no_units)} shares of NO"
    )
    assert held_units(app, "alice", "NO") == 0

    # Max fills the largest buy; alice buys YES with part of it.
    page.get_by_role("link", name="Buy").click()
    settled(page)
    page.get_by_role("radio", name=re.compile(r"^YES\b")).check()
    page.get_by_role("button", name="Max").click()
    settled(page)
    most = page.get_by_label("Points to spend").input_value()
    assert float(most) > 0
    expect(page.locator("#quote-cost")).to_contain_text("points")
    page.get_by_label("Points to spend").fill("40")
    expect(page.locator("#quote-cost")).to_have_text("40.00 points")
    page.get_by_role("button", name="Buy", exact=True).click()
    expect(page.locator("#trade-panel .flash-success")).to_contain_text("shares of YES")

    # The moderator resolves NO; alice's position box shows the payout and the final profit.
    open_deal(mod_page)
    mod_page.get_by_role("link", name="Moderate").click()
    mod_page.get_by_label("Outcome").select_option(label="NO")
    mod_page.get_by_role("button", name="Resolve", exact=True).click()
    mod_page.get_by_role("button", name="Resolve to NO and pay out").click()  # the server asks
    expect(mod_page.locator("#resolution-h")).to_have_text("Resolved: NO")
    moderator.close()
    page.reload()
    box = page.locator("#position")
    expect(box).to_contain_text("Paid out")
    expect(box).not_to_contain_text("Worth now")
    payout = page.locator("#position-payout").inner_text()
    profit = page.locator("#position-profit").inner_text()
    assert payout == "0.00" and profit.startswith("−")
    page.screenshot(path=str(shots / "resolved-position.png"), full_page=True)
    page.get_by_role("link", name="Portfolio", exact=True).first.click()
    row = page.locator("#settled-positions tr", has_text=DEAL)
    expect(row).to_contain_text(profit)
    expect(row).to_contain_text(payout)
