"""Read models: what pages and the API show.  No writes here.

Amounts are ints of money.UNIT; the JSON helpers turn them into numbers.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from array import array
from bisect import bisect_left
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import groupby, repeat
from operator import add, mul, sub
from typing import NamedTuple, overload

from sqlalchemy import TextClause, bindparam, func, literal_column, text
from sqlmodel import Session, select

from forecast import malloc
from forecast.db import Prepared
from forecast.market.lmsr import prices
from forecast.market.money import to_float
from forecast.market.scoring import settlement_payout
from forecast.models import (
    Competition,
    LedgerEntry,
    Membership,
    Outcome,
    Position,
    Question,
    Score,
    Trade,
    User,
    UTCDateTime,
    utcnow,
)
from forecast.services import competitions, foreground
from forecast.services.questions import effective_status, outcomes_of


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat().replace("+00:00", "Z")


def probabilities(question: Question, outcomes: list[Outcome]) -> dict[int, float]:
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


def history(session: Session, question: Question, *, max_points: int | None = None) -> list[dict]:
    """Probabilities at opening, then after each trade, oldest first.

    With ``max_points`` (at least 3) a long history is sampled for a chart:
    the opening, the first trade at or after each of evenly spaced trade ids
    from the question's first trade to its last, and always the last trade.
    That reads ``max_points`` rows through the (question_id, id) index
    however many trades the question has.  Sampled histories are kept by
    this process (the last HISTORY_CACHE), keyed by the question's
    trade_count: trades are only ever added, so an unchanged count is an
    unchanged history.
    """
    if max_points is not None and (packed := _sampled(session, question, max_points)) is not None:
        return packed.points()
    opening, rows = _read_history(session, question, max_points)
    return [opening] + [{"at": iso(at), "probabilities": probs} for _, at, probs in rows]


def _read_history(session: Session, question: Question, max_points: int | None):
    """The opening point, and the (sampled) trades as (created_at, probabilities) rows."""
    outcomes = outcomes_of(session, question.id)
    opening = dict(
        zip(
            (str(o.id) for o in outcomes),
            prices([o.q0 for o in outcomes], question.liquidity),
            strict=True,
        )
    )
    stmt, trade_id = _HISTORY_ROWS, Trade.__table__.c.id
    if max_points is not None and question.trade_count >= max(max_points, 3):
        stmt = stmt.where(trade_id.in_(_sampled_trade_ids(session, question.id, max_points - 1)))
    rows = session.execute(stmt.order_by(trade_id), {"q": question.id}).all()
    return {"at": iso(question.created_at), "probabilities": opening}, rows


# A question's history: each trade's id, time and probabilities after it.
_HISTORY_ROWS = select(
    Trade.__table__.c.id, Trade.__table__.c.created_at, Trade.__table__.c.probabilities
).where(Trade.__table__.c.question_id == bindparam("q"))


def _sampled(
    session: Session, question: Question, max_points: int, newest: list[tuple] | None = None
) -> _PackedHistory | None:
    """The sampled history, packed and kept (None in the odd case it cannot be packed).

    A kept history that is a few trades behind is brought up to date by
    reading just the trades after its last one (trades on a question are
    serialized by its lock, so their ids grow in commit order) and thinning
    its older points when it runs over ``max_points``: one short read per
    trade, however long the question's history.  ``newest``: the question's
    latest trades as (id, created_at, probabilities), newest first, read at
    or after ``question`` (the recent trades a question page shows); when they
    reach back to the kept history's last trade, they are the trades after it,
    and nothing is read.
    """
    key = (str(session.get_bind().url), question.id, question.created_at, max_points)
    count = question.trade_count
    hit = _HISTORIES.get(key)
    if hit is not None:
        _HISTORIES.move_to_end(key)
        if hit.trade_count >= count:
            return hit
        if count - hit.trade_count <= max_points:
            rows = _since(newest, hit.last_id)
            if rows is None:
                rows = _HISTORY_SINCE.rows(session, {"q": question.id, "after": hit.last_id})
            grown = hit.extend(rows, max_points, count)
            if grown is not None:
                _HISTORIES[key] = grown
                return grown
    packed = _PackedHistory.pack(*_read_history(session, question, max_points), count)
    if packed is not None:
        _HISTORIES[key] = packed
        while len(_HISTORIES) > HISTORY_CACHE:
            _HISTORIES.popitem(last=False)
    return packed


def _since(newest: list[tuple] | None, last_id: int) -> list[tuple] | None:
    """The trades after ``last_id``, oldest first, if ``newest`` (the latest trades, newest
    first) holds them all: that is, if it reaches back to ``last_id`` or before."""
    if not newest or newest[-1][0] > last_id:
        return None
    return [row for row in reversed(newest) if row[0] > last_id]


# The trades after a kept history's last one (every view of a question traded since).
_HISTORY_SINCE = Prepared(
    _HISTORY_ROWS.where(Trade.__table__.c.id > bindparam("after")).order_by(Trade.__table__.c.id)
)


def history_columns(
    session: Session,
    question: Question,
    outcome_ids: list[int],
    *,
    max_points: int,
    newest: list[tuple] | None = None,
) -> tuple[datetime, list[float], list[list[float]]]:
    """The sampled history as a chart's columns: the opening time, each point's
    seconds after it (the opening's 0.0 first), and each outcome's probability at
    those points, one list per outcome in ``outcome_ids`` order.  ``newest``: see
    _sampled (recent_trades' ``row``s)."""
    keys = [str(i) for i in outcome_ids]
    packed = _sampled(session, question, max_points, newest)
    if packed is not None and all(k in packed.keys for k in keys):
        return packed.columns(keys)
    points = history(session, question, max_points=max_points)
    times = [datetime.fromisoformat(pt["at"].replace("Z", "+00:00")) for pt in points]
    return (
        times[0],
        [(t - times[0]).total_seconds() for t in times],
        [[pt["probabilities"].get(k, 0.0) for pt in points] for k in keys],
    )


def history_series(
    session: Session, question: Question, outcome_id: int, *, max_points: int
) -> list[float]:
    """One outcome's line from the sampled history (a sparkline), without building its points."""
    key = str(outcome_id)
    packed = _sampled(session, question, max_points)
    if packed is not None and key in packed.keys:
        return packed.series(key)
    # A point without this outcome (not one shape: a row written by hand) draws at 0, as
    # history_columns draws it, rather than failing the page.
    points = history(session, question, max_points=max_points)
    return [pt["probabilities"].get(key, 0.0) for pt in points]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _PackedHistory:
    """A sampled history in two flat arrays (a few KB, not thousands of small dicts)."""

    opening: dict
    keys: tuple[str, ...]
    micros: array  # each trade's time, microseconds since 1970 (exact)
    probs: array  # len(keys) probabilities per trade, in keys' order
    trade_count: int = 0  # the question's trade count it is up to date with
    last_id: int = 0  # the last trade it has read

    @classmethod
    def pack(cls, opening: dict, rows: list, trade_count: int = 0) -> _PackedHistory | None:
        keys = tuple(rows[0][2]) if rows else tuple(opening["probabilities"])
        micros, probs = array("q"), array("d")
        if not cls._append(keys, micros, probs, rows):
            return None
        return cls(opening, keys, micros, probs, trade_count, rows[-1][0] if rows else 0)

    @staticmethod
    def _append(keys: tuple, micros: array, probs: array, rows: list) -> bool:
        for _, at, p in rows:
            if tuple(p) != keys or not all(isinstance(v, float) for v in p.values()):
                return False  # not one shape: keep nothing rather than change anything
            micros.append((at - _EPOCH) // timedelta(microseconds=1))
            probs.extend(p.values())
        return True

    def extend(self, rows: list, max_points: int, trade_count: int) -> _PackedHistory | None:
        """A copy with ``rows`` (id, created_at, probabilities) appended, thinned to
        ``max_points`` by dropping every other older point (the first trade and the
        last stay); None if a row is of another shape."""
        micros, probs = array("q", self.micros), array("d", self.probs)
        if not self._append(self.keys, micros, probs, rows):
            return None
        n = len(self.keys)
        while len(micros) + 1 > max_points and len(micros) > 2:
            keep = [*range(0, len(micros) - 1, 2), len(micros) - 1]
            micros = array("q", (micros[j] for j in keep))
            probs = array("d", (probs[j * n + c] for j in keep for c in range(n)))
        last_id = rows[-1][0] if rows else self.last_id
        return _PackedHistory(self.opening, self.keys, micros, probs, trade_count, last_id)

    def columns(self, keys: list[str]) -> tuple[datetime, list[float], list[list[float]]]:
        """See history_columns: the opening time, seconds after it, a line per key."""
        start = datetime.fromisoformat(self.opening["at"].replace("Z", "+00:00"))
        us0 = (start - _EPOCH) // timedelta(microseconds=1)
        seconds = [0.0, *((us - us0) / 1e6 for us in self.micros)]  # as timedelta divides
        n, opening = len(self.keys), self.opening["probabilities"]
        return start, seconds, [[opening[k], *self.probs[self.keys.index(k) :: n]] for k in keys]

    def series(self, key: str) -> list[float]:
        """One outcome's probability at opening and after each sampled trade."""
        k, n = self.keys.index(key), len(self.keys)
        return [self.opening["probabilities"][key], *self.probs[k::n]]

    def points(self) -> list[dict]:
        n = len(self.keys)
        out = [self.opening]
        for k, us in enumerate(self.micros):
            at = _EPOCH + timedelta(microseconds=us)
            out.append(
                {
                    "at": iso(at),
                    "probabilities": dict(
                        zip(self.keys, self.probs[k * n : k * n + n], strict=True)
                    ),
                }
            )
        return out


_HISTORIES: OrderedDict[tuple, _PackedHistory] = OrderedDict()
HISTORY_CACHE = 512  # sampled histories kept per process (a chart's and a sparkline's each)


_PG_SEEK = text(
    "SELECT s.id FROM unnest(CAST(:xs AS BIGINT[])) AS x(v) CROSS JOIN LATERAL "
    "(SELECT id FROM trade WHERE question_id = :q AND id >= x.v ORDER BY id LIMIT 1) AS s"
)


@lru_cache(maxsize=16)
def _seek_sql(n: int) -> TextClause:
    """One statement, one index seek per target id: the question's first trade at or after it."""
    seek = "(SELECT id FROM trade WHERE question_id = :q AND id >= :x{k} ORDER BY id LIMIT 1)"
    return text("SELECT " + ", ".join(seek.format(k=k) for k in range(n)))


def _sampled_trade_ids(session: Session, question_id: int, n: int) -> list[int]:
    """About ``n`` of the question's trade ids spread evenly by id, the first and last included."""
    t = Trade.__table__
    # Both ends in one statement, each a subquery that SQLite and PostgreSQL answer from
    # the (question_id, id) index, with nothing bound but the question: with "LIMIT 1"
    # bound, PostgreSQL planned each end again on every read.  (Not one "SELECT min(id),
    # max(id)": for that SQLite scans every trade of the question.)
    mine = t.c.question_id == question_id
    ends = select(
        select(func.min(t.c.id)).where(mine).scalar_subquery(),
        select(func.max(t.c.id)).where(mine).scalar_subquery(),
    )
    first, last = session.execute(ends).one()
    if first is None or last is None:
        return []
    n = max(n, 2)
    targets = [first + (last - first) * k // (n - 1) for k in range(n - 1)]
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(_PG_SEEK, {"q": question_id, "xs": targets}).scalars().all()
    else:
        params = {f"x{k}": x for k, x in enumerate(targets)}
        found = session.execute(_seek_sql(len(targets)), {"q": question_id, **params}).one()
    return sorted({i for i in found if i is not None} | {last})


def question_index(session: Session, comp: Competition) -> list:
    """The competition's questions as light rows, in competition_questions' order.

    Each row has id, status, close_at, created_at, trade_count, title,
    resolved_outcome_id and kind: what a list needs to find its page and
    what a cached card is keyed by, without building a Question per row.
    """
    return _in_list_order(session.execute(_QUESTION_INDEX, {"c": comp.id}).all())


_QT = Question.__table__.c
_QUESTION_INDEX = select(
    _QT.id,
    _QT.status,
    _QT.close_at,
    _QT.created_at,
    _QT.trade_count,
    _QT.title,
    _QT.resolved_outcome_id,
    _QT.kind,
).where(_QT.competition_id == bindparam("c"))


def competition_questions(session: Session, comp: Competition) -> list[Question]:
    """Open questions closing soonest first, then closed, then resolved and cancelled."""
    return _in_list_order(session.exec(select(Question).where(Question.competition_id == comp.id)))


_LIST_ORDER = {"open": 0, "closed": 1, "resolved": 2, "cancelled": 3}


def _in_list_order(questions) -> list:
    """Questions (or rows with status and close_at) in the order lists show them."""
    now = utcnow()
    return sorted(
        questions, key=lambda q: (_LIST_ORDER[effective_status(q, now)], q.close_at, q.id)
    )


def _unsettled(session: Session, comp: Competition, as_of: datetime | None) -> dict:
    """The competition's open and closed questions: id -> (trade_count, {outcome id: price}).

    With ``as_of`` (a competition's end), also the questions resolved or
    cancelled after it: they were still open then, and nobody has traded
    them since, so their probabilities are the ones they had.
    """
    qt, ot = Question.__table__.c, Outcome.__table__.c
    unsettled = qt.status.in_(("open", "closed"))
    if as_of is not None:
        unsettled = unsettled | (qt.resolved_at > as_of)
    rows = session.execute(
        select(qt.id, qt.trade_count, qt.liquidity, ot.id, ot.q)
        .join(Outcome.__table__, ot.question_id == qt.id)
        .where(qt.competition_id == comp.id, unsettled)
        .order_by(qt.id, ot.position)
    ).all()
    found: dict[int, tuple[int, dict[int, float]]] = {}
    for qid, group in groupby(rows, key=lambda r: r[0]):
        outs = list(group)
        probs = prices([r[4] for r in outs], outs[0][2])
        found[qid] = (outs[0][1], dict(zip((r[3] for r in outs), probs, strict=True)))
    return found


def _mark(rows, price: dict[int, float]) -> dict[int, int]:
    """(member, outcome, shares) rows of one question, ordered by member then outcome:
    each member's holding marked at ``price``, rounded down."""
    value: dict[int, float] = {}
    for mid, oid, shares in rows:
        value[mid] = value.get(mid, 0.0) + shares * price[oid]
    return {mid: int(v) for mid, v in value.items()}


@dataclass
class _QuestionMarks:
    """One question's holders, what they hold and its value, as of its trade_count.

    ``members`` is sorted (membership ids, 4-byte ints: INTEGER columns);
    ``shares[k]`` holds outcome ``outcome_ids[k]``'s shares (outcome ids
    ascending, the order _mark adds them in) and
    ``values`` the holding's value, both in members' order.  Kept, so that
    after a trade only the members who traded since are read again.
    """

    question_id: int
    trade_count: int
    last_trade_id: int
    outcome_ids: tuple[int, ...]
    members: array
    shares: list[array]
    values: array

    def remark(self, price: dict[int, float]) -> array:
        """Every holding marked at ``price`` exactly as _mark does it: the same float
        additions in the same order, so kept and fresh marks agree to the unit.  (_mark
        starts from 0.0 and skips outcomes not held: 0.0 + x == x, and shares * p is
        0.0 for no shares, as held shares are never negative.)  The loops run in C
        (map over the columns), not a Python step per holder: a company's question
        has thousands of holders, and a burst of trades remarks every question."""
        ps = [price[oid] for oid in self.outcome_ids]
        total = map(mul, self.shares[0], repeat(ps[0]))
        for col, p in zip(self.shares[1:], ps[1:], strict=True):
            total = map(add, total, map(mul, col, repeat(p)))
        return array("q", map(int, total))


@dataclass
class _Marks:
    """A competition's kept marks: each unsettled question's, and their sum per member."""

    questions: dict[int, _QuestionMarks] = field(default_factory=dict)
    totals: dict[int, int] = field(default_factory=lambda: defaultdict(int))


_MARKS: OrderedDict[tuple, _Marks] = OrderedDict()
_MARKS_LOCK = threading.Lock()  # a view and a leaderboard being redone may both update them
_marks_wanted: set[int] = set()  # threads waiting for _MARKS_LOCK


@contextmanager
def _marks_lock() -> Iterator[None]:
    """Hold _MARKS_LOCK; while waiting for it, be counted in _marks_wanted."""
    me = threading.get_ident()
    _marks_wanted.add(me)
    foreground.wake()  # a refresh thread pausing while it holds the lock: on with it
    try:
        _MARKS_LOCK.acquire()
    finally:
        _marks_wanted.discard(me)
    try:
        yield
    finally:
        _MARKS_LOCK.release()


_P, _T = Position.__table__, Trade.__table__
_HOLDINGS = (
    select(_P.c.membership_id, _P.c.outcome_id, _P.c.shares)
    .where(_P.c.question_id == bindparam("q"), _P.c.shares > 0)
    .order_by(_P.c.membership_id, _P.c.outcome_id)
)
_LAST_TRADE = select(func.max(_T.c.id)).where(_T.c.question_id == bindparam("q"))
_TRADERS_SINCE = select(_T.c.id, _T.c.membership_id).where(
    _T.c.question_id == bindparam("q"), _T.c.id > bindparam("after")
)
# By (member, outcome) pairs, the unique index's own columns: by question, SQLite
# walked every holder of the question to find the few who traded.
_HOLDINGS_OF = select(_P.c.membership_id, _P.c.outcome_id, _P.c.shares).where(
    _P.c.membership_id.in_(bindparam("m", expanding=True)),
    _P.c.outcome_id.in_(bindparam("o", expanding=True)),
)


def _build_marks(session: Session, qid: int, trade_count: int, price: dict) -> _QuestionMarks:
    """A question's marks from its positions (its first time in this process)."""
    last = session.execute(_LAST_TRADE, {"q": qid}).scalar() or 0
    outcome_ids = tuple(sorted(price))
    column = {oid: k for k, oid in enumerate(outcome_ids)}
    members, shares = array("i"), [array("q") for _ in outcome_ids]
    for mid, oid, n in session.execute(_HOLDINGS, {"q": qid}).all():  # one fetch, not one a row
        if not members or members[-1] != mid:
            members.append(mid)
            for col in shares:
                col.append(0)
        shares[column[oid]][-1] = n
    marks = _QuestionMarks(qid, trade_count, last, outcome_ids, members, shares, array("q"))
    marks.values = marks.remark(price)
    return marks


def _update_marks(
    session: Session, marks: _QuestionMarks, trade_count: int, price: dict, totals: dict
) -> None:
    """Bring kept marks up to ``trade_count`` and move ``totals`` by the difference: read
    the positions of just the members who traded the question since (trades on a
    question are serialized by its lock, so their ids grow in commit order), then
    mark every holding at ``price``."""
    traded = session.execute(_TRADERS_SINCE, {"q": marks.question_id, "after": marks.last_trade_id})
    changed: set[int] = set()
    for tid, mid in traded:
        changed.add(mid)
        marks.last_trade_id = max(marks.last_trade_id, tid)
    old_members, old_values = marks.members, marks.values
    if changed:
        column = {oid: k for k, oid in enumerate(marks.outcome_ids)}
        held: dict[int, list[int]] = {mid: [0] * len(column) for mid in changed}
        ids = sorted(changed)
        for start in range(0, len(ids), 500):  # SQLite allows a few hundred parameters
            for mid, oid, n in session.execute(
                _HOLDINGS_OF, {"m": ids[start : start + 500], "o": list(marks.outcome_ids)}
            ):
                held[mid][column[oid]] = n
        for mid, row in held.items():
            k = bisect_left(marks.members, mid)
            if k == len(marks.members) or marks.members[k] != mid:
                if not any(row):
                    continue
                if marks.members is old_members:  # copy before the first insert
                    marks.members = array("i", old_members)
                    marks.shares = [array("q", col) for col in marks.shares]
                marks.members.insert(k, mid)
                for col in marks.shares:
                    col.insert(k, 0)
            for col, n in zip(marks.shares, row, strict=True):
                col[k] = n
    marks.trade_count = trade_count
    marks.values = marks.remark(price)
    if marks.members is old_members:  # the same holders, in the same order
        for mid, moved in zip(old_members, map(sub, marks.values, old_values), strict=True):
            if moved:
                totals[mid] += moved
    else:
        before = dict(zip(old_members, old_values, strict=True))
        for mid, new in zip(marks.members, marks.values, strict=True):
            if new != (old := before.get(mid, 0)):
                totals[mid] += new - old


def open_values(
    session: Session,
    comp: Competition,
    *,
    member_id: int | None = None,
    as_of: datetime | None = None,
) -> dict[int, int]:
    """Each member's open positions marked at the current probabilities, in units:
    each question's holding rounded down, summed over the questions.

    ``as_of``: the positions that were open at that moment (see _unsettled).
    ``member_id`` limits it to one member (their index, not every position).

    This process keeps each question's holdings, their marks and each
    member's sum of them.  When a question's trade_count has moved, it reads
    the positions of just the members who traded it since, marks every
    holding at the new probabilities (in memory) and moves the sums by the
    difference (integers, so exactly).  Nothing here grows with the number
    of trades, and a burst of trades costs reads of the traders' positions.
    """
    questions = _unsettled(session, comp, as_of)
    p = Position.__table__.c
    if member_id is not None:
        rows = session.execute(
            select(p.question_id, p.membership_id, p.outcome_id, p.shares)
            .where(p.membership_id == member_id, p.shares > 0)
            .order_by(p.question_id, p.outcome_id)
        ).all()
        total = 0
        for qid, group in groupby(rows, key=lambda r: r[0]):
            if qid in questions:
                total += sum(_mark((r[1:] for r in group), questions[qid][1]).values())
        return {member_id: total} if total else {}
    key = (str(session.get_bind().url), comp.id, comp.created_at, as_of)
    with _marks_lock():
        kept = _MARKS.get(key) or _Marks()
        _MARKS[key] = kept
        _MARKS.move_to_end(key)
        while len(_MARKS) > 8:
            _MARKS.popitem(last=False)
        totals = kept.totals
        for qid in [q for q in kept.questions if q not in questions]:  # settled since
            _add(totals, kept.questions.pop(qid), -1)
        for qid, (trade_count, price) in questions.items():
            marks = kept.questions.get(qid)
            if marks is not None and marks.trade_count == trade_count:
                continue
            if marks is None or marks.outcome_ids != tuple(sorted(price)):
                if marks is not None:
                    _add(totals, marks, -1)
                marks = kept.questions[qid] = _build_marks(session, qid, trade_count, price)
                _add(totals, marks, 1)
            else:
                _update_marks(session, marks, trade_count, price, totals)
            # In a refresh thread: a request being served goes first, unless it waits
            # for these marks (then they are finished as soon as can be).
            foreground.give_way(unless=_marks_wanted.__len__)
        return {mid: v for mid, v in totals.items() if v}


def _add(totals: dict[int, int], marks: _QuestionMarks, sign: int) -> None:
    for mid, v in zip(marks.members, marks.values, strict=True):
        totals[mid] += sign * v


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


class Standings:
    """Standings in rank order (a sequence of :class:`Standing`); ``as_of``: when they
    were computed (UTC), or when the competition ended for ``final`` standings.

    Kept as plain tuples and made into Standing rows only when read.  A
    company's leaderboard is 10,000 lines kept for as long as it is current;
    the garbage collector stops tracking a plain tuple of plain values, but not
    an object or a named tuple, and every full collection walked them all
    (bench/README.md: "Garbage collection").
    """

    def __init__(self, rows: list[tuple], as_of: datetime, *, final: bool = False) -> None:
        self._rows = rows
        self.as_of = as_of
        self.final = final
        self.serial = next(_SERIALS)  # tells one computed leaderboard from another

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Standing]:
        return itertools.starmap(Standing, self._rows)

    @overload
    def __getitem__(self, k: int) -> Standing: ...
    @overload
    def __getitem__(self, k: slice) -> list[Standing]: ...
    def __getitem__(self, k):
        if isinstance(k, slice):
            return [Standing(*r) for r in self._rows[k]]
        return Standing(*self._rows[k])

    def of_user(self, user_id: int) -> Standing | None:
        """The user's line, if the user is a member."""
        at = _USER_AT
        return next((Standing(*r) for r in self._rows if r[at] == user_id), None)


_USER_AT = Standing._fields.index("user_id")
# Where a row of _compute_leaderboard holds these before it is ranked (Standing's fields
# without the rank in front): the sort keys.
_UNRANKED_AT = tuple(Standing._fields.index(f) - 1 for f in ("net_worth", "brier", "last_trade_at"))


@dataclass
class _Board:
    version: tuple
    at: float  # time.monotonic() when computed
    cost: float  # seconds the computation took
    standings: Standings
    checked: float  # time.monotonic() when its version was last found current (or stale)


# Leaderboards this process computed, by (database, competition, ordering).  The
# one invalidation point is the version check in leaderboard(): nothing else
# clears it, and every worker process checks the database for itself.
_BOARDS: dict[tuple, _Board] = {}
SLOW_LEADERBOARD = 0.05  # seconds: only a leaderboard slower than this is ever reused stale
# Seconds a slow leaderboard (above) is shown again without asking the database whether it
# changed: with max_age it is behind by the time it takes to redo anyway.
RECHECK_SLOW = 1.0


_SERIALS = itertools.count(1)
log = logging.getLogger(__name__)


def _board_version(session: Session, comp: Competition, ended: datetime | None) -> tuple:
    """What the standings depend on, cheaply: it changes whenever a standing can.

    Points move in three ways only, each counted here: a trade adds to its
    question's trade_count (prices, positions, balances, counts); a join adds
    to the competition's member_count (the starting grant); resolve, cancel
    and undo are moderator actions (payouts, refunds, reversals, scores).
    One row, the questions' counters and an index count: none of it grows
    with trades or members.  Sums and counts, not newest ids: transactions
    commit out of id order.  A competition that has ended has final
    standings: they never change.
    """
    if ended is not None:
        return ("final",)
    row = session.execute(_VERSION_SQL, {"c": comp.id}).one()
    return (*row, comp.starting_balance)


_VERSION_SQL = text(
    "SELECT (SELECT member_count FROM competition WHERE id = :c), "
    "(SELECT sum(trade_count) FROM question WHERE competition_id = :c), "
    "(SELECT count(*) FROM moderatoraction WHERE competition_id = :c)"
)


def leaderboard(
    session: Session, comp: Competition, *, by: str = "net_worth", max_age: float = 0.0
) -> Standings:
    """Standings.  By net worth (highest first) or mean Brier (lowest first).

    Ties go to whoever got there first: the member whose last trade is
    earlier (members who never traded count from when they joined).

    Returns :class:`Standings`.  This process keeps the last one it
    computed and returns it again while the competition's version (see
    _board_version) is unchanged, so repeated views cost one small query.
    With ``max_age`` > 0, a leaderboard that took more than SLOW_LEADERBOARD
    to compute and is out of date is returned as it is, if it is at most
    ``max_age`` seconds old, while a thread of this process computes the new
    one (one at a time): a large competition's views never wait for it, and
    are behind by about the time it takes (pages say how old it is); such a
    slow one's version is asked at most once every RECHECK_SLOW seconds.  Small
    competitions, and callers passing no ``max_age``, are always exact.
    """
    ended = competitions.ended_at(comp)
    key = (str(session.get_bind().url), comp.id, comp.created_at, by, ended)
    board = _BOARDS.get(key)
    slow = board is not None and max_age > 0 and board.cost >= SLOW_LEADERBOARD
    if slow and time.monotonic() - board.checked < min(RECHECK_SLOW, max_age):
        return board.standings  # checked a moment ago: not a query per view
    version = _board_version(session, comp, ended)
    if board is not None and board.version == version:
        board.checked = time.monotonic()
        return board.standings
    if slow and time.monotonic() - board.at <= max_age:
        board.checked = time.monotonic()
        _refresh_later(session.get_bind(), key, comp.id, by, ended)
        return board.standings
    return _compute_and_keep(session, comp, key, version, by, ended)


def _compute_and_keep(
    session: Session, comp: Competition, key: tuple, version: tuple, by: str, ended
) -> Standings:
    at, started = time.monotonic(), time.perf_counter()
    rows = _compute_leaderboard(session, comp, by, ended)
    standings = Standings(rows, ended or utcnow(), final=ended is not None)
    if key not in _BOARDS and len(_BOARDS) >= 64:
        _BOARDS.pop(next(iter(_BOARDS)), None)
    _BOARDS[key] = _Board(version, at, time.perf_counter() - started, standings, at)
    return standings


_REFRESHING: set[tuple] = set()
_REFRESH_LOCK = threading.Lock()


def _refresh_later(engine, key: tuple, comp_id: int, by: str, ended) -> None:
    """Compute a leaderboard again in a thread of its own (unless one already is)."""
    with _REFRESH_LOCK:
        if key in _REFRESHING:
            return
        _REFRESHING.add(key)

    def run() -> None:
        try:
            with foreground.background(), Session(engine) as s:
                comp = s.get(Competition, comp_id)
                if comp is not None:
                    version = _board_version(s, comp, ended)
                    _compute_and_keep(s, comp, key, version, by, ended)
            malloc.trim()  # the old board and the marks' old arrays are freed by now
        except Exception:  # the next view computes it in the request instead
            log.exception("refreshing a leaderboard failed")
        finally:
            with _REFRESH_LOCK:
                _REFRESHING.discard(key)

    threading.Thread(target=run, name="leaderboard-refresh", daemon=True).start()


def _compute_leaderboard(
    session: Session, comp: Competition, by: str, as_of: datetime | None = None
) -> list[tuple]:
    """The standings now, or, for a competition that ended at ``as_of``, as they were then:
    a tuple of Standing's fields per member, in rank order.

    As of an end: the points that moved after it (payouts, refunds and
    reversals of resolutions made later) are taken back out of each balance,
    the questions settled after it are valued at their last probabilities,
    and only the questions resolved by then are scored.
    """
    # Trade counts, questions traded and last trade times are kept on the
    # membership by each trade; only the open positions are valued here.
    values = open_values(session, comp, as_of=as_of)
    scores = (
        select(Score.membership_id, func.avg(Score.brier), func.count())
        .join(Membership, Membership.id == Score.membership_id)
        .where(Membership.competition_id == comp.id)
        .group_by(Score.membership_id)
    )
    later: dict[int, int] = {}
    if as_of is not None:
        scores = scores.join(Question, Question.id == Score.question_id).where(
            Question.resolved_at <= as_of
        )
        le = LedgerEntry.__table__.c
        later = {
            mid: int(total)
            for mid, total in session.execute(
                select(le.membership_id, func.sum(le.amount))
                .where(
                    le.competition_id == comp.id,
                    le.membership_id.is_not(None),
                    le.created_at > as_of,
                )
                .group_by(le.membership_id)
            )
        }
    briers = {mid: (float(avg), int(n)) for mid, avg, n in session.exec(scores).all()}
    start = comp.starting_balance
    rows = []
    members = _MEMBERS.rows(session, {"c": comp.id})
    foreground.give_way()  # in a refresh thread: short steps under load (see foreground)
    for k, (mid, user_id, balance, n, last, traded, username) in enumerate(members):
        if k % 2000 == 1999:
            foreground.give_way()
        balance -= later.get(mid, 0)
        net = balance + values.get(mid, 0)
        brier, scored = briers.get(mid, (None, 0))
        rows.append(
            (username, user_id, mid, net, balance, net - start, brier, scored, traded, n, last)
        )
    foreground.give_way()
    net_at, brier_at, last_at = _UNRANKED_AT
    if by == "brier":
        rows.sort(
            key=lambda r: (
                r[brier_at] is None,
                r[brier_at] if r[brier_at] is not None else 0,
                r[last_at],
            )
        )
    else:
        rows.sort(key=lambda r: (-r[net_at], r[last_at]))
    return [(k, *r) for k, r in enumerate(rows, 1)]  # Standing's fields, as plain tuples


# Every member's line, read on the DBAPI cursor with every row fetched at once (a
# company's 10,000 rows: SQLAlchemy's row-by-row iteration cost more than the query).
# The tie-break time is one column: the last trade, or for a member who never
# traded, when they joined.
_M = Membership.__table__.c
_MEMBERS = Prepared(
    select(
        _M.id,
        _M.user_id,
        _M.balance,
        _M.trade_count,
        func.coalesce(_M.last_trade_at, _M.joined_at, type_=UTCDateTime),
        _M.questions_traded,
        User.__table__.c.username,
    )
    .join(User.__table__, User.__table__.c.id == _M.user_id)
    .where(_M.competition_id == bindparam("c"))
)


def standing_json(s: Standing) -> dict:
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
    comp = session.get(Competition, member.competition_id)
    return member.balance + open_values(session, comp, member_id=member.id).get(member.id, 0)


def positions(session: Session, member: Membership, question: Question) -> list[dict]:
    outcomes = outcomes_of(session, question.id)
    probs = probabilities(question, outcomes)
    held = {
        p.outcome_id: p
        for p in session.exec(
            select(Position).where(
                Position.membership_id == member.id, Position.question_id == question.id
            )
        )
    }
    out = []
    for o in outcomes:
        p = held.get(o.id)
        shares = p.shares if p else 0
        out.append(
            {
                "outcome": o.id,
                "label": o.label,
                "shares": shares,
                "spent": p.spent if p else 0,
                "value": int(shares * probs[o.id]),
            }
        )
    return out


def recent_trades(
    session: Session, question: Question, *, labels: dict[int, str], after: int = 0
) -> list[dict]:
    """The question's latest RECENT_TRADES trades, newest first, with who traded which outcome
    (``labels``: the question's outcomes' labels by id, which the caller has read);
    ``row``: (id, created_at, probabilities), as a chart's history reads a trade.  ``after``:
    only trades with a greater id (those since a list read before: trades on a question are
    serialized by its lock, so their ids grow in commit order)."""
    read = _RECENT_TRADES_AFTER if after else _RECENT_TRADES
    rows = read.rows(session, {"qid": question.id, "after": after})
    return [
        {
            "row": (tid, at, probs),
            "id": tid,
            "at": at,
            "username": username,
            "outcome": labels.get(oid, "?"),
            "outcome_id": oid,
            "shares": shares,
            "cost": cost,
            "probability": float(probs.get(str(oid), 0.0)),
        }
        for tid, at, oid, shares, cost, probs, username in rows
    ]


_T, _U = Trade.__table__, User.__table__
# The limit is written into the statement, not bound: PostgreSQL plans a prepared
# statement once for every value ("generic") only when that plan costs about what one
# planned for the values would, and with LIMIT unknown it never does, so it planned
# this join again on every execution (0.46-0.71 ms a read at company size; 0.27 ms so).
# The outcomes' labels come from the caller, not a join: the join took a read in its kept
# plan 0.29 → 0.12 ms at company size, and a plan made for the values hashed the whole
# outcome table (session 12).
RECENT_TRADES = 20
_RECENT_TRADES_SQL = (
    select(
        _T.c.id,
        _T.c.created_at,
        _T.c.outcome_id,
        _T.c.shares,
        _T.c.cost,
        _T.c.probabilities,
        _U.c.username,
    )
    .join(_U, _U.c.id == _T.c.user_id)
    .where(_T.c.question_id == bindparam("qid"))
    .order_by(_T.c.id.desc())
    .limit(literal_column(str(RECENT_TRADES)))
)
_RECENT_TRADES = Prepared(_RECENT_TRADES_SQL)
_RECENT_TRADES_AFTER = Prepared(_RECENT_TRADES_SQL.where(_T.c.id > bindparam("after")))


def portfolio(session: Session, member: Membership) -> dict:
    """A member's balance, net worth, open positions and results of settled questions.

    Open rows are one per outcome held (shares > 0) on an open or closed
    question, marked at the current probability (value rounded down).  A
    settled row is one per resolved or cancelled question the member traded:
    ``payout`` is what it paid (winning shares, or the refund on a cancel) and
    ``profit`` is payout minus the points put in.
    """
    held = list(
        session.exec(
            select(Position, Question, Outcome)
            .join(Question, Question.id == Position.question_id)
            .join(Outcome, Outcome.id == Position.outcome_id)
            .where(Position.membership_id == member.id)
            .order_by(Question.close_at, Question.id, Outcome.position)
        )
    )
    price: dict[int, dict[int, float]] = {}
    open_rows, settled = [], {}
    for pos, question, outcome in held:
        if question.status in ("open", "closed"):
            if pos.shares <= 0:
                continue
            if question.id not in price:
                price[question.id] = probabilities(question, outcomes_of(session, question.id))
            p = price[question.id][outcome.id]
            value = int(pos.shares * p)
            open_rows.append(
                {
                    "question_id": question.id,
                    "title": question.title,
                    "status": effective_status(question),
                    "close_at": question.close_at,
                    "outcome": outcome.label,
                    "probability": p,
                    "shares": pos.shares,
                    "spent": pos.spent,
                    "value": value,
                    "profit": value - pos.spent,
                }
            )
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
            },
        )
        row["spent"] += pos.spent
        row["shares"][outcome.id] = pos.shares
        row["resolved_outcome_id"] = question.resolved_outcome_id
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
