"""The ledger invariant, checked from the rows themselves.

For each competition:
1. every member's cached balance equals the sum of their ledger rows;
2. every question's market-maker cash equals the sum of its ledger rows;
3. the ledger's wallet and market rows other than grants sum to zero
   (every movement has its counterpart);
4. the sum of member balances plus market makers' cash equals the points
   granted (so nothing was minted or lost);
5. each trade's cost appears once in the ledger (wallet side) with the
   opposite sign, and each position equals the sum of its trades;
6. each outcome's shares sold (q - q0) equal the players' positions.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func
from sqlmodel import Session, select

from forecast.market.money import fmt
from forecast.models import Competition, LedgerEntry, Membership, Outcome, Position, Question, Trade


def audit(*, session: Session) -> list[str]:
    """Every broken invariant, as a sentence; an empty list when the books balance."""
    problems: list[str] = []
    for comp in session.exec(select(Competition).order_by(Competition.id)):
        problems += _audit_competition(session, comp)
    return problems


def _sums(session: Session, group_col, *where) -> dict:
    rows = session.exec(
        select(group_col, func.sum(LedgerEntry.amount)).where(*where).group_by(group_col)
    )
    return {k: int(v or 0) for k, v in rows}


def _audit_competition(session: Session, comp: Competition) -> list[str]:
    out: list[str] = []
    tag = f"[{comp.slug}]"
    in_comp = LedgerEntry.competition_id == comp.id
    wallet_sums = _sums(
        session, LedgerEntry.membership_id, in_comp, LedgerEntry.membership_id.is_not(None)
    )
    market_sums = _sums(
        session, LedgerEntry.question_id, in_comp, LedgerEntry.question_id.is_not(None)
    )
    granted = int(
        session.exec(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                in_comp, LedgerEntry.kind == "grant"
            )
        ).one()
    )
    non_grant = int(
        session.exec(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                in_comp, LedgerEntry.kind != "grant"
            )
        ).one()
    )
    members = list(session.exec(select(Membership).where(Membership.competition_id == comp.id)))
    questions = list(session.exec(select(Question).where(Question.competition_id == comp.id)))
    for m in members:
        if m.balance != wallet_sums.get(m.id, 0):
            out.append(
                f"{tag} member {m.id}: balance {fmt(m.balance, 4)} "
                f"but ledger says {fmt(wallet_sums.get(m.id, 0), 4)}"
            )
    for q in questions:
        if q.mm_cash != market_sums.get(q.id, 0):
            out.append(
                f"{tag} question {q.id}: market cash {fmt(q.mm_cash, 4)} "
                f"but ledger says {fmt(market_sums.get(q.id, 0), 4)}"
            )
    if non_grant != 0:
        out.append(
            f"{tag} ledger movements do not sum to zero: {fmt(non_grant, 4)} points unaccounted"
        )
    total = sum(m.balance for m in members) + sum(q.mm_cash for q in questions)
    if total != granted:
        out.append(
            f"{tag} balances plus market makers {fmt(total, 4)} != points granted {fmt(granted, 4)}"
        )
    q_ids = [q.id for q in questions]
    if q_ids:
        out += _audit_trades(session, tag, q_ids)
    return out


def _audit_trades(session: Session, tag: str, q_ids: list[int]) -> list[str]:
    out: list[str] = []
    trade_cost = {
        tid: cost
        for tid, cost in session.exec(
            select(Trade.id, Trade.cost).where(Trade.question_id.in_(q_ids))
        )
    }
    ledger_by_trade = {
        tid: int(s)
        for tid, s in session.exec(
            select(LedgerEntry.trade_id, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.trade_id.is_not(None), LedgerEntry.membership_id.is_not(None))
            .where(LedgerEntry.question_id.is_(None), LedgerEntry.kind == "trade")
            .group_by(LedgerEntry.trade_id)
        )
    }
    for tid, cost in trade_cost.items():
        if ledger_by_trade.get(tid, 0) != -cost:
            out.append(f"{tag} trade {tid}: cost {fmt(cost, 4)} not booked once in the ledger")
    per_outcome: dict[int, int] = defaultdict(int)
    per_pos: dict[tuple[int, int], tuple[int, int]] = {}
    for mid, oid, shares, cost in session.exec(
        select(Trade.membership_id, Trade.outcome_id, func.sum(Trade.shares), func.sum(Trade.cost))
        .where(Trade.question_id.in_(q_ids))
        .group_by(Trade.membership_id, Trade.outcome_id)
    ):
        per_pos[(mid, oid)] = (int(shares), int(cost))
    for pos in session.exec(select(Position).where(Position.question_id.in_(q_ids))):
        want = per_pos.pop((pos.membership_id, pos.outcome_id), (0, 0))
        if (pos.shares, pos.spent) != want:
            out.append(f"{tag} position {pos.id}: shares/spent do not match its trades")
        if pos.shares < 0:
            out.append(f"{tag} position {pos.id}: negative shares")
        per_outcome[pos.outcome_id] += pos.shares
    for (mid, oid), _ in per_pos.items():
        out.append(f"{tag} member {mid} traded outcome {oid} but has no position row")
    for o in session.exec(select(Outcome).where(Outcome.question_id.in_(q_ids))):
        if o.q - o.q0 != per_outcome.get(o.id, 0):
            out.append(
                f"{tag} outcome {o.id}: market sold {fmt(o.q - o.q0, 4)} shares, "
                f"players hold {fmt(per_outcome.get(o.id, 0), 4)}"
            )
    return out
