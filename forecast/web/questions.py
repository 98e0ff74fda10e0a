"""The question page (probabilities, history chart, trade panel, the viewer's position,
recent trades, comments) and what its trade panel posts: a live quote and a trade.

Each URL serves the full page, or to htmx just the partial it swaps (web/render.py).
Trading works as a plain form POST without JavaScript (303 back to the page); with htmx
the quote is live and a trade answers with the panel and the parts it changed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from markupsafe import Markup

from forecast.cache import cached
from forecast.db import get_session, transaction
from forecast.extensions import limiter, user_key
from forecast.market.money import fmt_exact
from forecast.models import Competition, Membership, Question, utcnow
from forecast.services import access, history, reads, trading
from forecast.services.errors import Conflict, DomainError, Invalid, NotFound
from forecast.services.questions import effective_status, outcomes_of
from forecast.web import charts
from forecast.web.filters import competition_status, relative
from forecast.web.forms import TradeForm, mode_of, new_idempotency_key
from forecast.web.lookups import (
    join_url,
    membership,
    optional_url,
    uid,
    viewable_question,
)
from forecast.web.orders import (
    Holding,
    MissingAmount,
    attach,
    done_message,
    error_status,
    fill,
    order_of,
    quote_view,
)
from forecast.web.render import is_htmx, render

bp = Blueprint("questions", __name__)

NOW_STEP = 60  # seconds: an open question's chart runs to "now", redrawn at most this often


def _now_step() -> datetime:
    now = utcnow().replace(microsecond=0)
    return now - timedelta(seconds=now.second % NOW_STEP)


def history_of(question: Question, outcomes: list) -> tuple:
    """The question's sampled history as a chart's columns (history.history_columns)
    and its recent trades, read again only after a trade on it: kept in the app's
    cache at its trade count.  The question page and the projector draw from it."""

    def read() -> tuple:
        session = get_session()
        columns = history.history_columns(
            session, question, [o.id for o in outcomes], max_points=charts.MAX_POINTS
        )
        recent = reads.recent_trades(session, question, labels={o.id: o.label for o in outcomes})
        return columns, recent

    version = (question.trade_count, tuple(o.label for o in outcomes))
    return cached(("history", question.id), read, version=version)


def history_chart(
    question: Question, outcomes: list, status: str, end: datetime, *, chart_id: str = "history"
) -> Markup:
    """The question's probability chart to ``end``, drawn from :func:`history_of` (the
    question page's, and the projector's with its own ``chart_id``)."""
    (start, seconds, lines), _ = history_of(question, outcomes)
    return charts.history_chart_columns(
        [o.label for o in outcomes],
        start,
        seconds,
        lines,
        end=end,
        end_label="now" if status == "open" else None,
        title=f"Probability history: {question.title}",
        chart_id=chart_id,
    )


def _shared(question: Question, outcomes: list, status: str) -> dict:
    """The chart and the recent trades, the same for every viewer, rendered
    (partials/_chart.html shows ``chart`` and ``latest``, partials/_recent_trades.html
    ``trades``).

    Kept in the app's cache per question: read again after each trade on it, and
    drawn again from what was read once a minute while it is open (its chart runs
    to now, and the trades say how long ago they were).
    """
    now = _now_step()
    end = question.resolved_at if question.status in ("resolved", "cancelled") else None
    end = end or (min(question.close_at, now) if status != "open" else now)
    labels = [o.label for o in outcomes]

    def draw() -> dict:
        _, recent = history_of(question, outcomes)
        at = utcnow()
        trades = render_template("partials/_trade_list.html", recent_trades=recent, now=at)
        return {
            "chart": history_chart(question, outcomes, status, end),
            "latest": relative(recent[0]["at"], at) if recent else None,  # "2 minutes ago"
            "trades": Markup(trades),
        }

    version = (question.trade_count, status, end, question.title, tuple(labels))
    return cached(("history-drawn", question.id), draw, version=version)


def _market(question: Question, comp: Competition, outcomes: list) -> dict:
    """What the trade panel, the probabilities and the position show."""
    member = membership(comp)
    probs = reads.probabilities(question, outcomes)
    positions = reads.positions(get_session(), member, question) if member is not None else []
    return {
        "question": question,
        "competition": comp,
        "status": effective_status(question),
        "outcomes": [
            {"id": o.id, "label": o.label, "probability": probs[o.id], "index": k}
            for k, o in enumerate(outcomes)
        ],
        "member": member,
        "positions": positions,
        "held": {p["outcome"]: p["shares"] for p in positions},
        "position_value": sum(p["value"] for p in positions),
        "position_spent": sum(p["spent"] for p in positions),
        "settled": _settled(question, positions),
    }


def _settled(question: Question, positions: list[dict]) -> dict | None:
    """What a resolved or cancelled question paid the viewer (the positions' values add up
    to it, reads.positions) and their final profit: the portfolio's settled row, to the
    unit.  None while it is not settled."""
    traded = any(p["shares"] or p["spent"] for p in positions)
    if question.status not in ("resolved", "cancelled") or not traded:
        return None
    payout, spent = sum(p["value"] for p in positions), sum(p["spent"] for p in positions)
    return {"payout": payout, "spent": spent, "profit": payout - spent}


def _history(question: Question, outcomes: list, status: str) -> dict:
    """The chart and the recent trades (see _shared), and the time now for the page."""
    return {**_shared(question, outcomes, status), "now": utcnow()}


def _panel(
    question: Question,
    comp: Competition,
    market: dict,
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
    elif market["status"] != "open":
        closed_reason = {
            "closed": "Trading on this question has closed; it awaits resolution.",
            "resolved": "This question is resolved; trading is over.",
            "cancelled": "This question was cancelled; every trade was reversed.",
        }[market["status"]]
    can_trade = market["member"] is not None and closed_reason is None
    if form is None and can_trade:
        form = TradeForm(formdata=None)
        form.mode.data = request.args.get("mode", "buy")
        form.idempotency_key.data = new_idempotency_key()
        wanted = request.args.get("outcome", "")
        ids = [str(o["id"]) for o in market["outcomes"]]
        form.outcome.data = wanted if wanted in ids else ids[0]
    if form is not None:
        form.outcome.choices = [(str(o["id"]), o["label"]) for o in market["outcomes"]]
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
        **_panel_links(question, comp, market["member"], closed_reason),
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
        links["join_url"] = join_url(comp)
    else:
        here = url_for("questions.question", question_id=question.id)
        links["login_url"] = url_for("auth.login", next=here)
        links["register_url"] = url_for("auth.register", next=here)
    return links


def _question_page(
    question: Question, comp: Competition, outcomes: list, status: int = 200, **panel
):
    """The full question page, or to htmx just its trade panel."""
    from forecast.web.comments import comments_context

    market = _market(question, comp, outcomes)
    context = {**market, **_panel(question, comp, market, **panel)}
    if is_htmx():
        return render("question.html", "partials/_trade_panel.html", status_code=status, **context)
    moderator = access.is_moderator(get_session(), uid(), comp.id)
    winner = None
    if question.status == "resolved":
        winner = next((o.label for o in outcomes if o.id == question.resolved_outcome_id), "")
    return render(
        "question.html",
        "partials/_trade_panel.html",
        status_code=status,
        winner=winner,
        moderator=moderator,
        moderate_url=optional_url(
            "moderate.resolve",
            f"/moderate/questions/{question.id}/resolve",
            question_id=question.id,
        )
        if moderator
        else None,
        **context,
        **_history(question, outcomes, market["status"]),
        **comments_context(question),
    )


def _question_view(question_id: int):
    q, comp = viewable_question(question_id)
    return _question_page(q, comp, outcomes_of(get_session(), q.id))


@bp.get("/questions/<int:question_id>")
def question(question_id: int):
    """Show a question: probabilities, history chart, trade panel, position, trades."""
    return _question_view(question_id)


@bp.get("/questions/<int:question_id>/trade")
def trade_panel(question_id: int):
    """The trade panel in another mode (buy, sell, probability); the full page without htmx."""
    return _question_view(question_id)


# ---------------------------------------------------------------- quoting and trading


# CSRFProtect checks every form POST's token before the view (web/errors.py answers a bad
# one), so a posted trade form is read without its token field; a form shown again (with
# its errors, on a page) is made with one.


def _holding(question: Question, comp: Competition, outcomes: list) -> Holding:
    """The market and the caller's side of it, as read for this request (orders.Holding)."""
    member = membership(comp)
    held = trading.held_shares(get_session(), member, question.id)
    return Holding(
        q=[o.q for o in outcomes],
        b=question.liquidity,
        labels=[o.label for o in outcomes],
        held=[held.get(o.id, 0) for o in outcomes],
        balance=member.balance,
    )


def _posted(*, shown: bool) -> TradeForm:
    """The posted trade form; ``shown``: to be shown again, with a CSRF token."""
    return TradeForm() if shown else TradeForm(meta={"csrf": False})


@bp.post("/questions/<int:question_id>/quote")
@login_required
@limiter.limit(lambda: current_app.config["RATELIMIT_API"], key_func=user_key)
def quote(question_id: int):
    """Price the order in the form without trading (htmx: just the quote box)."""
    q, comp = viewable_question(question_id)
    if membership(comp) is None:
        access.require_member(get_session(), current_user.id, comp)  # 403
    outcomes = outcomes_of(get_session(), q.id)
    shortcut = request.form.get("fill") in ("max", "all")
    form = _posted(shown=not is_htmx() or shortcut)  # a shortcut's answer is the panel
    result, status = None, 200
    try:
        ids, holding = [o.id for o in outcomes], _holding(q, comp, outcomes)
        if shortcut:
            fill(form, ids, holding)
        order, note = order_of(form, ids, holding)
        session = get_session()
        try:
            priced = trading.quote(
                session=session, user_id=current_user.id, question_id=q.id, order=order
            )
        finally:
            session.rollback()  # the quote locked rows on PostgreSQL: let them go now
        balance = holding.balance
        if priced.cost > 0 and balance < 0:  # the trade would refuse it: say so first
            raise Conflict(
                f"You owe {fmt_exact(-balance)} points, so you cannot buy until it is "
                "repaid; sell shares to repay it.",
                code="insufficient_balance",
            )
        if priced.cost > 0 and priced.cost > balance:
            raise Conflict(
                f"You have {fmt_exact(balance)} points; this trade costs {fmt_exact(priced.cost)}.",
                code="insufficient_balance",
            )
        result = quote_view(priced, holding.labels, balance, order, note)
    except MissingAmount:
        pass  # nothing typed yet: the quote box shows its hint
    except DomainError as e:
        if e.status == 403:
            raise
        attach(form, e)
        status = error_status(e)
    if is_htmx() and not shortcut:  # a shortcut filled a box: the whole panel comes back
        errors = [*form.form_errors, *(e for f in form for e in f.errors)]
        return render_template("partials/_quote.html", quote=result, quote_errors=errors), status
    return _question_page(q, comp, outcomes, status=status, form=form, quote=result)


def _trade_limit() -> str:
    return current_app.config["RATELIMIT_TRADE"]


@bp.post("/questions/<int:question_id>/trade")
@login_required
@limiter.limit(_trade_limit, key_func=user_key)
def trade(question_id: int):
    """Place the trade; a form POST redirects (303) to the page, htmx swaps in the panel,
    the probabilities and the position, and the chart and trades fetch themselves.

    The trade's own transaction checks the question, the outcome and the membership,
    so a trade that goes through reads nothing before it; a refused one reads the page.
    """
    posted = _posted(shown=False)
    key = (posted.idempotency_key.data or "").strip()[:200] or None
    try:
        if posted.current_mode() == "probability":  # planned from the market as read
            q, comp = viewable_question(question_id)
            if membership(comp) is None:
                access.require_member(get_session(), current_user.id, comp)  # 403
            outcomes = outcomes_of(get_session(), q.id)
            holding = _holding(q, comp, outcomes)
            order, _ = order_of(posted, [o.id for o in outcomes], holding)
        else:
            order, _ = order_of(posted)
        result = transaction(
            lambda s: trading.trade(
                session=s,
                user_id=current_user.id,
                question_id=question_id,
                order=order,
                idempotency_key=key,
            ),
            retry_integrity=True,
        )
    except DomainError as e:
        if e.status == 403:
            raise
        q, comp = viewable_question(question_id)  # 404 when the question was what failed
        form = _posted(shown=True)
        if isinstance(e, NotFound):  # the question is there: the outcome is not its own
            e = Invalid("Choose an outcome.", field="outcome")
        elif e.code == "idempotency_key_reused":  # the form was sent before, with other values
            e = Conflict(
                "This form already placed a trade. Check your position, then trade again.",
                code=e.code,
            )
            form.idempotency_key.data = new_idempotency_key()
        attach(form, e)
        outcomes = outcomes_of(get_session(), q.id)
        return _question_page(q, comp, outcomes, status=error_status(e), form=form)
    message = done_message(result)
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("questions.question", question_id=question_id), 303)
    q, comp = viewable_question(question_id)
    market = _market(q, comp, outcomes_of(get_session(), q.id))
    context = {**market, **_panel(q, comp, market, message=message)}
    if (fresh := context["form"]) is not None:  # None when trading shut just after this trade
        fresh.mode.data = posted.current_mode()
        fresh.outcome.data = posted.outcome.data
    response = make_response(render_template("partials/_trade_done.html", **context))
    response.headers["HX-Trigger"] = "traded"  # the chart and the recent trades fetch themselves
    return response


@bp.get("/questions/<int:question_id>/history")
def price_history(question_id: int):
    """The history chart, and to htmx the recent trades beside it (out of band); the full
    page without htmx."""
    if not is_htmx():
        return _question_view(question_id)
    q, comp = viewable_question(question_id)
    outcomes = outcomes_of(get_session(), q.id)
    context = _history(q, outcomes, effective_status(q))
    response = make_response(
        render_template("partials/_history.html", question=q, competition=comp, **context)
    )
    response.vary.add("HX-Request")
    return response
