"""The projector view's read (a classroom wall): who may see it, the question that moved
last, and the latest trades, in a few indexed statements at any size."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Select, bindparam, func, literal_column, select, union_all
from sqlmodel import Session

from forecast.models import Competition, Outcome, Question, Trade, User
from forecast.services import access, competitions
from forecast.services.errors import NotFound

TICKER = 8  # trades the ticker shows, newest first
# Written into the statements, not bound: PostgreSQL keeps one plan for every value
# only when LIMIT is known (see reads.RECENT_TRADES).
_LIMIT = literal_column(str(TICKER))

_T, _Q, _U, _O = Trade.__table__, Question.__table__, User.__table__, Outcome.__table__

# Each question of the competition with its newest trade's id: one probe of
# ix_trade_question_id_id per question, however many trades there are.
_LAST_TRADE = select(func.max(_T.c.id)).where(_T.c.question_id == _Q.c.id).scalar_subquery()
_MOVED = (
    select(_Q.c.id, _LAST_TRADE.label("last"))
    .where(_Q.c.competition_id == bindparam("c"), _Q.c.trade_count > 0)
    .order_by(_LAST_TRADE.desc())
    .limit(_LIMIT)
)


def _ticker_statement(n: int) -> Select:
    """The newest TICKER trades of ``n`` questions (bound as q0..q{n-1}): each question's
    newest from its index, then the TICKER newest of those, with who and what."""
    arms = [
        select(_T.c.id)
        .where(_T.c.question_id == bindparam(f"q{k}"))
        .order_by(_T.c.id.desc())
        .limit(_LIMIT)
        .subquery()
        .select()
        for k in range(n)
    ]
    ids = union_all(*arms).subquery() if n > 1 else arms[0].subquery()
    return (
        select(
            _T.c.id,
            _T.c.created_at,
            _T.c.question_id,
            _T.c.shares,
            _T.c.cost,
            _T.c.probabilities,
            _T.c.outcome_id,
            _U.c.username,
            _O.c.label,
            _Q.c.title,
        )
        .join(ids, ids.c.id == _T.c.id)
        .join(_U, _U.c.id == _T.c.user_id)
        .join(_O, _O.c.id == _T.c.outcome_id)
        .join(_Q, _Q.c.id == _T.c.question_id)
        .order_by(_T.c.id.desc())
        .limit(_LIMIT)
    )


_TICKERS = {n: _ticker_statement(n) for n in range(1, TICKER + 1)}


class Tick(NamedTuple):
    """One trade on the ticker."""

    id: int
    at: datetime
    question_id: int
    shares: int
    cost: int
    probability: float  # the traded outcome's, right after the trade
    username: str
    outcome: str
    title: str


def latest_trades(session: Session, competition_id: int) -> list[Tick]:
    """The competition's TICKER newest trades, newest first (two statements: the
    questions traded last, then their newest trades)."""
    moved = session.execute(_MOVED, {"c": competition_id}).all()
    if not moved:
        return []
    params = {f"q{k}": qid for k, (qid, _) in enumerate(moved)}
    rows = session.execute(_TICKERS[len(moved)], params).all()
    return [
        Tick(tid, at, qid, shares, cost, float(probs.get(str(oid), 0.0)), user, label, title)
        for tid, at, qid, shares, cost, probs, oid, user, label, title in rows
    ]


def can_view(
    session: Session, user_id: int | None, comp: Competition, token: object = None
) -> bool:
    """Who sees a competition's projector view: whoever may view the competition
    (anyone for a listed one), and anyone holding its current view link."""
    return access.can_view(session, user_id, comp) or token_matches(comp, token)


def token_matches(comp: Competition, token: object) -> bool:
    """True when ``token`` is the competition's current view-link token."""
    if not comp.view_token or not isinstance(token, str) or not token.isascii():
        return False
    return secrets.compare_digest(token, comp.view_token)


def require_view(
    session: Session, user_id: int | None, comp: Competition, token: object = None
) -> None:
    if not can_view(session, user_id, comp, token):
        raise NotFound("No such competition.")  # a private competition's name does not leak


def shows_join(
    session: Session, user_id: int | None, comp: Competition, token: object = None
) -> bool:
    """Whether the view shows the join link and its code: to the competition's
    moderators and through the view link (the organiser's wall), and always for the
    public competition, which needs no code.  A passer-by of a listed competition
    sees the standings, not the code."""
    return (
        comp.slug == competitions.PUBLIC_SLUG
        or token_matches(comp, token)
        or access.is_moderator(session, user_id, comp.id)
    )


def rotate_view_token(*, session: Session, user_id: int, slug: str) -> str:
    """Give the competition a new view link (moderators); the old link stops working."""
    comp = access.get_competition(session, slug)
    access.require_moderator(session, user_id, comp.id)
    comp.view_token = secrets.token_urlsafe(24)
    session.add(comp)
    competitions.log_action(session, comp.id, user_id, "rotate_view_link")
    return comp.view_token
