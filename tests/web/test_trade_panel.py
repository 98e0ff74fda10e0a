"""The trade panel through the Flask test client: the live quote, trades with
and without htmx, bad input, closed questions, double submission, CSRF and
the rate limit.  Every refused trade changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from forecast.market.money import UNIT
from forecast.models import Question, Trade, utcnow
from forecast.services import competitions, resolution


@pytest.fixture
def scene(web, make_user, make_question, public):
    """alice (a player, not the admin) on a fresh binary question at 50%."""
    make_user("admin")
    alice = make_user("alice")
    q = make_question(title="Will the bus be late?")
    yes, no = web.outcomes(q)
    web.login(alice)
    return alice, q, yes, no


def post(web, q, path="trade", htmx=False, **fields):
    return web.post(q, path, htmx, **fields)


def test_live_quote_changes_nothing(web, scene, public, checks):
    alice, q, yes, no = scene
    r = post(web, q, "quote", htmx=True, mode="buy", outcome=yes, spend="25")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html
    shares = re.search(r'<dd id="quote-shares">([\d,.]+) shares</dd>', html).group(1)
    assert float(shares.replace(",", "")) > 25  # at 50% each point buys more than one share
    assert '<dd id="quote-cost">25.00 points</dd>' in html
    assert re.search(r'<dd id="quote-probability">50\.0% → \d\d\.\d%</dd>', html)
    assert '<dd id="quote-balance">975.00</dd>' in html
    bigger = post(web, q, "quote", htmx=True, mode="buy", outcome=yes, spend="60")
    assert shares not in bigger.get_data(as_text=True)  # the quote follows the amount
    assert web.trades() == 0 and web.balance(alice, public) == public.starting_balance


def test_quote_with_nothing_typed_shows_a_hint(web, scene):
    _, q, yes, _ = scene
    r = post(web, q, "quote", htmx=True, mode="buy", outcome=yes, spend="")
    assert r.status_code == 200 and "Type an amount to see a quote" in r.get_data(as_text=True)


def test_quote_to_a_probability_with_a_spending_limit(web, scene):
    _, q, yes, _ = scene
    r = post(
        web, q, "quote", htmx=True, mode="probability", outcome=yes, probability="90", max_spend="5"
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Your spending limit stops the trade at" in html and "short of your 90.0%" in html
    assert '<dd id="quote-cost">5.00 points</dd>' in html
    # going down on a binary question buys NO, and the quote says so
    r = post(web, q, "quote", htmx=True, mode="probability", outcome=yes, probability="20")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Quote for NO" in html and "Buys NO" in html


def test_preview_without_javascript_renders_the_page_with_the_quote(web, scene):
    _, q, yes, _ = scene
    r = post(web, q, "quote", mode="buy", outcome=yes, spend="10")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" in html
    assert '<dd id="quote-cost">10.00 points</dd>' in html
    assert 'value="10"' in html  # the amount stays in the box
    assert web.trades() == 0


def test_trade_without_javascript_redirects_with_a_flash(web, scene, public):
    alice, q, yes, _ = scene
    r = post(web, q, mode="buy", outcome=yes, spend="25")
    assert r.status_code == 303 and r.headers["Location"] == f"/questions/{q.id}"
    html = web.client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Bought" in html and "shares of YES for 25.00 points" in html
    assert web.trades() == 1
    assert web.balance(alice, public) == public.starting_balance - 25 * UNIT
    assert "bought YES" in html and "alice" in html  # recent trades


def test_trade_with_htmx_swaps_panel_probability_and_position(web, scene, public):
    alice, q, yes, _ = scene
    r = post(web, q, htmx=True, mode="buy", outcome=yes, spend="25")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<section id="trade-panel"')
    assert "Bought" in html and "Your balance is 975.00 points." in html
    for part in ("probability", "position"):
        assert re.search(rf'id="{part}"[^>]*hx-swap-oob="true"', html), part
    # The chart and the recent trades are not in the answer: they fetch themselves on its
    # HX-Trigger, the chart from its own URL with the recent trades beside it.
    assert 'id="history-chart"' not in html and 'id="recent-trades"' not in html
    assert r.headers["HX-Trigger"] == "traded"
    page = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    history = re.search(r'<figure id="history-chart"[^>]*hx-get="([^"]+)"[^>]*>', page)
    assert history and 'hx-trigger="traded from:body"' in history.group(0)
    r = web.client.get(history.group(1), headers={"HX-Request": "true"})
    fetched = r.get_data(as_text=True)
    assert r.status_code == 200 and fetched.lstrip().startswith('<figure id="history-chart"')
    assert re.search(r'id="recent-trades"[^>]*hx-swap-oob="true"', fetched)
    assert "alice" in fetched and "bought YES" in fetched and "<html" not in fetched
    assert "<html" in web.client.get(history.group(1)).get_data(as_text=True)  # no JS: the page
    prob = html[html.index('<section id="probability"') :]
    assert re.search(rf'data-outcome="{yes}">(\d+\.\d)%', prob).group(1) != "50.0"
    assert '<dd id="position-value">' in html and '<strong id="balance">975.00</strong>' in html
    assert web.trades() == 1
    # the new panel carries a new idempotency key, so the next trade is a new trade
    old_key = web.form(f"/questions/{q.id}")["idempotency_key"]
    new_key = re.search(r'name="idempotency_key"[^>]*value="([^"]+)"', html).group(1)
    assert new_key != old_key


def test_sell_shares(web, scene, public, buy):
    alice, q, yes, _ = scene
    buy(alice, q, yes, spend=10)
    r = post(web, q, htmx=True, mode="sell", outcome=yes, sell="5")
    assert r.status_code == 200 and "Sold 5.00 shares of YES" in r.get_data(as_text=True)
    assert web.trades() == 2


def test_trade_to_my_probability(web, scene):
    _, q, yes, _ = scene
    r = post(web, q, htmx=True, mode="probability", outcome=yes, probability="70%")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Bought" in html
    assert re.search(rf'data-outcome="{yes}">70\.0%', html)


BAD = [
    ("buy", "spend", "-5", "must be positive"),
    ("buy", "spend", "0", "more than zero"),
    ("buy", "spend", "NaN", "finite"),
    ("buy", "spend", "Infinity", "finite"),
    ("buy", "spend", "1e999", "too large"),
    ("buy", "spend", "10000000000000", "too large"),
    ("buy", "spend", "lots", "must be a number"),
    ("buy", "spend", "1" * 80, "Type a number"),
    ("buy", "spend", "", "Type how many points to spend."),
    ("buy", "spend", "   ", "Type how many points to spend."),
    ("buy", "spend", "0.00001", "more than zero"),
    ("buy", "spend", "5000", "probability outside 0.1%–99.9%"),
    ("sell", "sell", "-1", "must be positive"),
    ("sell", "sell", "abc", "must be a number"),
    ("sell", "sell", "3", "shares"),
    ("probability", "probability", "0", "between 0 and 100"),
    ("probability", "probability", "100", "between 0 and 100"),
    ("probability", "probability", "150", "between 0 and 100"),
    ("probability", "probability", "-3", "between 0 and 100"),
    ("probability", "probability", "NaN", "between 0 and 100"),
    ("probability", "probability", "abc", "between 0 and 100"),
    ("probability", "probability", "99.95", "0.1% and 99.9%"),
]


@pytest.mark.parametrize("mode, field, value, message", BAD)
def test_bad_input_gives_a_message_next_to_the_field_and_changes_nothing(
    web, scene, public, checks, mode, field, value, message
):
    alice, q, yes, _ = scene
    for htmx in (False, True):
        r = post(web, q, htmx=htmx, mode=mode, outcome=yes, **{field: value})
        html = r.get_data(as_text=True)
        assert r.status_code in (409, 422), (value, r.status_code)
        field_id = {"probability": "my-probability"}.get(field, field)  # the form's own id
        assert message in checks.field_error(html, field_id), (value, html[-3000:])
        assert ("<html" in html) is not htmx
    assert web.trades() == 0
    assert web.balance(alice, public) == public.starting_balance


def test_more_than_your_balance_is_refused(web, make_user, make_question, public, checks):
    make_user("admin")
    alice = make_user("alice")
    q = make_question(liquidity=100_000)  # deep enough that 1,500 points barely move it
    yes, _ = web.outcomes(q)
    web.login(alice)
    r = post(web, q, mode="buy", outcome=yes, spend="1500")
    assert r.status_code == 409
    assert checks.field_error(r.get_data(as_text=True), "spend") == (
        "You have 1,000.00 points; this trade costs 1,500.00."
    )
    r = post(web, q, "quote", htmx=True, mode="buy", outcome=yes, spend="1500")
    assert r.status_code == 409 and "this trade costs 1,500.00" in r.get_data(as_text=True)
    assert web.trades() == 0 and web.balance(alice, public) == public.starting_balance


@pytest.mark.parametrize("outcome", ["", "abc", "999999", "-1", "1e3"])
def test_an_unknown_outcome_is_refused(web, scene, public, checks, outcome):
    alice, q, _, _ = scene
    r = post(web, q, mode="buy", outcome=outcome, spend="5")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="outcome-error">Choose an outcome.' in html
    assert web.trades() == 0


def test_an_outcome_of_another_question_is_refused(web, scene, make_question):
    _, q, _, _ = scene
    other = make_question(title="Other")
    other_yes, _ = web.outcomes(other)
    r = post(web, q, mode="buy", outcome=other_yes, spend="5")
    assert r.status_code == 422 and web.trades() == 0


def test_a_trade_on_a_closed_question_is_refused_with_a_message(web, scene, tx, public):
    alice, q, yes, _ = scene
    form = web.form(f"/questions/{q.id}")

    def close(s):
        row = s.get(Question, q.id)
        row.close_at = utcnow() - timedelta(minutes=1)
        s.add(row)

    tx(close)
    for htmx in (False, True):
        r = web.client.post(
            f"/questions/{q.id}/trade",
            data={**form, "outcome": str(yes), "spend": "10"},
            headers={"HX-Request": "true"} if htmx else {},
        )
        html = r.get_data(as_text=True)
        assert r.status_code == 409
        assert "This question is closed to trading." in html
    assert web.trades() == 0 and web.balance(alice, public) == public.starting_balance
    html = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    assert "Trading on this question has closed" in html and 'id="trade-form"' not in html


def test_a_trade_on_a_resolved_question_is_refused(web, scene, tx, make_user):
    alice, q, yes, _ = scene
    form = web.form(f"/questions/{q.id}")
    with web.db.session() as s:
        from forecast.models import User

        admin = s.exec(select(User).where(User.username == "admin")).one()
    tx(lambda s: resolution.resolve(session=s, user_id=admin.id, question_id=q.id, outcome_id=yes))
    r = web.client.post(
        f"/questions/{q.id}/trade", data={**form, "outcome": str(yes), "spend": "10"}
    )
    assert r.status_code == 409 and web.trades() == 0


def test_double_submission_trades_once(web, scene, public):
    alice, q, yes, _ = scene
    form = web.form(f"/questions/{q.id}")
    data = {**form, "outcome": str(yes), "spend": "10"}
    first = web.client.post(f"/questions/{q.id}/trade", data=data)
    second = web.client.post(f"/questions/{q.id}/trade", data=data)
    assert first.status_code == second.status_code == 303
    assert web.trades() == 1
    assert web.balance(alice, public) == public.starting_balance - 10 * UNIT
    html = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    assert "That trade was already placed; it was not placed twice." in html
    # The same key with a different amount is refused, and the form gets a fresh key.
    r = web.client.post(f"/questions/{q.id}/trade", data={**data, "spend": "20"})
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and "This form already placed a trade." in html
    assert form["idempotency_key"] not in html
    assert web.trades() == 1


def test_anonymous_trade_goes_to_login_and_changes_nothing(web, make_user, make_question):
    q = make_question()
    yes, _ = web.outcomes(q)
    token = web.token("/login")
    r = web.client.post(
        f"/questions/{q.id}/trade",
        data={"csrf_token": token, "mode": "buy", "outcome": str(yes), "spend": "10"},
        headers={"Referer": f"http://localhost/questions/{q.id}"},
    )
    assert r.status_code == 302
    assert r.headers["Location"] == f"/login?next=/questions/{q.id}"
    r = web.client.post(
        f"/questions/{q.id}/quote",
        data={"csrf_token": token, "mode": "buy", "outcome": str(yes), "spend": "10"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login")
    assert web.trades() == 0


def test_a_non_member_cannot_trade(web, tx, make_user, make_question):
    owner = make_user("owner")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Office", slug="office", starting_balance=100
        )
    )
    q = make_question(competition=comp)
    yes, _ = web.outcomes(q)
    visitor = make_user("visitor")
    web.login(visitor)
    token = web.token("/")
    for path in ("trade", "quote"):
        r = web.client.post(
            f"/questions/{q.id}/{path}",
            data={"csrf_token": token, "mode": "buy", "outcome": str(yes), "spend": "10"},
        )
        assert r.status_code == 403, path
    assert web.trades() == 0


def test_a_trade_without_the_csrf_token_is_refused(web, scene, public):
    alice, q, yes, _ = scene
    form = web.form(f"/questions/{q.id}")
    del form["csrf_token"]
    for path in ("trade", "quote"):
        r = web.client.post(
            f"/questions/{q.id}/{path}", data={**form, "outcome": str(yes), "spend": "10"}
        )
        assert r.status_code == 400, path
    r = web.client.post(
        f"/questions/{q.id}/trade",
        data={**form, "csrf_token": "forged", "outcome": str(yes), "spend": "10"},
    )
    assert r.status_code == 400
    assert web.trades() == 0 and web.balance(alice, public) == public.starting_balance


def test_trades_are_rate_limited(limited_app, signed_in, db, make_user, make_question):
    make_user("admin")
    alice = make_user("alice")
    q = make_question()
    with db.session() as s:
        from forecast.services.questions import outcomes_of

        yes = outcomes_of(s, q.id)[0].id
    client, token = signed_in(limited_app(trade="2 per minute"), alice, f"/questions/{q.id}")
    codes = [
        client.post(
            f"/questions/{q.id}/trade",
            data={"csrf_token": token, "mode": "buy", "outcome": str(yes), "spend": "1"},
        ).status_code
        for _ in range(3)
    ]
    assert codes == [303, 303, 429]
    with db.session() as s:
        assert len(list(s.exec(select(Trade)))) == 2


def test_an_ended_competition_refuses_trades_with_a_message(web, tx, make_user, make_question):
    owner = make_user("owner")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Office", slug="office", starting_balance=100
        )
    )
    q = make_question(competition=comp)
    yes, _ = web.outcomes(q)
    web.login(owner)
    form = web.form(f"/questions/{q.id}")
    tx(lambda s: competitions.close_competition(session=s, user_id=owner.id, slug="office"))
    r = web.client.post(
        f"/questions/{q.id}/trade", data={**form, "outcome": str(yes), "spend": "5"}
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and "This competition has ended" in html
    assert web.trades() == 0
