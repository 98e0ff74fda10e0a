"""Exports for moderators: the leaderboard as CSV for grading."""

from __future__ import annotations

import csv
import io

from sqlmodel import Session

from forecast.market.money import from_units
from forecast.models import Competition
from forecast.services import access, standings

CSV_HEADER = [
    "rank",
    "username",
    "net_worth",
    "profit",
    "balance",
    "brier",
    "questions_scored",
    "questions_traded",
    "trades",
]


def leaderboard_csv(
    *, session: Session, user_id: int, competition: Competition, by: str = "net_worth"
) -> str:
    """One header row and one row per member; plain numbers (points to 4 places), no units.

    Moderators only (Forbidden).
    """
    access.require_moderator(session, user_id, competition.id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for s in standings.leaderboard(session, competition, by=by):
        writer.writerow(
            [
                s.rank,
                _safe(s.username),
                from_units(s.net_worth),
                from_units(s.profit),
                from_units(s.balance),
                "" if s.brier is None else f"{s.brier:.6f}",
                s.scored,
                s.traded,
                s.trades,
            ]
        )
    return out.getvalue()


def _safe(text: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet; usernames cannot, but be sure.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
