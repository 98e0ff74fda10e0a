"""A competition's members as its organisers see them (the roster), the marks organisers
put on them (removed, not playing), and the competition a player last used."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, func, select
from sqlmodel import Session

from forecast.models import Competition, Membership, User, UTCDateTime, utcnow
from forecast.services import access, competitions, standings
from forecast.services.errors import Conflict, Forbidden, NotFound


class RosterRow(NamedTuple):
    """One member on the roster."""

    membership_id: int
    user_id: int
    username: str
    role: str
    plays: bool
    removed_at: datetime | None
    balance: int
    net_worth: int
    trades: int
    last_active: datetime  # the last trade, or when they joined
    is_active: bool  # the account (a site admin can disable it)


_M, _U = Membership.__table__, User.__table__
_ROSTER = (
    select(
        _M.c.id,
        _M.c.user_id,
        _U.c.username,
        _M.c.role,
        _M.c.plays,
        _M.c.removed_at,
        _M.c.balance,
        _M.c.trade_count,
        func.coalesce(_M.c.last_trade_at, _M.c.joined_at, type_=UTCDateTime),
        _U.c.is_active,
    )
    .join(_U, _U.c.id == _M.c.user_id)
    .where(_M.c.competition_id == bindparam("c"))
)
_ROLE_ORDER = {"owner": 0, "moderator": 1, "player": 2}


def roster(*, session: Session, user_id: int, competition: Competition) -> list[RosterRow]:
    """Every member (removed ones too) with balance, net worth, trades and last activity:
    organisers first, then by username.  Net worth is the leaderboard's (standings.open_values).
    Raises Forbidden for anyone but the competition's moderators."""
    access.require_moderator(session, user_id, competition.id)
    values = standings.open_values(session, competition)
    rows = []
    for mid, uid, name, role, plays, removed, balance, trades, last, active in session.execute(
        _ROSTER, {"c": competition.id}
    ):
        worth = balance + values.get(mid, 0)
        rows.append(
            RosterRow(mid, uid, name, role, plays, removed, balance, worth, trades, last, active)
        )
    rows.sort(key=lambda r: (r.removed_at is not None, _ROLE_ORDER.get(r.role, 3), r.username))
    return rows


def _member_of(session: Session, competition: Competition, membership_id: object) -> Membership:
    if not isinstance(membership_id, int) or not 1 <= membership_id <= access.MAX_QUESTION_ID:
        raise NotFound("No such member.")
    m = session.get(Membership, membership_id)
    if m is None or m.competition_id != competition.id:
        raise NotFound("No such member.")
    return m


def _guarded(
    session: Session, user_id: int, competition: Competition, membership_id: object
) -> tuple[Membership, User]:
    """The member an organiser acts on, with its account; an owner only by an admin or
    itself, another moderator only by the owner or an admin."""
    access.require_moderator(session, user_id, competition.id)
    m = _member_of(session, competition, membership_id)
    actor = access.get_user(session, user_id)
    if not actor.is_admin and m.user_id != user_id:
        mine = access.membership(session, user_id, competition.id)
        if m.role == "owner" or (m.is_moderator and (mine is None or mine.role != "owner")):
            raise Forbidden("Only the owner can change another organiser.")
    return m, session.get(User, m.user_id)


def set_removed(
    *,
    session: Session,
    user_id: int,
    competition: Competition,
    membership_id: object,
    removed: bool,
) -> Membership:
    """Remove a member from the game (their trades stay; they leave the ranking and can no
    longer trade) or bring them back.  The owner cannot be removed."""
    m, target = _guarded(session, user_id, competition, membership_id)
    if removed and m.role == "owner":
        raise Conflict("The owner cannot be removed.")
    if removed == (m.removed_at is not None):
        return m
    m.removed_at = utcnow() if removed else None
    if removed and m.role == "moderator":
        m.role = "player"  # a removed member moderates nothing
    session.add(m)
    competitions.log_action(
        session,
        competition.id,
        user_id,
        "remove_member" if removed else "restore_member",
        detail={"user": target.username},
    )
    return m


def set_plays(
    *, session: Session, user_id: int, competition: Competition, membership_id: object, plays: bool
) -> Membership:
    """Mark a member as playing, or as a non-playing organiser (off the leaderboard)."""
    m, target = _guarded(session, user_id, competition, membership_id)
    if m.removed_at is not None:
        raise Conflict(f"{target.username} was removed; bring them back first.")
    if m.plays == plays:
        return m
    m.plays = plays
    session.add(m)
    competitions.log_action(
        session,
        competition.id,
        user_id,
        "set_playing" if plays else "set_not_playing",
        detail={"user": target.username},
    )
    return m


def last_used(rows: list[tuple[Competition, Membership]]) -> Competition | None:
    """Of a player's competitions (competitions.member_competitions), the one they used
    last: where they last traded, or joined, whichever is later; removed ones never."""
    kept = [(c, m) for c, m in rows if m.removed_at is None]
    if not kept:
        return None
    return max(kept, key=lambda r: (r[1].last_trade_at or r[1].joined_at, r[1].id))[0]
