"""The JSON API for bots (API.md), under /api/v1.

Every answer is JSON; every error has API.md's shape.  Checks run in the
contract's order: the body (400/413) before the token (401), the token before
what the caller may see (403/404), that before the fields (422) and the
fields before the state of the market (409).  Writes run as one transaction
whose first steps are those checks, so nothing changes between checking and
doing.  Authentication is by bearer token only, never by the session cookie,
which is why the blueprint can be exempt from CSRF.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from flask import Blueprint, current_app, g, jsonify, request
from sqlmodel import Session, select

from forecast.db import get_db, get_session, transaction
from forecast.extensions import csrf, limiter
from forecast.market.money import to_float
from forecast.models import Competition, Membership, utcnow
from forecast.services import (
    access,
    accounts,
    competitions,
    questions,
    reads,
    resolution,
    standings,
    trading,
)
from forecast.services.errors import DomainError, Invalid, NotFound, unstorable
from forecast.services.history import history as question_history
from forecast.web import tokens

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer tokens only: a browser's cookie never authenticates here

MAX_ID = 2**63 - 1
TOUCH_EVERY = timedelta(minutes=1)
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
QID = "<int:question_id>"  # bounded to INTEGER ids by web.IdConverter


def _api_limit() -> str:
    return current_app.config["RATELIMIT_API"]


def _trade_limit() -> str:
    return current_app.config["RATELIMIT_TRADE"]


# One budget per token across the whole API, and a tighter one for trades.
limiter.shared_limit(_api_limit, scope="api")(bp)


class BadBody(DomainError):
    status = 400
    code = "bad_request"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


# ---------------------------------------------------------------- request plumbing


def _int_or_decimal(text: str) -> int | Decimal:
    # Python refuses to parse very long ints; no id or amount is that long anyway,
    # so keep the number exact and let the field checks call it out of range (422).
    return int(text) if len(text) <= 40 else Decimal(text)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _encodable(value: object) -> bool:
    """False when a string holds a lone surrogate (not text any database can store)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return True


def _nul_field(body: dict) -> str | None:
    """The first field of the body holding a NUL character, at any depth (PostgreSQL
    stores no NUL): refused as that field's 422 once the caller is known (_before)."""
    for name, value in body.items():
        stack = [name, value]
        while stack:
            v = stack.pop()
            if unstorable(v):
                return str(name)
            if isinstance(v, dict):
                stack.extend([*v.keys(), *v.values()])
            elif isinstance(v, list):
                stack.extend(v)
    return None


def _parse_body() -> None:
    """g.body: the request's JSON object.  400 when it is not JSON or not an object."""
    g.body = {}
    if request.method not in BODY_METHODS:
        return
    raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH
    if not raw.strip() and request.method == "DELETE":
        return
    try:
        body = json.loads(raw, parse_constant=_reject_constant, parse_int=_int_or_decimal)
    except (ValueError, RecursionError):
        raise BadBody("The body is not JSON.") from None
    if not isinstance(body, dict):
        raise BadBody("The body must be a JSON object.")
    if not _encodable(body):
        raise BadBody("The body is not valid UTF-8 JSON text.")
    g.body = body


def _bearer() -> str | None:
    """The request's API token as sent, or None without an Authorization header (401 when
    the header is not exactly 'Bearer <token>': web.tokens)."""
    try:
        return tokens.bearer_token(request.headers.get("Authorization"))
    except tokens.MalformedBearer:
        raise Unauthorized("Send your API token as 'Authorization: Bearer <token>'.") from None


def _authenticate() -> None:
    """g.user: the token's account, or None without an Authorization header (401 when bad).

    Every API request passes here once, before its view (_before): the token is
    read in a short session of its own (no read transaction of this request stays
    open for a write to wait on), and its use recorded (_touch_token).
    """
    g.user = None
    plain = _bearer()
    if plain is None:
        return
    caller = accounts.api_caller(get_db(), plain)
    if caller is None:
        raise Unauthorized("Unknown or revoked API token.")
    g.user = caller
    _touch_token()


def _touch_token() -> None:
    """Record the caller's token use, at most once a minute per token (so reads stay
    reads), in a transaction of its own: a trade refused by the market still counts."""
    caller = g.user
    now, last = utcnow(), caller.token_last_used_at
    if last is None or now - last > TOUCH_EVERY:
        transaction(lambda s: accounts.touch_token(session=s, token_id=caller.token_id, now=now))


@bp.before_request
def _before() -> None:
    _parse_body()
    nul = _nul_field(g.body)
    _authenticate()
    if nul is not None:
        if g.user is None:  # a body comes only with a write, and every write needs a token
            raise Unauthorized("Send your API token as 'Authorization: Bearer <token>'.")
        raise Invalid(f"{nul}: text may not hold NUL characters.", field=nul)


@bp.after_request
def _after(resp):
    resp.headers.setdefault("Cache-Control", "no-store")
    if resp.status_code == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="forecast"'
    return resp


def _user() -> accounts.ApiCaller:
    """The caller; 401 without a token."""
    if g.get("user") is None:
        raise Unauthorized("This needs an API token: 'Authorization: Bearer <token>'.")
    return g.user


def _uid() -> int | None:
    user = g.get("user")
    return user.id if user is not None else None


def _body() -> dict:
    return g.get("body", {})


# ---------------------------------------------------------------- field checks (422)


def _id_field(value: object, field: str, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Invalid(message, field=field)
    return value


def _number_field(body: dict, field: str) -> object:
    """A JSON number (or absent/null -> None); anything else is a 422."""
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise Invalid(f"{field} must be a number.", field=field)
    return value


# ---------------------------------------------------------------- JSON shapes


def _membership_json(session: Session, member: Membership, comp: Competition) -> dict:
    return {
        "competition": comp.slug,
        "role": member.role,
        "balance": to_float(member.balance),
        "net_worth": to_float(standings.member_net_worth(session, member)),
    }


def _trade_json(result: trading.TradeResult) -> dict:
    t = result.trade
    return {
        "trade": {
            "id": t.id,
            "outcome": t.outcome_id,
            "shares": to_float(t.shares),
            "cost": to_float(t.cost),
            "probability_after": float(t.probabilities[str(t.outcome_id)]),
        },
        "balance": to_float(result.balance),
    }


# ---------------------------------------------------------------- account and competitions


@bp.get("/me")
def me():
    """Who the token belongs to, and their wallets."""
    user = _user()
    session = get_session()
    rows = session.exec(
        select(Membership, Competition)
        .join(Competition, Competition.id == Membership.competition_id)
        .where(Membership.user_id == user.id)
        .order_by(Competition.id)
    )
    return jsonify(
        {
            "username": user.username,
            "is_admin": user.is_admin,
            "memberships": [_membership_json(session, m, c) for m, c in rows],
        }
    )


@bp.post("/competitions")
def create_competition():
    """Create a competition owned by the caller."""
    user = _user()
    body = _body()
    is_listed = body.get("is_listed", True)
    if not isinstance(is_listed, bool):
        raise Invalid("is_listed is true or false.", field="is_listed")
    balance = _number_field(body, "starting_balance")
    end_at = body.get("end_at")
    if end_at is not None:
        end_at = questions.parse_time(end_at, field="end_at")
    comp = transaction(
        lambda s: competitions.create_competition(
            session=s,
            user_id=user.id,
            name=body.get("name"),
            slug=body.get("slug"),
            starting_balance=balance,
            is_listed=is_listed,
            end_at=end_at,
        )
    )
    return jsonify(
        {
            "slug": comp.slug,
            "name": comp.name,
            "join_code": comp.join_code,
            "starting_balance": to_float(comp.starting_balance),
            "is_listed": comp.is_listed,
            "end_at": reads.iso(comp.end_at),
        }
    ), 201


@bp.post("/competitions/<slug>/join")
def join(slug: str):
    """Join a competition with its code; joining twice is harmless."""
    user = _user()
    code = _body().get("code")

    def use_case(s: Session) -> dict:
        member = competitions.join(session=s, user_id=user.id, slug=slug, code=code)
        return _membership_json(s, member, s.get(Competition, member.competition_id))

    return jsonify(transaction(use_case))


def _visible_competition(slug: str) -> tuple[Session, Competition]:
    session = get_session()
    comp = access.get_competition(session, slug)
    access.require_view(session, _uid(), comp)
    return session, comp


@bp.get("/competitions/<slug>/questions")
def list_questions(slug: str):
    """A competition's questions: open ones closing soonest first."""
    session, comp = _visible_competition(slug)
    return jsonify(
        [reads.question_json(session, q, comp) for q in reads.competition_questions(session, comp)]
    )


@bp.post("/competitions/<slug>/questions")
def create_question(slug: str):
    """A moderator writes a question."""
    user = _user()
    body = _body()

    def use_case(s: Session) -> dict:
        comp = access.get_competition(s, slug)
        access.require_moderator(s, user.id, comp.id)
        fields = {k: body.get(k) for k in QUESTION_FIELDS}
        fields["kind"] = body.get("kind", "binary")
        fields["liquidity"] = _number_field(body, "liquidity")
        q = questions.create_question(session=s, user_id=user.id, competition=comp, **fields)
        return reads.question_json(s, q, comp)

    return jsonify(transaction(use_case)), 201


QUESTION_FIELDS = (
    "title",
    "description",
    "resolution_criteria",
    "source",
    "kind",
    "outcomes",
    "close_at",
    "liquidity",
    "initial_probabilities",
)


@bp.get("/competitions/<slug>/leaderboard")
def leaderboard(slug: str):
    """Standings by net worth (or ?by=brier)."""
    session, comp = _visible_competition(slug)
    by = request.args.get("by", "net_worth")
    if by not in ("net_worth", "brier"):
        raise Invalid("by is net_worth or brier.", field="by")
    board = standings.leaderboard(session, comp, by=by)
    return jsonify([standings.standing_json(s) for s in board])


# ---------------------------------------------------------------- questions


@bp.get(f"/questions/{QID}")
def question(question_id: int):
    """One question with its outcomes' probabilities."""
    session = get_session()
    q, comp = access.viewable_question_and_competition(session, _uid(), question_id)
    return jsonify(reads.question_json(session, q, comp))


@bp.get(f"/questions/{QID}/history")
def history(question_id: int):
    """Probabilities at opening and after every trade, oldest first."""
    session = get_session()
    q = access.viewable_question(session, _uid(), question_id)
    return jsonify(question_history(session, q))


@bp.get(f"/questions/{QID}/positions")
def positions(question_id: int):
    """The caller's shares of each outcome."""
    user = _user()
    session = get_session()
    q = access.get_question(session, question_id)
    member = access.require_member(session, user.id, session.get(Competition, q.competition_id))
    rows = reads.positions(session, member, q)
    for row in rows:
        for k in ("shares", "spent", "value"):
            row[k] = to_float(row[k])
    return jsonify(rows)


def _order(s: Session, user_id: int, question_id: int) -> tuple[trading.Order, trading.Market]:
    """Lock the wallet, then the question (trading.open_market); check the body.

    404/403 from what the caller may touch come before 422 from the fields,
    and a well-formed outcome that is not this question's is a 404 too.
    The market read here is handed to the trade, which does not read it again.
    """
    market = trading.open_market(s, user_id, question_id)
    body = _body()
    outcome = _id_field(body.get("outcome"), "outcome", "outcome is an outcome's id.")
    if outcome not in {o.id for o in market.outcomes}:
        raise NotFound("No such outcome for this question.")
    order = trading.parse_order(
        outcome_id=outcome,
        spend=_number_field(body, "spend"),
        sell=_number_field(body, "sell"),
        to_probability=_number_field(body, "to_probability"),
        max_spend=_number_field(body, "max_spend"),
    )
    return order, market


@bp.post(f"/questions/{QID}/quote")
def quote(question_id: int):
    """What a trade would do now; changes nothing."""
    user = _user()
    with get_db().session() as s:
        order, market = _order(s, user.id, question_id)
        qt = trading.quote(
            session=s, user_id=user.id, question_id=question_id, order=order, market=market
        )
        s.rollback()
    k = qt.outcome
    return jsonify(
        {
            "outcome": order.outcome_id,
            "shares": to_float(qt.shares),
            "cost": to_float(qt.cost),
            "probability_before": qt.probabilities_before[k],
            "probability_after": qt.probabilities_after[k],
            "capped": qt.capped,
        }
    )


@bp.post(f"/questions/{QID}/trades")
@limiter.limit(_trade_limit, override_defaults=False)
def trade(question_id: int):
    """Buy or sell; a repeated Idempotency-Key answers the first trade again."""
    user = _user()
    key = request.headers.get("Idempotency-Key")

    def use_case(s: Session) -> dict:
        order, market = _order(s, user.id, question_id)
        result = trading.trade(
            session=s,
            user_id=user.id,
            question_id=question_id,
            order=order,
            idempotency_key=key,
            market=market,
        )
        return _trade_json(result)

    return jsonify(transaction(use_case, retry_integrity=True)), 201


@bp.post(f"/questions/{QID}/resolution")
def resolve(question_id: int):
    """A moderator resolves the question to an outcome, or cancels it (N/A)."""
    user = _user()
    body = _body()

    def use_case(s: Session) -> dict:
        q = access.get_question(s, question_id, lock=True)
        access.require_moderator(s, user.id, q.competition_id)
        cancel = body.get("cancel")
        if cancel is not None and cancel is not True and cancel is not False:
            raise Invalid("cancel is true or absent.", field="cancel")
        if cancel is True:
            if body.get("outcome") is not None:
                raise Invalid("Give an outcome or cancel, not both.", field="outcome")
            resolution.cancel(session=s, user_id=user.id, question_id=q.id, note=body.get("note"))
        else:
            outcome = _id_field(
                body.get("outcome"), "outcome", "Give the winning outcome's id, or cancel: true."
            )
            resolution.resolve(
                session=s,
                user_id=user.id,
                question_id=q.id,
                outcome_id=outcome,
                note=body.get("note"),
                source_url=body.get("source_url"),
            )
        return reads.question_json(s, q)

    return jsonify(transaction(use_case))


@bp.delete(f"/questions/{QID}/resolution")
def undo(question_id: int):
    """A moderator undoes a resolution or cancellation: payouts reversed, back to closed."""
    user = _user()
    note = _body().get("note")

    def use_case(s: Session) -> dict:
        q = resolution.undo(session=s, user_id=user.id, question_id=question_id, note=note)
        return reads.question_json(s, q)

    return jsonify(transaction(use_case))


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API."""
    from forecast.web.openapi import document

    return jsonify(document())
