"""Player pages through the Flask test client: home, question, portfolio and
leaderboard, each as a full page and as the htmx fragment; who may see what;
escaping of everything players and moderators write."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from markupsafe import escape
from sqlmodel import select

from forecast.market.money import UNIT
from forecast.models import Question, utcnow
from forecast.services import competitions, resolution

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def close_in_the_past(tx, question) -> None:
    def edit(s):
        q = s.get(Question, question.id)
        q.close_at = utcnow() - timedelta(hours=1)
        s.add(q)

    tx(edit)


def is_fragment(html: str) -> bool:
    return "<html" not in html and "<body" not in html


def test_home_lists_the_seeded_questions_closing_soonest_first(web, seeded, checks, db):
    r = web.client.get("/")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" in html
    titles = re.findall(r'<h3 class="qc-title"><a href="/questions/\d+">([^<]+)</a>', html)
    assert len(titles) == 6
    with db.session() as s:  # the agreement question until mid-2027 (packs.load_seed rolls on)
        soonest = s.exec(select(Question.title).order_by(Question.close_at, Question.id)).first()
    assert titles[0] == str(escape(soonest))
    assert any("complete an acquisition of TikTok" in t for t in titles)
    assert html.count('<svg class="sparkline"') == 6
    assert 'aria-label="YES over time: from 15% to 15%"' in html
    assert "most likely:" in html  # the multiple-choice question names its leading outcome
    assert "Create an account" in html
    assert "HX-Request" in r.headers["Vary"]


def test_home_fragment_for_htmx(web, seeded, checks):
    r = web.client.get("/", headers=checks.HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and is_fragment(html)
    assert html.lstrip().startswith('<div id="questions">') and "Open questions" in html


def test_history_restore_gets_the_full_page(web, seeded):
    r = web.client.get("/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in r.get_data(as_text=True)


def test_closed_and_resolved_questions_come_after_open_ones(
    web, db, tx, make_user, make_question, buy, checks
):
    admin = make_user("admin")
    soon = make_question(title="Open soon", close_at=utcnow() + timedelta(days=1))
    late = make_question(title="Open later", close_at=utcnow() + timedelta(days=9))
    past = make_question(title="Past its close")
    close_in_the_past(tx, past)
    done = make_question(title="Settled one")
    yes = web.outcomes(done)[0]
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=admin.id, question_id=done.id, outcome_id=yes, note="It happened."
        )
    )
    html = web.client.get("/").get_data(as_text=True)
    order = [html.index(t) for t in ("Open soon", "Open later", "Past its close", "Settled one")]
    assert order == sorted(order)
    assert "Closed and resolved" in html and "resolved: <strong>YES</strong>" in html
    assert '<span class="qc-result">YES</span><span class="qc-prob-label">the result</span>' in html
    assert soon and late


def test_a_private_competition_is_404_to_outsiders(web, tx, make_user, make_question):
    owner = make_user("owner")
    outsider = make_user("outsider")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=owner.id,
            name="Class 7B",
            slug="class-7b",
            starting_balance=500,
            is_listed=False,
        )
    )
    q = make_question(competition=comp, title="Secret question")
    for path in (
        "/c/class-7b/",
        "/c/class-7b/leaderboard",
        f"/questions/{q.id}",
        f"/questions/{q.id}/trade",
    ):
        assert web.client.get(path).status_code == 404, path
        web.login(outsider)
        r = web.client.get(path)
        assert r.status_code == 404 and "Secret question" not in r.get_data(as_text=True), path
        web.login(owner)
        assert web.client.get(path).status_code == 200, path
        web.logout()
    web.login(outsider)
    assert web.client.get("/c/class-7b/portfolio").status_code == 404
    web.login(owner)
    page = web.client.get("/c/class-7b/").get_data(as_text=True)
    assert "Secret question" in page and "500.00" in page
    assert 'href="/c/class-7b/leaderboard"' in page  # the nav follows the competition
    assert web.client.get("/c/nope/").status_code == 404


def test_question_page_shows_everything_a_player_needs(
    web, db, tx, make_user, make_question, buy, checks
):
    make_user("admin")  # the first account is the site admin
    alice = make_user("alice")
    bob = make_user("bob")
    q = make_question(
        title="Will it rain on Friday?",
        description="A simple question.",
        resolution_criteria="YES if the weather service reports rain.",
        source="The weather service",
    )
    yes, no = web.outcomes(q)
    buy(bob, q, yes, spend=20)
    web.login(alice)
    r = web.client.get(f"/questions/{q.id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    for text in (
        "Will it rain on Friday?",
        "A simple question.",
        "YES if the weather service reports rain.",
        "The weather service",
        "badge-open",
        "closes <time",
        "Market probability",
        "Recent trades",
        "bought YES",
    ):
        assert text in html, text
    # the chart: one line per outcome, axis labels, and a label at the end of each line
    chart = html[html.index('<svg class="chart history-chart"') :]
    chart = chart[: chart.index("</svg>")]
    assert chart.count('class="series series-') == 2
    assert "100%" in chart and "0%" in chart and "Time (UTC)" in chart and ">now</text>" in chart
    assert re.search(r">YES \d+%</text>", chart) and re.search(r">NO \d+%</text>", chart)
    assert "<title" in chart and "<desc" in chart
    # the trade panel with a live quote
    assert f'hx-post="/questions/{q.id}/quote"' in html
    assert 'hx-trigger="input changed delay:300ms"' in html
    assert 'name="idempotency_key"' in html and 'hx-disabled-elt="find button"' in html
    assert checks.unlabelled(html) == []
    assert not checks.duplicate_ids(html)
    assert "Moderate" not in html  # alice is a player
    assert "You hold no shares" in html


def test_question_position_and_its_value(web, make_user, make_question, buy):
    alice = make_user("alice")
    q = make_question()
    yes, _ = web.outcomes(q)
    buy(alice, q, yes, spend=10)
    web.login(alice)
    html = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    position = html[html.index('<section id="position"') :]
    position = position[: position.index("</section>")]
    assert "Worth now" in position and "10.00" in position  # points put in
    assert re.search(r'<dd id="position-value">\d+\.\d\d</dd>', position)
    assert "you hold" in html


def test_question_fragment_is_the_trade_panel(web, make_user, make_question, checks):
    alice = make_user("alice")
    q = make_question()
    web.login(alice)
    r = web.client.get(f"/questions/{q.id}/trade?mode=sell", headers=checks.HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and is_fragment(html)
    assert html.lstrip().startswith('<section id="trade-panel"')
    assert 'id="sell"' in html and "Shares to sell" in html and 'id="spend"' not in html
    full = web.client.get(f"/questions/{q.id}/trade?mode=probability").get_data(as_text=True)
    assert "<html" in full and "Your probability (%)" in full and "Spend at most" in full


def test_the_panel_keeps_the_chosen_outcome_across_modes(web, make_user, make_question):
    alice = make_user("alice")
    q = make_question()
    _, no = web.outcomes(q)
    web.login(alice)
    html = web.client.get(f"/questions/{q.id}/trade?mode=sell&outcome={no}").get_data(as_text=True)
    assert re.search(rf'value="{no}" checked', html)


def test_anonymous_and_non_members_see_how_to_trade(web, tx, make_user, make_question):
    owner = make_user("owner")
    comp = tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Office", slug="office", starting_balance=100
        )
    )
    q = make_question(competition=comp)
    html = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    assert "Log in</a> or <a" in html and 'id="trade-form"' not in html
    back = f"next=/questions/{q.id}"  # each link comes back here
    assert f'href="/login?{back}">Log in</a> or' in html
    assert f'href="/register?{back}">create an account</a>' in html
    assert ">Moderate</a>" not in html
    web.login(make_user("visitor"))
    html = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    assert "Join it</a> to trade" in html and "/c/office/join" in html
    assert 'id="trade-form"' not in html


def test_moderators_see_the_moderate_link(web, make_user, make_question):
    admin = make_user("admin", admin=True)
    q = make_question()
    web.login(admin)
    html = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    assert f'href="/moderate/questions/{q.id}/resolve"' in html and ">Moderate</a>" in html


def test_a_resolved_question_shows_its_resolution_and_note(web, tx, make_user, make_question):
    admin = make_user("admin", admin=True)
    q = make_question(kind="multiple_choice", outcomes=["Red", "Blue", "Green"])
    red, blue, green = web.outcomes(q)
    tx(
        lambda s: resolution.resolve(
            session=s,
            user_id=admin.id,
            question_id=q.id,
            outcome_id=blue,
            note="Blue won by a mile.",
            source_url="https://example.org/result",
        )
    )
    html = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    assert "Resolved: Blue" in html and "Blue won by a mile." in html
    assert 'href="https://example.org/result"' in html
    assert "This question is resolved; trading is over." in html
    chart = html[html.index('<svg class="chart history-chart"') :]
    assert chart[: chart.index("</svg>")].count('class="series series-') == 3


@pytest.mark.parametrize(
    "path", ["/questions/0", "/questions/99999999999999999999", "/questions/x"]
)
def test_unknown_questions_are_404_not_500(web, path):
    assert web.client.get(path).status_code == 404


def test_leaderboard_page_fragment_and_tie_break(web, make_user, make_question, buy, checks):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    q = make_question()
    yes, no = web.outcomes(q)
    buy(bob, q, yes, spend=50)
    buy(carol, q, no, spend=50)
    web.login(alice)
    r = web.client.get("/c/public/leaderboard")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" in html
    assert "ties go to whoever got there first: the earlier last trade" in html.lower()
    assert 'hx-trigger="every 5s"' in html and 'hx-get="/c/public/leaderboard"' in html
    rows = re.findall(
        r"<tr[^>]*>\s*<td class=\"num rank\">(\d+)</td>\s*<td>(?:<a [^>]*>)?(\w+)", html
    )
    assert [int(rank) for rank, _ in rows] == [1, 2, 3]
    assert {name for _, name in rows} == {"alice", "bob", "carol"}
    assert 'class="me" aria-current="true"' in html
    frag = web.client.get("/c/public/leaderboard", headers=checks.HX).get_data(as_text=True)
    assert is_fragment(frag) and frag.lstrip().startswith('<div id="leaderboard"')
    assert 'hx-trigger="every 5s"' in frag  # the fragment keeps polling


def test_leaderboard_orders_by_net_worth(web, tx, make_user, make_question, buy):
    admin = make_user("admin", admin=True)
    winner, loser = make_user("winner"), make_user("loser")
    q = make_question()
    yes, no = web.outcomes(q)
    buy(loser, q, no, spend=100)
    buy(winner, q, yes, spend=100)
    tx(lambda s: resolution.resolve(session=s, user_id=admin.id, question_id=q.id, outcome_id=yes))
    html = web.client.get("/c/public/leaderboard").get_data(as_text=True)
    names = re.findall(r'<td class="num rank">\d+</td>\s*<td>(?:<a [^>]*>)?(\w+)', html)
    assert names[0] == "winner" and names[-1] == "loser"


def test_leaderboard_ranks_by_mean_brier_and_shows_the_questions_covered(
    web, tx, make_user, make_question, buy, checks
):
    admin = make_user("admin", admin=True)
    sharp, loud = make_user("sharp"), make_user("loud")
    make_user("idle")  # never trades: no score, listed last
    q = make_question()
    yes, no = web.outcomes(q)
    buy(sharp, q, yes, to_probability=0.9, max_spend=5)  # a small bet, a sharp forecast
    buy(loud, q, no, spend=3)  # a smaller loss in points, a worse forecast
    tx(lambda s: resolution.resolve(session=s, user_id=admin.id, question_id=q.id, outcome_id=yes))
    row = r'<td class="num rank">([\d—]+)</td>\s*<td>(?:<a [^>]*>)?(\w+)'

    by_worth = web.client.get("/c/public/leaderboard").get_data(as_text=True)
    names = [n for _, n in re.findall(row, by_worth)]
    assert names.index("sharp") < names.index("idle") < names.index("loud")
    assert 'aria-current="page">Net worth</a>' in by_worth

    html = web.client.get("/c/public/leaderboard?by=brier").get_data(as_text=True)
    assert 'aria-current="page">Accuracy (Brier)</a>' in html
    assert "Ranked by accuracy" in html
    ranked = [r for r in re.findall(row, html) if r[1] != "admin"]  # the admin has no score
    assert ranked == [("1", "sharp"), ("2", "loud"), ("—", "idle")]
    cells = re.findall(
        r'<td>(?:<a [^>]*>)?(\w+)(?:</a>)?</td>(?:\s*<td class="num[^"]*">[^<]*</td>){2}'
        r'\s*<td class="num">([^<]+)</td>\s*<td class="num">(\d+)</td>',
        html,
    )
    scores = {name: (brier, int(n)) for name, brier, n in cells}
    assert scores["idle"] == ("—", 0)
    assert scores["sharp"][1] == scores["loud"][1] == 1
    assert float(scores["sharp"][0]) < float(scores["loud"][0])
    # The refreshing fragment and the paging links keep the ranking.
    assert 'hx-get="/c/public/leaderboard?by=brier"' in html
    frag = web.client.get("/c/public/leaderboard?by=brier", headers=checks.HX).get_data(
        as_text=True
    )
    assert re.findall(row, frag)[0] == ("1", "sharp")
    # Anything else is the default ranking, never an error.
    assert web.client.get("/c/public/leaderboard?by=%00").status_code == 200


def test_portfolio_page_fragment_positions_and_results(
    web, tx, make_user, make_question, buy, checks
):
    admin = make_user("admin", admin=True)
    alice = make_user("alice")
    open_q = make_question(title="Still open")
    done_q = make_question(title="Already settled")
    o_yes, _ = web.outcomes(open_q)
    d_yes, d_no = web.outcomes(done_q)
    buy(alice, open_q, o_yes, spend=30)
    buy(alice, done_q, d_no, spend=20)
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=admin.id, question_id=done_q.id, outcome_id=d_yes
        )
    )
    web.login(alice)
    r = web.client.get("/c/public/portfolio")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" in html
    assert '<dd id="portfolio-balance">950.00</dd>' in html
    assert re.search(r'<dd id="portfolio-net-worth">[\d,]+\.\d\d</dd>', html)
    open_table = html[html.index('id="open-positions"') :]
    open_table = open_table[: open_table.index("</table>")]
    assert (
        "Still open" in open_table and "30.00" in open_table and "Already settled" not in open_table
    )
    settled = html[html.index('id="settled-positions"') :]
    settled = settled[: settled.index("</table>")]
    assert "Already settled" in settled and "YES" in settled and "−20.00" in settled
    frag = web.client.get("/c/public/portfolio", headers=checks.HX).get_data(as_text=True)
    assert is_fragment(frag) and frag.lstrip().startswith('<div id="portfolio">')


def test_portfolio_of_a_listed_competition_you_have_not_joined(web, tx, make_user):
    owner = make_user("owner")
    tx(
        lambda s: competitions.create_competition(
            session=s, user_id=owner.id, name="Office", slug="office", starting_balance=100
        )
    )
    web.login(make_user("visitor"))
    html = web.client.get("/c/office/portfolio").get_data(as_text=True)
    assert "You are not in Office" in html and "/c/office/join" in html


def test_user_text_is_escaped_everywhere(web, tx, make_user, make_question, buy):
    admin = make_user("admin", admin=True)
    alice = make_user("alice")
    q = make_question(
        title="T " + XSS,
        description="D " + XSS,
        resolution_criteria="C " + XSS,
        source="S " + XSS,
        kind="multiple_choice",
        outcomes=["O " + XSS, "Plain"],
    )
    first, _ = web.outcomes(q)
    buy(alice, q, first, spend=5)
    web.login(alice)
    pages = [
        "/",
        f"/questions/{q.id}",
        f"/questions/{q.id}/trade",
        "/c/public/portfolio",
        "/c/public/leaderboard",
    ]
    for path in pages:
        html = web.client.get(path).get_data(as_text=True)
        if not path.endswith("leaderboard"):
            assert "&lt;script&gt;" in html, path
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert html.count("<script") == 2, path  # only htmx and site.js
    html = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    assert "T &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    chart = html[html.index('<svg class="chart history-chart"') :]
    chart = chart[: chart.index("</svg>")]
    assert "&lt;script&gt;" in chart and "<script" not in chart  # title, desc and labels
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=admin.id, question_id=q.id, outcome_id=first, note="N " + XSS
        )
    )
    html = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    assert "N &lt;script&gt;" in html and "<script>alert" not in html


def test_a_javascript_resolution_source_is_never_a_link(web, tx, make_user, make_question):
    # resolution only accepts http(s) source URLs, so a javascript: link cannot be stored
    admin = make_user("admin", admin=True)
    q = make_question()
    yes, _ = web.outcomes(q)
    with pytest.raises(Exception, match="http"):
        tx(
            lambda s: resolution.resolve(
                session=s,
                user_id=admin.id,
                question_id=q.id,
                outcome_id=yes,
                source_url="javascript:alert(1)",
            )
        )


def test_security_headers_on_pages(web, seeded):
    r = web.client.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = r.get_data(as_text=True)
    # no inline script or style anywhere: only the two script files
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/static/vendor/htmx-2.0.11.min.js" defer>',
        '<script src="/static/js/site.js" defer>',
    ]
    assert " style=" not in html and "<style" not in html
    with web.client.get("/static/js/site.js") as js:
        assert js.status_code == 200


def test_layout_has_skip_link_nav_and_htmx_config(web, seeded):
    html = web.client.get("/").get_data(as_text=True)
    assert '<a class="skip-link" href="#main">Skip to content</a>' in html
    assert '<main id="main"' in html
    for href in (
        'href="/"',
        'href="/c/public/leaderboard"',
        'href="/c/public/portfolio"',
        'href="/competitions"',
    ):
        assert href in html, href
    assert '<meta name="htmx-config"' in html and '"allowEval": false' in html


def test_balance_shows_for_members_on_home(web, make_user, seeded):
    web.login(make_user("alice"))
    html = web.client.get("/").get_data(as_text=True)
    assert f"You have <strong>{seeded.starting_balance // UNIT:,}.00</strong> points" in html


def test_portfolio_shows_a_cancelled_question_as_refunded(web, tx, make_user, make_question, buy):
    admin = make_user("admin", admin=True)
    alice = make_user("alice")
    q = make_question(title="Called off")
    yes, _ = web.outcomes(q)
    buy(alice, q, yes, spend=12)
    tx(lambda s: resolution.cancel(session=s, user_id=admin.id, question_id=q.id, note="Void."))
    web.login(alice)
    html = web.client.get("/c/public/portfolio").get_data(as_text=True)
    settled = html[html.index('id="settled-positions"') :]
    settled = settled[: settled.index("</table>")]
    assert "Called off" in settled and "Cancelled (refunded)" in settled
    assert settled.count("12.00") == 2 and "0.00</td>" in settled
    assert '<dd id="portfolio-balance">1,000.00</dd>' in html
    page = web.client.get(f"/questions/{q.id}").get_data(as_text=True)
    assert "Cancelled (N/A)" in page and "Void." in page


def test_the_question_list_comes_thirty_cards_a_page(web, make_user, make_question):
    for k in range(32):
        make_question(title=f"Question number {k:02d}", close_at=utcnow() + timedelta(days=1 + k))
    first = web.client.get("/").get_data(as_text=True)
    assert first.count('class="question-card') == 30
    assert 'Open questions <span class="count">32</span>' in first
    assert "Question number 00" in first and "Question number 31" not in first
    assert 'href="?page=2" rel="next"' in first
    second = web.client.get("/?page=2").get_data(as_text=True)
    assert second.count('class="question-card') == 2 and "Question number 31" in second
    assert 'href="?page=1" rel="prev"' in second
    # Out of range or junk pages show the nearest page, never an error.
    assert web.client.get("/?page=99").status_code == 200
    assert web.client.get("/?page=-3").status_code == 200
    assert web.client.get("/?page=x").status_code == 200


def test_leaderboard_marks_each_viewers_own_line_among_the_cached_ones(
    web, make_user, make_question, buy
):
    """The lines come from the app's cache as anyone sees them; only the viewer's own is
    rendered again, marked, in its place."""
    users = [make_user(name) for name in ("ann", "ben", "cat")]
    q = make_question()
    yes, _ = web.outcomes(q)
    for k, user in enumerate(users):
        buy(user, q, yes, spend=10 * (k + 1))  # earlier trades rank first on a tie
    for user in users:
        web.login(user)
        html = web.client.get("/c/public/leaderboard").get_data(as_text=True)
        lines = re.findall(
            r'<tr( class="me" aria-current="true")?>\s*<td class="num rank">(\d+)</td>\s*'
            r"<td>(?:<a [^>]*>)?(\w+)",
            html,
        )
        assert [int(rank) for _, rank, _ in lines] == [1, 2, 3]
        assert [name for marked, _, name in lines if marked] == [user.username]
        assert html.count('<span class="badge">you</span>') == 1
