"""The projector view: a competition on a classroom wall, refreshing itself."""

from __future__ import annotations

from datetime import timedelta

import segno
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from forecast.cache import cached
from forecast.db import get_session, transaction
from forecast.models import Question, utcnow
from forecast.services import access, live, reads
from forecast.services.competitions import PUBLIC_SLUG, effective_status
from forecast.services.questions import effective_status as question_status
from forecast.services.questions import outcome_rows
from forecast.services.standings import leaderboard
from forecast.web import charts
from forecast.web.competition_forms import ConfirmForm
from forecast.web.questions import history_chart
from forecast.web.render import render

bp = Blueprint("live", __name__)

TOP = 10  # players on the wall
REFRESH = 5  # seconds between htmx's reads of the fragment
NO_JS_REFRESH = 15  # seconds between whole-page reloads without JavaScript


def _uid() -> int | None:
    return current_user.id if current_user.is_authenticated else None


def qr_svg(text: str, label: str) -> Markup:
    """``text`` as a QR code: an SVG drawn on the server (no script, no image request)."""

    def draw() -> Markup:
        svg = segno.make(text, error="m").svg_inline(
            scale=1, dark="#000000", light="#ffffff", omitsize=True, svgclass="qr"
        )
        return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1))

    return cached(("live-qr", text, label), draw)  # a wall reads the same one every few seconds


def _join_link(comp) -> str:
    if comp.slug == PUBLIC_SLUG:
        return url_for("auth.register", _external=True)
    return url_for("competitions.join", slug=comp.slug, code=comp.join_code, _external=True)


def _moved(session, comp, ticks: list[live.Tick]) -> dict | None:
    """The question traded last: its title, probabilities and big chart."""
    if not ticks:
        return None
    question = session.get(Question, ticks[0].question_id)
    if question is None:
        return None
    outcomes = outcome_rows(session, question.id)
    probs = reads.probabilities(question, outcomes)
    status = question_status(question, competition=comp)
    now = utcnow().replace(second=0, microsecond=0)  # the chart's end moves once a minute
    end = now if status == "open" else min(question.close_at, now)
    labels = [o.label for o in outcomes]

    def draw() -> Markup:
        return history_chart(question, outcomes, status, end, chart_id="live-history")

    return {
        "id": question.id,
        "title": question.title,
        "status": status,
        "outcomes": [
            {"label": o.label, "probability": probs[o.id], "index": k}
            for k, o in enumerate(outcomes)
        ],
        "chart": cached(
            ("live-chart", question.id),
            draw,
            version=(question.trade_count, status, end, question.title, tuple(labels)),
        ),
    }


@bp.get("/c/<slug>/live")
def view(slug: str):
    """Show a competition on a wall: join QR code, top ten, the last move, the latest trades.

    htmx reads the fragment again every few seconds; without JavaScript the page
    reloads itself.  A private competition shows to its members and through its view
    link (``?t=``).
    """
    session = get_session()
    comp = access.read_competition(session, slug)
    token = request.args.get("t")
    live.require_view(session, _uid(), comp, token)
    standings = leaderboard(session, comp)  # kept in the app's cache until it changes
    ticks = live.latest_trades(session, comp.id)
    join = None
    if live.shows_join(session, _uid(), comp, token) and effective_status(comp) == "open":
        link = _join_link(comp)
        join = {
            "link": link,
            "code": comp.join_code if comp.slug != PUBLIC_SLUG else None,
            "qr": qr_svg(link, f"QR code to join {comp.name}"),
        }
    now = utcnow()
    return render(
        "live/page.html",
        "live/_board.html",
        competition=comp,
        top=standings[:TOP],
        players=len(standings),
        final=standings.final,
        ticks=ticks,
        moved=_moved(session, comp, ticks),
        join=join,
        self_url=url_for("live.view", slug=comp.slug, t=token or None),
        refresh=REFRESH,
        no_js_refresh=NO_JS_REFRESH,
        now=now,
        ago=lambda t: _ago(t, now),
        swatch=charts.swatch,
    )


def _ago(t, now) -> str:
    s = max((now - t).total_seconds(), 0)
    if s < 60:
        return "just now"
    if s < 3600:
        return f"{int(s // 60)} min ago"
    return t.strftime("%H:%M UTC") if now - t < timedelta(days=1) else t.strftime("%d %b")


@bp.post("/c/<slug>/live/link")
@login_required
def rotate_link(slug: str):
    """Make a new view link for the projector (the old one stops working)."""
    session = get_session()
    comp = access.get_competition(session, slug)
    access.require_view(session, current_user.id, comp)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    transaction(lambda s: live.rotate_view_token(session=s, user_id=current_user.id, slug=slug))
    flash("The projector has a new view link; the old one no longer works.", "success")
    return redirect(url_for("competitions.settings", slug=slug), 303)
