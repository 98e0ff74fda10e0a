"""What an action that cannot be taken back would do, for its confirmation page."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlmodel import Session

from forecast.models import Membership, Position, User


class Payout(NamedTuple):
    username: str
    points: int  # money units: one point a winning share


_P, _M, _U = Position.__table__, Membership.__table__, User.__table__
_HOLDERS = (
    select(_U.c.username, _P.c.shares)
    .join(_M, _M.c.id == _P.c.membership_id)
    .join(_U, _U.c.id == _M.c.user_id)
    .where(_P.c.outcome_id == bindparam("o"), _P.c.shares > 0)
    .order_by(_P.c.shares.desc(), _U.c.username)
)


def payouts_if(session: Session, outcome_id: int) -> list[Payout]:
    """Who resolving to ``outcome_id`` pays, and how much (each winning share pays one
    point, as resolution.resolve books it), most first."""
    return [Payout(name, shares) for name, shares in session.execute(_HOLDERS, {"o": outcome_id})]
