"""Net worth and the leaderboard: every member's balance plus the liquidation value of
their open positions (DESIGN.md, Scoring), ranked in one place.
"""

from __future__ import annotations

from array import array
from datetime import datetime
from itertools import groupby
from typing import NamedTuple

from sqlalchemy import bindparam, func, select
from sqlmodel import Session

from forecast.cache import cached
from forecast.market.lmsr import liquidation_values
from forecast.market.money import to_float
from forecast.models import (
    Competition,
    LedgerEntry,
    Membership,
    ModeratorAction,
    Outcome,
    Position,
    Question,
    Score,
    User,
    utcnow,
)
from forecast.services import competitions

_M, _P, _Q, _O = (t.__table__.c for t in (Membership, Position, Question, Outcome))
_L = LedgerEntry.__table__.c


class Standing(NamedTuple):
    """One member's line on a leaderboard."""

    rank: int
    username: str
    user_id: int
    membership_id: int
    net_worth: int
    balance: int
    profit: int
    brier: float | None
    scored: int
    traded: int
    trades: int
    last_trade_at: datetime | None


class Standings(list):
    """Standing rows in rank order.  ``as_of``: when they were computed (UTC), or when
    the competition ended for ``final`` standings.  ``version``: what they were computed
    at (:func:`_version`), for what is cached with them (the leaderboard's rows)."""

    def __init__(self, rows: list[Standing], as_of: datetime, *, final: bool, version=None):
        super().__init__(rows)
        self.as_of = as_of
        self.final = final
        self.version = version

    def of_user(self, user_id: int) -> Standing | None:
        """The user's line, if the user is a member."""
        return next((s for s in self if s.user_id == user_id), None)


def leaderboard(session: Session, comp: Competition, *, by: str = "net_worth") -> Standings:
    """The competition's standings, by net worth (highest first) or mean Brier (lowest first).

    Ties go to whoever got there first: the member whose last trade is
    earlier (a member who never traded counts from when they joined), then
    the earlier member.  Net worth is the balance plus each open position's
    liquidation value (:func:`open_values`).  A competition that has ended
    is ranked as it stood at its end.

    Kept in the app's cache at :func:`_version`, which changes whenever a
    standing can.
    """
    ended = competitions.ended_at(comp)
    version = _version(session, comp, ended)
    return cached(
        ("standings", comp.id, by),
        lambda: _rank(session, comp, by, ended, version),
        version=version,
    )


def _version(session: Session, comp: Competition, ended: datetime | None) -> tuple:
    """What the standings depend on, in one small read.

    Points and positions move in three ways only: a trade adds one to its
    question's trade_count (the competition's trades are their sum), a join
    adds one to the competition's member_count (the starting grant), and a
    resolution, cancellation or undo writes a moderator action.  Counts, not
    newest ids: transactions commit out of id order.  The standings of a
    competition that has ended are those at its end, and stay so.
    """
    if ended is not None:
        return ("final", ended)
    row = session.execute(_VERSION, {"cid": comp.id}).one()
    return (*row, comp.starting_balance)


_C = Competition.__table__.c
_VERSION = select(
    select(_C.member_count).where(_C.id == bindparam("cid")).scalar_subquery(),
    select(func.coalesce(func.sum(_Q.trade_count), 0))
    .where(_Q.competition_id == bindparam("cid"))
    .scalar_subquery(),
    select(func.count())
    .where(ModeratorAction.__table__.c.competition_id == bindparam("cid"))
    .scalar_subquery(),
)


def _rank(
    session: Session, comp: Competition, by: str, ended: datetime | None, version: tuple
) -> Standings:
    """Every member's line, ranked; with ``ended``, as the competition stood then.

    As of an end, the points that moved after it (payouts, refunds and
    reversals of later resolutions) are taken back out of each balance, the
    questions settled after it are valued as they stood (nobody traded them
    since), and only the questions resolved by then are scored.
    """
    values = open_values(session, comp, as_of=ended)
    scores = (
        select(Score.membership_id, func.avg(Score.brier), func.count())
        .join(Membership, Membership.id == Score.membership_id)
        .where(Membership.competition_id == comp.id)
        .group_by(Score.membership_id)
    )
    later: dict[int, int] = {}
    if ended is not None:
        scores = scores.join(Question, Question.id == Score.question_id).where(
            Question.resolved_at <= ended
        )
        later = dict(
            session.execute(
                select(_L.membership_id, func.sum(_L.amount))
                .where(
                    _L.competition_id == comp.id,
                    _L.membership_id.is_not(None),
                    _L.created_at > ended,
                )
                .group_by(_L.membership_id)
            ).all()
        )
    briers = {mid: (float(avg), int(n)) for mid, avg, n in session.execute(scores)}
    members = session.execute(
        select(
            _M.id,
            _M.user_id,
            _M.balance,
            _M.trade_count,
            func.coalesce(_M.last_trade_at, _M.joined_at),
            _M.questions_traded,
            User.__table__.c.username,
        )
        .join(User.__table__, User.__table__.c.id == _M.user_id)
        # Off the board: members an organiser removed, and organisers who do not play.
        .where(_M.competition_id == comp.id, _M.plays.is_(True), _M.removed_at.is_(None))
    ).all()
    lines = []
    for mid, user_id, balance, trades, since, traded, username in members:
        balance -= int(later.get(mid, 0))
        net = balance + values.get(mid, 0)
        brier, scored = briers.get(mid, (None, 0))
        start = comp.starting_balance
        line = (username, user_id, mid, net, balance, net - start, brier, scored, traded, trades)
        lines.append((*line, since))
    if by == "brier":
        lines.sort(key=lambda s: (s[6] is None, s[6] or 0.0, s[-1], s[2]))
    else:
        lines.sort(key=lambda s: (-s[3], s[-1], s[2]))
    rows = [Standing(k, *line) for k, line in enumerate(lines, 1)]
    return Standings(rows, ended or utcnow(), final=ended is not None, version=version)


def standing_json(s: Standing) -> dict:
    """A leaderboard line in the API's shape (API.md)."""
    return {
        "rank": s.rank,
        "username": s.username,
        "net_worth": to_float(s.net_worth),
        "balance": to_float(s.balance),
        "profit": to_float(s.profit),
        "brier": s.brier,
        "scored_questions": s.scored,
        "questions_traded": s.traded,
        "trades": s.trades,
    }


def member_net_worth(session: Session, member: Membership) -> int:
    """A member's balance plus the liquidation value of their open positions (units)."""
    comp = session.get(Competition, member.competition_id)
    return member.balance + open_values(session, comp, member_id=member.id).get(member.id, 0)


class _Market(NamedTuple):
    trade_count: int
    liquidity: int
    outcome_ids: tuple[int, ...]
    q: tuple[int, ...]


def _unsettled(session: Session, comp: Competition, as_of: datetime | None) -> dict[int, _Market]:
    """The competition's open and closed questions' markets, by question id.

    With ``as_of`` (a competition's end), also the questions resolved or
    cancelled after it: they were still open then.
    """
    unsettled = _Q.status.in_(("open", "closed"))
    if as_of is not None:
        unsettled = unsettled | (_Q.resolved_at > as_of)
    rows = session.execute(
        select(_Q.id, _Q.trade_count, _Q.liquidity, _O.id, _O.q)
        .join(Outcome.__table__, _O.question_id == _Q.id)
        .where(_Q.competition_id == comp.id, unsettled)
        .order_by(_Q.id, _O.position)
    ).all()
    markets = {}
    for qid, group in groupby(rows, key=lambda r: r[0]):
        outs = list(group)
        ids, qs = tuple(r[3] for r in outs), tuple(r[4] for r in outs)
        markets[qid] = _Market(outs[0][1], outs[0][2], ids, qs)
    return markets


def _values(market: _Market, rows) -> tuple[list[int], list[int]]:
    """(members, the liquidation value of each one's holding) from one question's
    (member, outcome, shares > 0) rows, ordered by member."""
    column = {oid: k for k, oid in enumerate(market.outcome_ids)}
    members: list[int] = []
    holdings: list[dict[int, int]] = []
    for mid, oid, shares in rows:
        if not members or members[-1] != mid:
            members.append(mid)
            holdings.append({})
        holdings[-1][column[oid]] = shares
    return members, liquidation_values(market.q, market.liquidity, holdings)


def _question_values(session: Session, question_id: int, market: _Market) -> tuple[array, array]:
    """Every holder of the question and their holding's liquidation value (units), as
    two arrays in member order; kept in the app's cache at the question's trade count
    (its positions and q move only in a trade)."""

    def compute() -> tuple[array, array]:
        rows = session.execute(
            select(_P.membership_id, _P.outcome_id, _P.shares)
            .where(_P.question_id == question_id, _P.shares > 0)
            .order_by(_P.membership_id)
        ).all()
        members, values = _values(market, rows)
        return array("q", members), array("q", values)

    version = (market.trade_count, market.liquidity)
    return cached(("liquidation", question_id), compute, version=version)


def open_values(
    session: Session,
    comp: Competition,
    *,
    member_id: int | None = None,
    as_of: datetime | None = None,
) -> dict[int, int]:
    """Each member's open positions at their liquidation value, in units: per question,
    what the market maker would pay now for all of the member's shares in it sold
    together (lmsr.liquidation_value, rounded down), summed over the questions.

    ``as_of``: the positions that were open at that moment (see _unsettled).
    ``member_id`` limits it to one member (read through their positions).
    """
    markets = _unsettled(session, comp, as_of)
    if member_id is not None:
        rows = session.execute(
            select(_P.question_id, _P.membership_id, _P.outcome_id, _P.shares)
            .where(_P.membership_id == member_id, _P.shares > 0)
            .order_by(_P.question_id)
        ).all()
        total = sum(
            sum(_values(markets[qid], [r[1:] for r in group])[1])
            for qid, group in groupby(rows, key=lambda r: r[0])
            if qid in markets
        )
        return {member_id: total} if total else {}
    held = [_question_values(session, qid, market) for qid, market in markets.items()]
    # Summed in a list indexed by membership id: a company's 10,000 members hold
    # hundreds of thousands of positions, and a list adds them twice as fast as a dict.
    sums = [0] * (1 + max((members[-1] for members, _ in held if members), default=0))
    for members, values in held:
        for mid, value in zip(members, values, strict=True):
            sums[mid] += value
    return {mid: v for mid, v in enumerate(sums) if v}
