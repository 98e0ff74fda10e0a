"""No page of the game is wider than a 390 px phone or a 1280 px desktop window
(Chromium's document.documentElement.scrollWidth) or has an axe-core violation there:
every page a visitor, a player, a moderator and the site admin can reach with the seed
data; wide tables scroll inside their card, which the keyboard can reach."""

from __future__ import annotations

import pytest
from a11y import assert_fits, axe_violations  # same folder (pytest puts it on sys.path)
from test_classroom_browser import login

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _world(app) -> dict:
    """The seed pack with trades, a resolved question, a class with a player; ids to visit."""
    from sqlmodel import select

    from forecast.models import Question
    from forecast.services import accounts, competitions, resolution, trading
    from forecast.services.questions import outcomes_of

    db = app.extensions["forecast_db"]

    def setup(s):
        admin = accounts.create_user(session=s, username="siteadmin", password="tidy-otter-123")
        player = accounts.create_user(
            session=s, username="a-player-with-a-long-name", password="tidy-otter-123"
        )
        teacher = accounts.create_user(session=s, username="teacher", password="tidy-otter-123")
        comp = competitions.create_competition(
            session=s,
            user_id=teacher.id,
            name="Class 7B of a school with a long name",
            slug="class-7b",
            starting_balance="500",
            is_listed=False,
        )
        competitions.add_member(session=s, competition=comp, user=player)
        qs = list(s.exec(select(Question).order_by(Question.id)))
        return {
            "admin": admin.id,
            "player": player.id,
            "questions": [q.id for q in qs],
            "code": comp.join_code,
        }

    made = db.transaction(setup)
    with db.session() as s:
        outs = {q: [o.id for o in outcomes_of(s, q)] for q in made["questions"]}
    for k, q in enumerate(made["questions"]):
        db.transaction(
            lambda s, q=q, k=k: trading.trade(
                session=s,
                user_id=made["player"],
                question_id=q,
                order=trading.parse_order(outcome_id=outs[q][k % len(outs[q])], spend=30),
            )
        )
    done = made["questions"][-1]
    db.transaction(
        lambda s: resolution.resolve(
            session=s, user_id=made["admin"], question_id=done, outcome_id=outs[done][0]
        )
    )
    made["done"] = done
    return made


def _visit(page, server: str, paths: list[str]) -> list[str]:
    failures = []
    for path in paths:
        page.goto(server + path)
        try:
            assert_fits(page)
        except AssertionError as e:
            failures.append(str(e))
        failures += [f"{path}: axe-core {v}" for v in axe_violations(page)]
    return failures


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_no_page_is_too_wide_or_has_an_axe_violation(live_server, browser, viewport):
    server = live_server.url
    w = _world(live_server.app)
    q = w["questions"]
    failures: list[str] = []

    ctx = browser.new_context(viewport=viewport, bypass_csp=True)
    page = ctx.new_page()
    failures += _visit(
        page,
        server,
        [
            "/",
            "/login",
            "/register",
            "/competitions",
            "/c/public/leaderboard",
            f"/questions/{q[0]}",
            f"/c/class-7b/join?code={w['code']}",
            "/c/public/live",
            "/c/public/players/a-player-with-a-long-name",
        ],
    )
    login(page, server, "a-player-with-a-long-name")
    failures += _visit(
        page,
        server,
        [
            "/",
            "/c/class-7b/",
            "/c/public/leaderboard",
            "/c/public/leaderboard?by=brier",
            "/c/public/portfolio",
            "/c/class-7b/portfolio",
            "/competitions",
            "/competitions/new",
            "/profile",
            "/account/password",
            "/c/class-7b/live",
            "/c/public/players/a-player-with-a-long-name",
        ]
        + [f"/questions/{i}" for i in q],
    )
    ctx.close()

    ctx = browser.new_context(viewport=viewport, bypass_csp=True)
    page = ctx.new_page()
    login(page, server, "teacher")
    failures += _visit(
        page,
        server,
        [
            "/c/class-7b/settings",
            "/c/class-7b/roster",
            "/moderate/class-7b",
            "/moderate/class-7b/questions/new",
            "/c/class-7b/leaderboard",
            "/c/class-7b/live",
        ],
    )
    ctx.close()

    ctx = browser.new_context(viewport=viewport, bypass_csp=True)
    page = ctx.new_page()
    login(page, server, "siteadmin")
    failures += _visit(
        page,
        server,
        [
            "/admin/users",
            "/moderate/public",
            "/moderate/public/questions/new",
            "/c/public/settings",
            "/c/public/roster",
            f"/moderate/questions/{q[0]}/edit",
            f"/moderate/questions/{q[0]}/resolve",
            f"/moderate/questions/{q[0]}/cancel",
            f"/moderate/questions/{w['done']}/undo",
        ],
    )
    ctx.close()
    assert not failures, "\n".join(failures)
