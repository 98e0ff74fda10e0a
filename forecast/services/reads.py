"""What pages and the API show of questions, trades and a member's positions.  No writes.

Amounts are ints of money.UNIT; the JSON helpers turn them into numbers.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby

from sqlalchemy import select
from sqlmodel import Session

from forecast.market.lmsr import liquidation_values, prices
from forecast.market.money import to_float
from forecast.market.scoring import settlement_payout
from forecast.models import (
    Competition,
    Membership,
    Outcome,
    Position,
    Question,
    Trade,
    User,
    utcnow,
)
from forecast.services.questions import effective_status, outcomes_of
from forecast.services.standings import member_net_worth


def iso(dt: datetime | None) -> str | None:
    """A UTC time as the API writes it (ISO 8601 with "Z")."""
    return None if dt is None else dt.isoformat().replace("+00:00", "Z")


def probabilities(question: Question, outcomes: list) -> dict[int, float]:
    """Each outcome's probability now, by outcome id (``outcomes``: the question's, in order)."""
    return dict(
        zip(
            (o.id for o in outcomes),
            prices([o.q for o in outcomes], question.liquidity),
            strict=True,
        )
    )


def question_json(
    session: Session,
    question: Question,
    comp: Competition | None = None,
    outcomes: list[Outcome] | None = None,
) -> dict:
    """A question in the API's shape (API.md, "A question").

    ``outcomes`` may be passed when the caller read them already (a page of questions).
    """
    comp = comp or session.get(Competition, question.competition_id)
    outcomes = outcomes if outcomes is not None else outcomes_of(session, question.id)
    probs = probabilities(question, outcomes)
    resolution = None
    if question.status == "resolved":
        resolution = {
            "outcome": question.resolved_outcome_id,
            "note": question.resolution_note,
            "source_url": question.resolution_source_url,
            "at": iso(question.resolved_at),
        }
    elif question.status == "cancelled":
        resolution = {
            "cancel": True,
            "note": question.resolution_note,
            "at": iso(question.resolved_at),
        }
    return {
        "id": question.id,
        "competition": comp.slug,
        "title": question.title,
        "description": question.description,
        "resolution_criteria": question.resolution_criteria,
        "source": question.source,
        "kind": question.kind,
        "status": effective_status(question, competition=comp),
        "close_at": iso(question.close_at),
        "liquidity": to_float(question.liquidity),
        "trade_count": question.trade_count,
        "outcomes": [{"id": o.id, "label": o.label, "probability": probs[o.id]} for o in outcomes],
        "resolution": resolution,
    }


_QT = Question.__table__.c
_LIST_ORDER = {"open": 0, "closed": 1, "resolved": 2, "cancelled": 3}


def question_index(session: Session, comp: Competition) -> list:
    """The competition's questions as light rows, in competition_questions' order.

    Each row has id, status, close_at, created_at, trade_count, title,
    resolved_outcome_id and kind: what a list needs to find its page and
    what a cached card is keyed by, without building a Question per row.
    """
    rows = session.execute(
        select(
            _QT.id,
            _QT.status,
            _QT.close_at,
            _QT.created_at,
            _QT.trade_count,
            _QT.title,
            _QT.resolved_outcome_id,
            _QT.kind,
        ).where(_QT.competition_id == comp.id)
    ).all()
    return _in_list_order(rows)


def competition_questions(session: Session, comp: Competition) -> list[Question]:
    """Open questions closing soonest first, then closed, then resolved and cancelled."""
    return _in_list_order(
        session.scalars(select(Question).where(Question.competition_id == comp.id))
    )


def _in_list_order(questions) -> list:
    """Questions (or rows with status and close_at) in the order lists show them."""
    now = utcnow()
    return sorted(
        questions, key=lambda q: (_LIST_ORDER[effective_status(q, now)], q.close_at, q.id)
    )


def positions(session: Session, member: Membership, question: Question) -> list[dict]:
    """The member's shares of each of the question's outcomes, what they put in, and
    ``value``: what the holding fetches, in units.

    On an open or closed question the values add up to the liquidation value
    of the whole holding (lmsr.liquidation_value, the net worth's mark): each
    outcome's is what its shares add to that sale, taken in the outcomes'
    order.  On a resolved or cancelled question the values add up to what it
    paid (scoring.settlement_payout): 1 point a winning share, or the refund
    of what was put in.
    """
    outcomes = outcomes_of(session, question.id)
    held = {
        p.outcome_id: p
        for p in session.scalars(
            select(Position).where(
                Position.membership_id == member.id, Position.question_id == question.id
            )
        )
    }
    shares = [held[o.id].shares if o.id in held else 0 for o in outcomes]
    spent = [held[o.id].spent if o.id in held else 0 for o in outcomes]
    if question.status in ("resolved", "cancelled"):  # each outcome's part of what it paid
        values = [
            settlement_payout(question.status, question.resolved_outcome_id, {o.id: s}, p)
            for o, s, p in zip(outcomes, shares, spent, strict=True)
        ]
    else:
        values = _shares_of_a_sale([o.q for o in outcomes], question.liquidity, shares)
    return [
        {"outcome": o.id, "label": o.label, "shares": s, "spent": p, "value": v}
        for o, s, p, v in zip(outcomes, shares, spent, values, strict=True)
    ]


def _shares_of_a_sale(q: list[int], b: int, shares: list[int]) -> list[int]:
    """Each outcome's part of the liquidation value of ``shares``: the value of the
    holding up to and including it, less the value of the holding before it."""
    upto = [{j: s for j, s in enumerate(shares[: k + 1]) if s > 0} for k in range(len(shares))]
    totals = liquidation_values(q, b, upto)
    return [total - before for total, before in zip(totals, [0, *totals[:-1]], strict=True)]


RECENT_TRADES = 20
_T, _U = Trade.__table__.c, User.__table__.c


def recent_trades(
    session: Session, question: Question, *, labels: dict[int, str], after: int = 0
) -> list[dict]:
    """The question's latest RECENT_TRADES trades, newest first, with who traded which
    outcome (``labels``: the question's outcomes' labels by id, which the caller has read).
    ``after``: only trades with a greater id (those since a list read before: trades on
    a question are serialized by its lock, so their ids grow in commit order)."""
    stmt = (
        select(
            _T.id, _T.created_at, _T.outcome_id, _T.shares, _T.cost, _T.probabilities, _U.username
        )
        .join(User.__table__, _U.id == _T.user_id)
        .where(_T.question_id == question.id)
        .order_by(_T.id.desc())
        .limit(RECENT_TRADES)
    )
    if after:
        stmt = stmt.where(_T.id > after)
    return [
        {
            "id": tid,
            "at": at,
            "username": username,
            "outcome": labels.get(oid, "?"),
            "outcome_id": oid,
            "shares": shares,
            "cost": cost,
            "probability": float(probs.get(str(oid), 0.0)),
        }
        for tid, at, oid, shares, cost, probs, username in session.execute(stmt)
    ]


def portfolio(session: Session, member: Membership) -> dict:
    """A member's balance, net worth, open positions and results of settled questions.

    Open rows are one per outcome held (shares > 0) on an open or closed
    question; ``value`` is that outcome's part of the holding's liquidation
    value (see :func:`positions`), so the rows of a question add up to what
    net worth counts for it.  A settled row is one per resolved or cancelled
    question the member traded: ``payout`` is what it paid (winning shares,
    or the refund on a cancel) and ``profit`` is payout minus the points put in.
    """
    held = list(
        session.execute(
            select(Position, Question, Outcome)
            .join(Question, Question.id == Position.question_id)
            .join(Outcome, Outcome.id == Position.outcome_id)
            .where(Position.membership_id == member.id)
            .order_by(Question.close_at, Question.id, Outcome.position)
        )
    )
    open_rows, settled = [], {}
    open_held = [row for row in held if row[1].status in ("open", "closed")]
    for _, group in groupby(open_held, key=lambda row: row[1].id):
        group = list(group)
        question = group[0][1]
        outcomes = outcomes_of(session, question.id)
        mine = {pos.outcome_id: pos for pos, _, _ in group}
        shares = [mine[o.id].shares if o.id in mine else 0 for o in outcomes]
        values = _shares_of_a_sale([o.q for o in outcomes], question.liquidity, shares)
        probs = probabilities(question, outcomes)
        for o, value in zip(outcomes, values, strict=True):
            pos = mine.get(o.id)
            if pos is None or pos.shares <= 0:
                continue
            open_rows.append(
                {
                    "question_id": question.id,
                    "title": question.title,
                    "status": effective_status(question),
                    "close_at": question.close_at,
                    "outcome": o.label,
                    "probability": probs[o.id],
                    "shares": pos.shares,
                    "spent": pos.spent,
                    "value": value,
                    "profit": value - pos.spent,
                }
            )
    for pos, question, outcome in held:
        if question.status in ("open", "closed"):
            continue
        row = settled.setdefault(
            question.id,
            {
                "question_id": question.id,
                "title": question.title,
                "status": question.status,
                "winner": None,
                "spent": 0,
                "payout": 0,
                "shares": {},
                "resolved_outcome_id": question.resolved_outcome_id,
            },
        )
        row["spent"] += pos.spent
        row["shares"][outcome.id] = pos.shares
        if question.status == "resolved" and outcome.id == question.resolved_outcome_id:
            row["winner"] = outcome.label
    for row in settled.values():
        row["payout"] = settlement_payout(
            row["status"], row.pop("resolved_outcome_id"), row.pop("shares"), row["spent"]
        )
        if row["status"] == "resolved" and row["winner"] is None:
            question = session.get(Question, row["question_id"])
            winner = session.get(Outcome, question.resolved_outcome_id)
            row["winner"] = winner.label if winner else ""
        row["profit"] = row["payout"] - row["spent"]
    return {
        "balance": member.balance,
        "net_worth": member_net_worth(session, member),  # the leaderboard's number
        "open": open_rows,
        "settled": sorted(settled.values(), key=lambda r: r["question_id"], reverse=True),
    }
