"""Player pages: a competition's questions, a question with its trade panel,
the portfolio and the leaderboard.

Each URL serves a full page, or to htmx just the partial it swaps
(web/render.py decides).  Trading works as a plain form POST without
JavaScript; with htmx the quote is live and a trade swaps the panel, the
probabilities, the chart, the position and the recent trades in place.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask import (
    Blueprint,
    current_app,
    flash,
    get_template_attribute,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlmodel import select

from forecast.db import get_session, transaction
from forecast.extensions import limiter, user_key
from forecast.market.lmsr import Quote
from forecast.market.money import fmt
from forecast.models import Competition, Membership, Question, utcnow
from forecast.services import access, queries, trading
from forecast.services import competitions as competition_service
from forecast.services.competitions import PUBLIC_SLUG
from forecast.services.errors import Conflict, DomainError, Invalid, NotFound
from forecast.services.questions import (
    OutcomeRow,
    effective_status,
    outcome_rows,
    outcomes_by_question,
    outcomes_of,
    viewable_with_outcomes,
)
from forecast.web import charts
from forecast.web.forms import TradeForm, mode_of, new_idempotency_key
from forecast.web.render import is_htmx, render

bp = Blueprint("pages", __name__)
bp.add_app_template_global(charts, "charts")

AMOUNT_FIELDS = {"buy": "spend", "sell": "sell", "probability": "probability"}


# ---------------------------------------------------------------- template helpers


@bp.app_template_filter("pct")
def _pct(p: float) -> str:
    return charts.pct(p)


@bp.app_template_filter("pct1")
def _pct1(p: float) -> str:
    """One decimal, for quotes where a trade moves the market by less than a point."""
    return f"{p * 100:.1f}%"


@bp.app_template_filter("utc")
def _utc(dt: datetime | None) -> str:
    if dt is None:
        return "—"
    return dt.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


@bp.app_template_filter("relative")
def _relative(dt: datetime | None, now: datetime | None = None) -> str:
    """'in 3 days', '5 minutes ago': how far a moment is from now, roughly."""
    if dt is None:
        return ""
    seconds = (dt - (now or utcnow())).total_seconds()
    future, s = seconds > 0, abs(seconds)
    for size, unit in ((86400 * 365, "year"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if s >= size:
            n = int(s // size)
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "in a moment" if future else "just now"


@bp.app_template_filter("signed")
def _signed(units: int) -> str:
    """Points with a sign: '+12.50', '−3.00' (a real minus sign), '0.00'."""
    if units > 0:
        return "+" + fmt(units)
    if units < 0:
        return "−" + fmt(-units)
    return fmt(0)


@bp.app_template_global("competition_status")
def competition_status(comp: Competition) -> str:
    """'open' or 'closed' (closed by its owner or by its end date)."""
    return competition_service.effective_status(comp)


@bp.app_template_global("my_competitions")
def my_competitions() -> list[tuple[Competition, Membership]]:
    """For the layout's switcher: the signed-in player's competitions (asked only when drawn)."""
    me = _uid()
    if me is None:
        return []
    return competition_service.member_competitions(get_session(), me)


@bp.app_template_global("competition_url")
def competition_url(comp: Competition | None, page: str = "home") -> str:
    """Links in the nav: the public competition's home is the site's front page."""
    slug = comp.slug if comp is not None else PUBLIC_SLUG
    if page == "home":
        return (
            url_for("pages.home")
            if slug == PUBLIC_SLUG
            else url_for("pages.competition_home", slug=slug)
        )
    return url_for(f"pages.{page}", slug=slug)


def _optional_url(endpoint: str, fallback: str, **values) -> str:
    """Link to another engineer's page by endpoint when it exists, else by its path."""
    if endpoint in current_app.view_functions:
        return url_for(endpoint, **values)
    return request.script_root + fallback


# ---------------------------------------------------------------- lookups


def _uid() -> int | None:
    return current_user.id if current_user.is_authenticated else None


def _competition(slug: str) -> Competition:
    session = get_session()
    comp = access.read_competition(session, slug)  # shown, never changed
    access.require_view(session, _uid(), comp)
    return comp


def _question(question_id: int) -> tuple[Question, Competition]:
    return access.viewable_question_and_competition(get_session(), _uid(), question_id)


def _question_view(question_id: int):
    """A question's page for a view (GET): its question, competition and outcomes read in
    one statement (questions.viewable_with_outcomes)."""
    q, comp, outcomes = viewable_with_outcomes(get_session(), _uid(), question_id)
    return _question_page(q, comp, outcomes=outcomes)


def _member(comp: Competition) -> Membership | None:
    return access.membership(get_session(), _uid(), comp.id)


def _join_url(comp: Competition) -> str:
    return _optional_url("competitions.join", f"/c/{comp.slug}/join", slug=comp.slug)


def _page_of(count: int, size: int) -> tuple[int, int]:
    """(the page asked for in ?page=, brought within range; how many pages) for ``count`` rows."""
    pages = max(1, -(-count // size))
    return min(max(request.args.get("page", 1, type=int) or 1, 1), pages), pages


# ---------------------------------------------------------------- competition home


QUESTIONS_PAGE = 30  # question cards a page: open ones first, closing soonest


def _card(session, comp: Competition, question: Question, outcomes: list) -> dict:
    qj = queries.question_json(session, question, comp, outcomes)
    outcomes = qj["outcomes"]
    if question.kind == "binary":
        lead = 0
    else:
        lead = max(range(len(outcomes)), key=lambda k: outcomes[k]["probability"])
    values = queries.history_series(
        session, question, outcomes[lead]["id"], max_points=charts.SPARK_POINTS
    )
    label = outcomes[lead]["label"]
    winner = None
    if question.status == "resolved":
        winner = next((o["label"] for o in outcomes if o["id"] == question.resolved_outcome_id), "")
    return {
        "id": question.id,
        "title": question.title,
        "status": qj["status"],
        "kind": question.kind,
        "close_at": question.close_at,
        "trade_count": question.trade_count,
        "outcomes": outcomes,
        "lead": outcomes[lead],
        "lead_index": lead,
        "winner": winner,
        "sparkline": charts.sparkline(
            values,
            index=lead,
            label=f"{label} over time: from {charts.pct(values[0])} to {charts.pct(values[-1])}",
        ),
    }


def _competition_page(comp: Competition):
    """A page of question cards (30), each built once per trade on its question."""
    session = get_session()
    now = utcnow()
    ordered = queries.question_index(session, comp)
    statuses = [effective_status(q, now, comp) for q in ordered]
    open_total = statuses.count("open")
    page, pages = _page_of(len(ordered), QUESTIONS_PAGE)
    at = slice((page - 1) * QUESTIONS_PAGE, page * QUESTIONS_PAGE)
    keys = [
        _question_key("card", session, q, status, q.title, q.close_at, q.resolved_outcome_id)
        for q, status in zip(ordered[at], statuses[at], strict=True)
    ]
    missing = [k[2] for k in keys if k not in _DRAWN]
    found, outcomes = {}, {}
    if missing:  # their questions and outcomes in two queries, not two per card
        found = {q.id: q for q in session.exec(select(Question).where(Question.id.in_(missing)))}
        outcomes = outcomes_by_question(session, missing)

    def build(qid: int) -> dict:
        question = found.get(qid) or session.get(Question, qid)
        return _card(session, comp, question, outcomes.get(qid) or outcomes_of(session, qid))

    cards = [_drawn(k, lambda k=k: build(k[2])) for k in keys]
    # Each card's HTML too, once per trade on its question and once a minute ("closes in
    # 3 days" is measured from the minute, not the second).
    step = _now_step()
    html = [
        _drawn(
            ("card-html", *k, step),
            lambda c=c: Markup(render_template("partials/_question_card.html", q=c, now=step)),
        )
        for k, c in zip(keys, cards, strict=True)
    ]
    member = _member(comp)
    return render(
        "home.html",
        "partials/_questions.html",
        competition=comp,
        member=member,
        open_questions=[h for h, c in zip(html, cards, strict=True) if c["status"] == "open"],
        settled_questions=[h for h, c in zip(html, cards, strict=True) if c["status"] != "open"],
        open_total=open_total,
        settled_total=len(ordered) - open_total,
        page_no=page,
        pages=pages,
        moderator=access.is_moderator(session, _uid(), comp.id),
        join_url=_join_url(comp),
        now=now,
    )


@bp.get("/")
def home():
    """Show the public competition's questions: open ones closing soonest first."""
    return _competition_page(_competition(PUBLIC_SLUG))


@bp.get("/c/<slug>/")
def competition_home(slug: str):
    """Show a competition's questions (private ones only to members)."""
    return _competition_page(_competition(slug))


# ---------------------------------------------------------------- leaderboard, portfolio


LEADERBOARD_PAGE = 100  # rows a page; the viewer's own row is always shown
LEADERBOARD_MAX_AGE = 300  # a large leaderboard this old at most is shown while it is redone


@bp.get("/c/<slug>/leaderboard")
def leaderboard(slug: str):
    """Rank the players by net worth or by mean Brier (``?by=brier``), 100 a page.

    htmx refreshes the table every few seconds.
    """
    comp = _competition(slug)
    by = "brier" if request.args.get("by") == "brier" else "net_worth"
    standings = queries.leaderboard(get_session(), comp, by=by, max_age=LEADERBOARD_MAX_AGE)
    page, pages = _page_of(len(standings), LEADERBOARD_PAGE)
    shown = standings[(page - 1) * LEADERBOARD_PAGE : page * LEADERBOARD_PAGE]
    me = _uid()
    mine = None
    if me is not None and all(s.user_id != me for s in shown):
        mine = standings.of_user(me)
    context = dict(
        competition=comp,
        standings=shown,
        mine=mine,
        players=len(standings),
        page_no=page,
        pages=pages,
        first=(page - 1) * LEADERBOARD_PAGE + 1,
        as_of=standings.as_of,
        final=standings.final,
        me=me,
        by=by,
    )
    # The table is drawn once per computed leaderboard, page and viewer (whose row it marks).
    table = _drawn(
        ("board", standings.serial, by, page, me),
        lambda: Markup(render_template("partials/_leaderboard.html", **context)),
    )
    return render("leaderboard.html", "partials/_drawn.html", drawn=table, **context)


@bp.get("/c/<slug>/portfolio")
@login_required
def portfolio(slug: str):
    """Show your balance, net worth, open positions and settled questions."""
    comp = _competition(slug)
    member = _member(comp)
    data = queries.portfolio(get_session(), member) if member is not None else None
    return render(
        "portfolio.html",
        "partials/_portfolio.html",
        competition=comp,
        member=member,
        portfolio=data,
        join_url=_join_url(comp),
    )


# ---------------------------------------------------------------- question page


# Drawn charts, tables and cards, the last DRAWN_KEPT: at company size 200 questions'
# charts and recent trades, a page of cards and their HTML, and leaderboard tables.
_DRAWN: OrderedDict[tuple, object] = OrderedDict()
DRAWN_KEPT = 768
NOW_STEP = 60  # seconds: what runs to "now" (a chart's end, "2 minutes ago") is redrawn this often


def _drawn(key: tuple, draw):
    """What ``draw`` makes for ``key`` (a chart, a table, a question card), drawn only when
    this process has not drawn it yet: many viewers, one drawing.  The key holds all the
    drawing depends on (a question's trade count, a leaderboard's serial)."""
    return _kept(_DRAWN, DRAWN_KEPT, key, draw)


def _kept(store: OrderedDict, limit: int, key: tuple, draw):
    """``store[key]``, made by ``draw()`` when missing; ``store`` keeps the ``limit`` last used."""
    if (hit := store.get(key)) is not None:
        store.move_to_end(key)
        return hit
    return _remember(store, limit, key, draw())


def _remember(store: OrderedDict, limit: int, key: tuple, value):
    """Keep ``value`` as ``store``'s last used, forgetting the oldest past ``limit``."""
    store[key] = value
    store.move_to_end(key)
    while len(store) > limit:
        store.popitem(last=False)
    return value


def _question_key(kind: str, session, question, *more) -> tuple:
    """A key for ``_drawn`` of something drawn from ``question`` (or its light row):
    the database, the question and its trade count, and ``more``."""
    return (
        kind,
        str(session.get_bind().url),
        question.id,
        question.created_at,
        question.trade_count,
        *more,
    )


def _now_step() -> datetime:
    now = utcnow().replace(microsecond=0)
    return now - timedelta(seconds=now.second % NOW_STEP)


# The full question page's parts that are the same for every viewer and drawn apart
# from its chart (its probabilities and its text), the last PARTS_KEPT used: two parts
# of 320 questions, about 3 MB (the text's key holds the text).  A store of their own,
# so that a round of every question's page does not push the charts out of _DRAWN.
# (The chart's figure is not among them: it would keep each chart twice, for 1 % of a
# view.)
_PARTS: OrderedDict[tuple, Markup] = OrderedDict()
PARTS_KEPT = 640


class _Later:
    """A part of the full question page that is the same for every viewer, drawn (and kept
    in _PARTS) when the template shows it: htmx's fragments never do."""

    __slots__ = ("key", "draw")

    def __init__(self, key: tuple, draw) -> None:
        self.key, self.draw = key, draw

    def __html__(self) -> Markup:
        return _kept(_PARTS, PARTS_KEPT, self.key, lambda: Markup(self.draw()))


def _chart(session, question: Question, outcomes: list, status: str, recent: list[dict]) -> Markup:
    """The probability history chart, drawn once per trade (and every minute while open).
    ``recent``: the recent trades the page shows (read after ``question``), which carry
    the trades a kept history has yet to take in, mostly."""
    now = _now_step()
    end = question.resolved_at if question.status in ("resolved", "cancelled") else None
    end = end or (min(question.close_at, now) if status != "open" else now)
    labels = tuple(o.label for o in outcomes)

    def draw():
        start, seconds, lines = queries.history_columns(
            session,
            question,
            [o.id for o in outcomes],
            max_points=charts.MAX_POINTS,
            newest=[t["row"] for t in recent],
        )
        return charts.history_chart_columns(
            list(labels),
            start,
            seconds,
            lines,
            end=end,
            end_label="now" if status == "open" else None,
            title=f"Probability history: {question.title}",
        )

    key = _question_key("chart", session, question, status, end, question.title, labels)
    return _drawn(key, draw)


def _recent_trades(
    session, question: Question, outcomes: list[OutcomeRow]
) -> tuple[list[dict], list[Markup], Markup]:
    """The latest trades, their rows and their table, read and drawn once per trade (and
    every minute)."""

    def draw():
        trades = _latest_trades(session, question, outcomes)
        rows = _trade_rows(session, trades)
        html = render_template("partials/_recent_trades.html", recent_trade_rows=rows, oob=False)
        return trades, rows, Markup(html)

    return _drawn(_question_key("trades", session, question, _now_step()), draw)


# Each question's latest trades as last read, with the trade count the question had
# then: a page after new trades reads only those, and a page drawn again because a
# minute passed (its times reworded) reads nothing.  A trade never changes once made.
# The last LATEST_KEPT used: 20 trades of 512 questions, about 4 MB.
_LATEST: OrderedDict[tuple, tuple[int, list[dict]]] = OrderedDict()
LATEST_KEPT = 512


def _latest_trades(session, question: Question, outcomes: list[OutcomeRow]) -> list[dict]:
    """queries.recent_trades of ``question`` as of its trade count, read once per trade."""
    key = (str(session.get_bind().url), question.id, question.created_at)
    count = question.trade_count
    hit = _LATEST.get(key)
    if hit is not None and hit[0] == count:
        _LATEST.move_to_end(key)
        return hit[1]
    labels = {o.id: o.label for o in outcomes}
    if hit is not None and hit[0] < count and hit[1]:
        new = queries.recent_trades(session, question, labels=labels, after=hit[1][0]["id"])
        trades = [*new, *hit[1]][: queries.RECENT_TRADES]
    else:
        trades = queries.recent_trades(session, question, labels=labels)
    return _remember(_LATEST, LATEST_KEPT, key, (count, trades))[1]


# Each recent trade's table row as drawn, by database, trade (its id and time, as a
# database made afresh reuses ids) and the wording of its time ("5 minutes ago"): a
# table drawn again after a trade draws only the new rows, where drawing every row
# was most of a redrawn question page's time.  The last ROWS_KEPT used: 400 questions'
# 20 rows, about 5 MB.
_ROWS: OrderedDict[tuple, Markup] = OrderedDict()
ROWS_KEPT = 8192


def _trade_rows(session, trades: list[dict]) -> list[Markup]:
    """The table rows of ``trades`` (queries.recent_trades), each drawn once."""
    url, now = sys.intern(str(session.get_bind().url)), utcnow()  # one copy in every key
    row = get_template_attribute("partials/_recent_trades.html", "trade_row")
    out = []
    for t in trades:
        when = _relative(t["at"], now)
        key = (url, t["id"], t["at"], when)
        out.append(_kept(_ROWS, ROWS_KEPT, key, lambda t=t, when=when: row(t, when)))
    return out


def _market_context(
    question: Question, comp: Competition, outcomes: list[OutcomeRow] | None = None
) -> dict:
    """What the probability list, chart, position and recent trades need (``outcomes``:
    the question's, when the caller read them with it)."""
    session = get_session()
    if outcomes is None:
        outcomes = outcome_rows(session, question.id)
    recent = _recent_trades(session, question, outcomes)
    probs = queries.probabilities(question, outcomes)
    status = effective_status(question)
    member = _member(comp)
    positions = queries.positions(session, member, question) if member is not None else []
    rows = [
        {"id": o.id, "label": o.label, "probability": probs[o.id], "index": k}
        for k, o in enumerate(outcomes)
    ]
    return {
        "question": question,
        "competition": comp,
        "status": status,
        "outcomes": rows,
        "chart": _chart(session, question, outcomes, status, recent[0]),
        "latest": _relative(recent[0][0]["at"]) if recent[0] else None,  # "2 minutes ago"
        # Each kept by all it shows, so it is drawn again exactly when that changes.
        "probability_html": _Later(
            ("probability", *((o["id"], o["label"], o["probability"]) for o in rows)),
            lambda: render_template("partials/_probability.html", outcomes=rows, oob=False),
        ),
        "about_html": _Later(
            ("about", question.description, question.resolution_criteria, question.source),
            lambda: render_template("partials/_about.html", question=question),
        ),
        "member": member,
        "positions": positions,
        "held": {p["outcome"]: p["shares"] for p in positions},
        "position_value": sum(p["value"] for p in positions),
        "position_spent": sum(p["spent"] for p in positions),
        "recent_trades": recent[0],
        "recent_trade_rows": recent[1],
        "recent_trades_html": recent[2],
    }


def _panel_context(
    question: Question,
    comp: Competition,
    ctx: dict,
    *,
    form: TradeForm | None = None,
    quote: dict | None = None,
    message: str | None = None,
) -> dict:
    """The trade panel: its form (a fresh idempotency key on each new form) and why it is shut.

    The form (and its CSRF token) is made only for a member who can trade, or
    when a caller passes one back with its errors: a visitor sees links instead.
    """
    closed_reason = None
    if competition_status(comp) != "open":
        closed_reason = "This competition has ended; trading is over."
    elif ctx["status"] != "open":
        closed_reason = {
            "closed": "Trading on this question has closed; it awaits resolution.",
            "resolved": "This question is resolved; trading is over.",
            "cancelled": "This question was cancelled; every trade was reversed.",
        }[ctx["status"]]
    can_trade = ctx["member"] is not None and closed_reason is None
    if form is None and can_trade:
        form = TradeForm(formdata=None)
        form.mode.data = request.args.get("mode", "buy")
        form.idempotency_key.data = new_idempotency_key()
        wanted = request.args.get("outcome", "")
        ids = [str(o["id"]) for o in ctx["outcomes"]]
        form.outcome.data = wanted if wanted in ids else ids[0]
    if form is not None:
        form.outcome.choices = [(str(o["id"]), o["label"]) for o in ctx["outcomes"]]
        mode = form.current_mode()
        form.mode.data = mode
    else:
        mode = mode_of(request.args.get("mode"))
    # After a trade, an error or a change of mode, put the cursor back in the amount box
    # (htmx focuses [autofocus] in swapped content); a plain page load leaves focus alone.
    errors = form is not None and bool(form.errors or form.form_errors)
    focus = message is not None or errors or "mode" in request.args
    return {
        "form": form,
        "mode": mode,
        "focus_amount": focus,
        "quote": quote,
        "message": message,
        "closed_reason": closed_reason,
        "can_trade": can_trade,
        **_panel_links(question, comp, ctx["member"], closed_reason),
    }


def _panel_links(
    question: Question, comp: Competition, member: Membership | None, closed_reason: str | None
) -> dict[str, str | None]:
    """The links the trade panel shows instead of a form: log in or register (and come
    back here) for a visitor, join for a signed-in player who is not a member."""
    links = dict.fromkeys(("login_url", "register_url", "join_url"))
    if closed_reason is not None or member is not None:
        return links
    if current_user.is_authenticated:
        links["join_url"] = _join_url(comp)
    else:
        here = url_for("pages.question", question_id=question.id)
        links["login_url"] = url_for("auth.login", next=here)
        links["register_url"] = url_for("auth.register", next=here)
    return links


def _question_page(
    question: Question,
    comp: Competition,
    status: int = 200,
    outcomes: list[OutcomeRow] | None = None,
    **panel,
):
    from forecast.web.comments import comments_context

    session = get_session()
    ctx = _market_context(question, comp, outcomes)
    ctx.update(_panel_context(question, comp, ctx, **panel))
    winner = None
    if question.status == "resolved":
        winner = next(
            (o["label"] for o in ctx["outcomes"] if o["id"] == question.resolved_outcome_id), ""
        )
    moderator = access.is_moderator(session, _uid(), comp.id)
    return render(
        "question.html",
        "partials/_trade_panel.html",
        status_code=status,
        winner=winner,
        moderator=moderator,
        moderate_url=_optional_url(
            "moderate.resolve",
            f"/moderate/questions/{question.id}/resolve",
            question_id=question.id,
        )
        if moderator
        else None,
        **ctx,
        **comments_context(question),
    )


@bp.get("/questions/<int:question_id>")
def question(question_id: int):
    """Show a question: probabilities, history chart, trade panel, position, trades."""
    return _question_view(question_id)


@bp.get("/questions/<int:question_id>/trade")
def trade_panel(question_id: int):
    """The trade panel in another mode (buy, sell, probability); the full page without htmx."""
    return _question_view(question_id)


# ---------------------------------------------------------------- quoting and trading


class MissingAmount(Invalid):
    """The amount box is empty: an error on a trade, just a hint on a live quote."""


def _money_text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _order(form: TradeForm, outcome_ids: list[int]) -> trading.Order:
    """The order the form describes; Invalid names the form's field."""
    try:
        outcome_id = int(form.outcome.data or "")
    except (TypeError, ValueError):
        outcome_id = None
    if outcome_id not in outcome_ids:
        raise Invalid("Choose an outcome.", field="outcome")
    mode = form.current_mode()
    field = AMOUNT_FIELDS[mode]
    text = _money_text(getattr(form, field).data)
    if text is None:
        prompts = {
            "buy": "Type how many points to spend.",
            "sell": "Type how many shares to sell.",
            "probability": "Type your probability, like 35 for 35%.",
        }
        raise MissingAmount(prompts[mode], field=field)
    if len(text) > 60:
        raise Invalid("Type a number, like 25 or 12.5.", field=field)
    try:
        if mode == "buy":
            return trading.parse_order(outcome_id=outcome_id, spend=text)
        if mode == "sell":
            return trading.parse_order(outcome_id=outcome_id, sell=text)
        try:
            percent = Decimal(text.rstrip("%").strip())
        except InvalidOperation:
            percent = None
        if percent is None or not percent.is_finite() or not 0 < percent < 100:
            raise Invalid(
                "Your probability is a number between 0 and 100, like 35.", field="probability"
            )
        max_spend = _money_text(form.max_spend.data)
        if max_spend is not None and len(max_spend) > 60:
            raise Invalid("Type a number, like 25 or 12.5.", field="max_spend")
        return trading.parse_order(
            outcome_id=outcome_id, to_probability=float(percent / 100), max_spend=max_spend
        )
    except Invalid as e:
        if e.field == "to_probability":
            e.field = "probability"
        raise


def _attach(form: TradeForm, err: DomainError) -> None:
    """Put a service's message next to the field it concerns, or above the form."""
    mode = form.current_mode()
    by_code = {
        "insufficient_balance": AMOUNT_FIELDS[mode],
        "probability_limit": AMOUNT_FIELDS[mode],
        "invalid_trade": AMOUNT_FIELDS[mode],
        "not_enough_shares": AMOUNT_FIELDS[mode],
    }
    name = err.field or by_code.get(err.code)
    if isinstance(err, NotFound):
        name = "outcome"
    field = getattr(form, name, None) if name else None
    if field is not None and name in ("outcome", "spend", "sell", "probability", "max_spend"):
        field.errors = [*field.errors, err.message]
    else:
        form.form_errors.append(err.message)


def _error_status(err: DomainError) -> int:
    return 409 if isinstance(err, Conflict) else 422


def _quote_view(q: Quote, outcomes: list[dict], balance: int, order) -> dict:
    index = q.outcome
    return {
        "outcome": outcomes[index]["label"],
        "index": index,
        "shares": q.shares,
        "cost": q.cost,
        "before": q.probabilities_before[index],
        "after": q.probabilities_after[index],
        "balance_after": balance - q.cost,
        "capped": q.capped,
        "target": order.to_probability,
    }


def _trade_form(question: Question, comp: Competition) -> tuple[TradeForm, dict]:
    ctx = _market_context(question, comp)
    form = TradeForm()
    form.outcome.choices = [(str(o["id"]), o["label"]) for o in ctx["outcomes"]]
    return form, ctx


def _trade_limit() -> str:
    return current_app.config["RATELIMIT_TRADE"]


@bp.post("/questions/<int:question_id>/quote")
@login_required
@limiter.limit(lambda: current_app.config["RATELIMIT_API"], key_func=user_key)
def quote(question_id: int):
    """Price the order in the form without trading (htmx: just the quote box)."""
    q, comp = _question(question_id)
    form, ctx = _trade_form(q, comp)
    if not form.validate_on_submit():  # only the CSRF token can fail here
        return render_template("error.html", status=400, message="The form expired."), 400
    if ctx["member"] is None:
        access.require_member(get_session(), current_user.id, comp)
    result, status = None, 200
    try:
        order = _order(form, [o["id"] for o in ctx["outcomes"]])
        session = get_session()
        try:
            priced = trading.quote(
                session=session, user_id=current_user.id, question_id=q.id, order=order
            )
        finally:
            session.rollback()  # the quote locked rows on PostgreSQL: let them go now
        balance = _member(comp).balance
        if priced.cost > balance:  # the trade would refuse it: say so before the click
            raise Conflict(
                f"You have {fmt(balance)} points; this trade costs {fmt(priced.cost)}.",
                code="insufficient_balance",
            )
        result = _quote_view(priced, ctx["outcomes"], balance, order)
    except MissingAmount:
        pass  # nothing typed yet: the quote box shows its hint
    except DomainError as e:
        if e.status == 403:
            raise
        _attach(form, e)
        status = _error_status(e)
    if is_htmx():
        errors = [*form.form_errors, *(e for f in form for e in f.errors)]
        return render_template("partials/_quote.html", quote=result, quote_errors=errors), status
    return _question_page(q, comp, status=status, form=form, quote=result)


@bp.post("/questions/<int:question_id>/trade")
@login_required
@limiter.limit(_trade_limit, key_func=user_key)
def trade(question_id: int):
    """Place the trade; htmx swaps the panel and the market in place, a form POST redirects."""
    q, comp = _question(question_id)
    form, ctx = _trade_form(q, comp)
    if not form.validate_on_submit():
        return render_template("error.html", status=400, message="The form expired."), 400
    if ctx["member"] is None:
        access.require_member(get_session(), current_user.id, comp)
    key = (form.idempotency_key.data or "").strip()[:200] or None
    try:
        order = _order(form, [o["id"] for o in ctx["outcomes"]])
        result = transaction(
            lambda s: trading.trade(
                session=s,
                user_id=current_user.id,
                question_id=q.id,
                order=order,
                idempotency_key=key,
            ),
            retry_integrity=True,
        )
    except DomainError as e:
        if e.status == 403:
            raise
        if e.code == "idempotency_key_reused":  # the form was sent before, with other values
            e = Conflict(
                "This form already placed a trade. Check your position, then trade again.",
                code=e.code,
            )
            form.idempotency_key.data = new_idempotency_key()
        _attach(form, e)
        return _question_page(q, comp, status=_error_status(e), form=form)
    message = _done_message(result)
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("pages.question", question_id=q.id), 303)
    q = get_session().get(Question, q.id)  # transaction() refreshed the read session
    ctx = _market_context(q, comp)
    ctx.update(_panel_context(q, comp, ctx, message=message))
    if (fresh := ctx["form"]) is not None:  # None when trading shut just after this trade
        fresh.mode.data = form.current_mode()
        fresh.outcome.data = form.outcome.data
    return render_template("partials/_trade_done.html", **ctx)


def _done_message(result: trading.TradeResult) -> str:
    t, label = result.trade, result.outcome.label
    if result.replayed:
        return "That trade was already placed; it was not placed twice."
    if t.shares >= 0:
        text = f"Bought {fmt(t.shares)} shares of {label} for {fmt(t.cost)} points."
    else:
        text = f"Sold {fmt(-t.shares)} shares of {label} for {fmt(-t.cost)} points."
    return f"{text} Your balance is {fmt(result.balance)} points."
