"""The game in a real Chromium against a real server (werkzeug, 127.0.0.1, a free port):
register, see the seeded Amazon-TikTok questions, watch the live quote, buy,
see the market and the position change without a page reload, a moderator
resolves through the moderator page, the leaderboard puts the winner first.
And the same buying flow with JavaScript switched off.

Screenshots go to docs/screenshots/ (README.md shows them).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

DEAL = "Will Amazon complete an acquisition of TikTok (or of its US business)?"


def register(page: Page, server: str, username: str, password: str = "tidy-otter-123") -> None:
    page.goto(f"{server}/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{server}/")
    expect(page.locator(".account-name")).to_contain_text(username)


def probability(page: Page, label: str) -> str:
    row = page.locator(".prob-row", has=page.locator(".prob-label", has_text=label))
    return row.locator(".prob-value").inner_text()


def settled(page: Page) -> None:
    """Wait until htmx has swapped and processed new content (a person is slower than this)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def open_deal(page: Page) -> None:
    page.get_by_role("link", name=DEAL).click()
    expect(page.locator("h1")).to_have_text(DEAL)
    page.wait_for_load_state()  # htmx has processed the page once "load" has fired


def settle_counter(page: Page, target: str = "trade-panel") -> str:
    """Count htmx's settled swaps of the element with id ``target`` from now on (not a
    quote's, say, settling late), in a global whose name is returned."""
    page.evaluate(
        "target => { window.settledSwaps = 0; document.body.addEventListener("
        "'htmx:afterSettle', e => { if (e.target.id === target) window.settledSwaps++ }) }",
        target,
    )
    return "settledSwaps"


def more_trading(app, username: str) -> None:
    """Trades on the other seeded questions (through the service), so the home page has life."""
    from sqlmodel import select

    from forecast.models import Question, User
    from forecast.services import trading
    from forecast.services.questions import outcomes_of

    db = app.extensions["forecast_db"]
    with db.session() as s:
        user = s.exec(select(User).where(User.username == username)).one()
        plan = []
        for q in s.exec(select(Question).where(Question.title != DEAL).order_by(Question.id)):
            outs = outcomes_of(s, q.id)
            plan.append((q.id, outs[len(plan) % len(outs)].id, 15 + 10 * len(plan)))
    for qid, oid, spend in plan[:4]:
        for part in (spend // 2, spend - spend // 2):
            db.transaction(
                lambda s, qid=qid, oid=oid, part=part: trading.trade(
                    session=s,
                    user_id=user.id,
                    question_id=qid,
                    order=trading.parse_order(outcome_id=oid, spend=part),
                )
            )


def test_register_quote_buy_resolve_and_win(live_server, browser, page, shots):
    server = live_server.url
    # The first account on a new site is its admin: the moderator of `public`.
    moderator = browser.new_context(viewport={"width": 1280, "height": 900})
    mod_page = moderator.new_page()
    register(mod_page, server, "teacher")

    # A player registers and sees the seeded pack on the home page.
    register(page, server, "alice")
    questions = page.locator(".question-card .qc-title")
    expect(questions).to_have_count(6)
    titles = questions.all_inner_texts()
    assert DEAL in titles
    assert any("Who will control TikTok" in t for t in titles)
    assert page.locator(".question-card svg.sparkline").count() == 6

    open_deal(page)
    assert probability(page, "YES") == "10.0%"
    page.evaluate("window.__marker = 'no reload'")

    # Typing shows a live quote; changing the amount changes it; nothing is traded.
    amount = page.get_by_label("Points to spend")
    amount.press_sequentially("10", delay=30)
    expect(page.locator("#quote-cost")).to_have_text("10.00 points")
    first = page.locator("#quote-shares").inner_text()
    amount.fill("40")
    expect(page.locator("#quote-cost")).to_have_text("40.00 points")
    second = page.locator("#quote-shares").inner_text()
    assert first != second
    expect(page.locator("#quote-balance")).to_have_text("960.00")
    assert re.fullmatch(r"10\.0% → \d+\.\d%", page.locator("#quote-probability").inner_text())
    assert probability(page, "YES") == "10.0%"

    # Buy: the panel, the probability, the chart and the position change in place.
    page.get_by_role("button", name="Buy", exact=True).click()
    expect(page.locator("#trade-panel .flash-success")).to_contain_text("Bought")
    settled(page)
    assert probability(page, "YES") != "10.0%"
    expect(page.locator("#balance")).to_have_text("960.00")
    expect(page.locator("#position")).to_contain_text("YES")
    expect(page.locator("#recent-trades")).to_contain_text("alice")
    assert page.evaluate("window.__marker") == "no reload"
    assert page.get_by_label("Points to spend").input_value() == ""  # a fresh form

    # The sell tab swaps in place too, and shows what alice holds.
    page.get_by_role("link", name="Sell").click()
    expect(page.get_by_label("Shares to sell")).to_be_visible()
    settled(page)
    expect(page.locator("#trade-panel")).to_contain_text("you hold")
    assert page.evaluate("window.__marker") == "no reload"
    page.get_by_role("link", name="Buy").click()
    expect(page.get_by_label("Points to spend")).to_be_visible()
    settled(page)
    page.get_by_label("Points to spend").fill("15")
    expect(page.locator("#quote-cost")).to_have_text("15.00 points")
    page.screenshot(path=str(shots / "question.png"), full_page=True)

    # The portfolio shows the new position.
    page.get_by_role("link", name="Portfolio", exact=True).first.click()
    expect(page.locator("#open-positions")).to_contain_text(DEAL)
    expect(page.locator("#portfolio-balance")).to_have_text("960.00")

    # bob bets the other way, with more points.
    bob_ctx = browser.new_context()
    bob = bob_ctx.new_page()
    register(bob, server, "bob")
    open_deal(bob)
    bob.get_by_role("radio", name=re.compile(r"^NO\b")).check()
    bob.get_by_label("Points to spend").fill("200")
    expect(bob.locator("#quote-cost")).to_have_text("200.00 points")
    bob.get_by_role("button", name="Buy", exact=True).click()
    expect(bob.locator("#trade-panel .flash-success")).to_contain_text("shares of NO")
    bob_ctx.close()
    more_trading(live_server.app, "bob")

    # alice watches the leaderboard; it refreshes itself.  Trading alone tops nobody:
    # open shares count at what selling them would pay, so the teacher, who never
    # traded, leads.
    page.goto(f"{server}/c/public/leaderboard")
    page.evaluate("window.__marker = 'still the same page'")
    expect(page.locator("#leaderboard tbody tr").first).to_contain_text("teacher")
    expect(page.locator("#leaderboard tbody")).to_contain_text("bob")

    # The moderator resolves YES through the moderator page.
    mod_page.goto(server + "/")
    open_deal(mod_page)
    mod_page.get_by_role("link", name="Moderate").click()
    mod_page.get_by_label("Outcome").select_option(label="YES")
    mod_page.get_by_label("Note").fill("Amazon announced the deal had closed.")
    mod_page.get_by_label("Source URL").fill("https://example.org/amazon-tiktok")
    mod_page.get_by_role("button", name="Resolve", exact=True).click()
    mod_page.get_by_role("button", name="Resolve to YES and pay out").click()
    expect(mod_page.locator("#resolution-h")).to_have_text("Resolved: YES")
    moderator.close()

    # Within a refresh or two, alice (who bought YES) is first, without a reload.
    expect(page.locator("#leaderboard tbody tr").first).to_contain_text("alice", timeout=12_000)
    assert page.evaluate("window.__marker") == "still the same page"
    expect(page.locator("#leaderboard tbody tr").last).to_contain_text("bob")
    page.screenshot(path=str(shots / "leaderboard.png"), full_page=True)

    # The question shows the resolution and its note; trading is over.
    page.goto(server + "/")
    page.screenshot(path=str(shots / "home.png"), full_page=True)
    open_deal(page)
    expect(page.locator(".resolution")).to_contain_text("Amazon announced the deal had closed.")
    expect(page.locator("#trade-panel")).to_contain_text("trading is over")


def test_buying_with_javascript_switched_off(live_server, no_js_page):
    page, server = no_js_page, live_server.url
    register(page, server, "carol")
    open_deal(page)
    page.get_by_role("radio", name=re.compile(r"^NO\b")).check()
    page.get_by_label("Points to spend").fill("30")
    page.get_by_role("button", name="Preview").click()  # a plain POST: the page comes back
    expect(page.locator("#quote-cost")).to_have_text("30.00 points")
    assert page.get_by_label("Points to spend").input_value() == "30"
    page.get_by_role("button", name="Buy", exact=True).click()
    page.wait_for_url(re.compile(r"/questions/\d+$"))
    expect(page.locator(".flash-success")).to_contain_text("shares of NO for 30.00 points")
    expect(page.locator("#balance")).to_have_text("970.00")
    expect(page.locator("#position")).to_contain_text("NO")
    assert probability(page, "NO") != "90.0%"
    # a bad amount comes back with the message next to the field
    page.get_by_label("Points to spend").fill("-4")
    page.get_by_role("button", name="Buy", exact=True).click()
    expect(page.locator("#spend-error")).to_contain_text("must be positive")
    expect(page.locator("#balance")).to_have_text("970.00")
    # the mode tabs are plain links
    page.get_by_role("link", name="Sell").click()
    expect(page.get_by_label("Shares to sell")).to_be_visible()
    # the portfolio
    page.get_by_role("link", name="Portfolio", exact=True).first.click()
    expect(page.locator("#open-positions")).to_contain_text(DEAL)


def test_keyboard_only_trade(live_server, page):
    server = live_server.url
    register(page, server, "dana")
    open_deal(page)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert "Skip to content" in focused
    # Jump to the amount with the keyboard, type, press Enter: the trade goes through.
    page.get_by_label("Points to spend").focus()
    page.keyboard.type("5")
    expect(page.locator("#quote-cost")).to_have_text("5.00 points")
    settled = settle_counter(page)
    page.keyboard.press("Enter")
    expect(page.locator("#trade-panel .flash-success")).to_contain_text("5.00 points")
    # htmx wires the fresh panel's live quote as it swaps it in: type once it has settled.
    # A function, not an expression: Playwright evals an expression, which our CSP refuses.
    page.wait_for_function(f"() => window.{settled} > 0")
    expect(page.locator("#balance")).to_have_text("995.00")
    # the cursor is back in the (fresh) amount box, ready for the next trade
    expect(page.get_by_label("Points to spend")).to_be_focused()
    page.keyboard.type("abc")
    expect(page.locator("#quote")).to_contain_text("must be a number")
    page.keyboard.press("Enter")
    expect(page.locator("#spend-error")).to_contain_text("must be a number")
    expect(page.get_by_label("Points to spend")).to_be_focused()
    expect(page.locator("#balance")).to_have_text("995.00")


def test_phone_layout_puts_the_trade_panel_near_the_top(live_server, browser):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = ctx.new_page()
    server = live_server.url
    register(page, server, "erin")
    open_deal(page)
    panel = page.locator("#trade-panel").bounding_box()
    chart = page.locator("#history-chart").bounding_box()
    assert panel["y"] < chart["y"]  # trade first, history below, on a phone
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the screen
    ctx.close()
