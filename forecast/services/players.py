"""A player's page within a competition: what anyone who may see the competition may
know of them (their resolved questions, Brier scores and calibration), never their
positions in open questions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from forecast.market.scoring import Bucket
from forecast.models import Competition, Membership
from forecast.services import access, accuracy, reads, standings
from forecast.services.accounts import find_user
from forecast.services.errors import NotFound


@dataclass(frozen=True)
class PlayerPage:
    username: str
    role: str
    plays: bool
    removed: bool
    standing: standings.Standing | None  # None: off the leaderboard
    history: list[accuracy.ScoredQuestion]
    mean_brier: float | None
    buckets: list[Bucket]
    settled: list[dict]  # resolved and cancelled questions traded, with payout and profit


def player_page(
    *, session: Session, viewer_id: int | None, competition: Competition, username: object
) -> PlayerPage:
    """The page of ``username`` in ``competition``.  NotFound for a competition the viewer
    may not see, or a name that is not a member of it."""
    access.require_view(session, viewer_id, competition)
    if not isinstance(username, str):
        raise NotFound("No such player.")
    try:
        user = find_user(session, username)
    except NotFound:
        raise NotFound("No such player in this competition.") from None
    member: Membership | None = access.membership(session, user.id, competition.id)
    if member is None:
        raise NotFound("No such player in this competition.")
    board = standings.leaderboard(session, competition)
    history = accuracy.brier_history(session, member)
    settled = reads.portfolio(session, member)["settled"]  # its open rows stay private
    return PlayerPage(
        username=user.username,
        role=member.role,
        plays=member.plays,
        removed=member.removed_at is not None,
        standing=board.of_user(user.id),
        history=history,
        mean_brier=accuracy.mean_brier(history),
        buckets=accuracy.member_calibration(session, member),
        settled=settled,
    )
