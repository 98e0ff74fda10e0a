"""Writing and editing questions, and closing them when their time comes."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import bindparam
from sqlmodel import Session, select

from forecast.market import lmsr
from forecast.market.liquidity import MAX_LIQUIDITY, MIN_LIQUIDITY, default_liquidity
from forecast.market.money import MoneyError, fmt, to_units
from forecast.models import Competition, Outcome, Question, utcnow
from forecast.services import access
from forecast.services.competitions import DEFAULT_STARTING_BALANCE, log_action, read_for_share
from forecast.services.competitions import effective_status as competition_status
from forecast.services.errors import Conflict, Invalid, NotFound, has_nul

KINDS = ("binary", "multiple_choice")


def parse_time(value: object, *, field: str = "close_at") -> datetime:
    """An aware UTC datetime from a datetime or an ISO 8601 string (naive means UTC)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and value.strip():
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("Give a date and time like 2027-06-30T12:00:00Z.", field=field) from None
    else:
        raise Invalid("Give a date and time like 2027-06-30T12:00:00Z.", field=field)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    if not 2000 <= dt.year <= 9000:
        raise Invalid("That date is out of range.", field=field)
    return dt.astimezone(UTC)


def _text(value: object, field: str, *, required: bool, limit: int) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text.", field=field)
    if has_nul(value):
        raise Invalid(f"{field} may not contain NUL characters.", field=field)
    value = value.strip()
    if required and not value:
        raise Invalid(f"{field.replace('_', ' ').capitalize()} is required.", field=field)
    if len(value) > limit:
        raise Invalid(f"{field} is at most {limit} characters.", field=field)
    return value


def validate_question(
    *,
    title: object,
    description: object = "",
    resolution_criteria: object = "",
    source: object = "",
    kind: object = "binary",
    outcomes: object = None,
    close_at: object,
    liquidity: object = None,
    initial_probabilities: object = None,
    now: datetime | None = None,
    default_b: int | None = None,
) -> dict:
    """Check a question's fields; return them cleaned.  Raises Invalid naming the field.

    Without a ``liquidity`` the question takes ``default_b`` (units), which
    create_question works out from the competition's starting balance
    (liquidity.default_liquidity); a check with no competition in view uses
    that of the default starting balance.
    """
    now = now or utcnow()
    clean = {
        "title": _text(title, "title", required=True, limit=300),
        "description": _text(description, "description", required=False, limit=10_000),
        "resolution_criteria": _text(
            resolution_criteria, "resolution_criteria", required=False, limit=10_000
        ),
        "source": _text(source, "source", required=False, limit=2_000),
    }
    if kind not in KINDS:
        raise Invalid("Kind is 'binary' or 'multiple_choice'.", field="kind")
    if kind == "binary":
        if outcomes not in (None, [], ["YES", "NO"], ["Yes", "No"]):
            raise Invalid("A binary question's outcomes are YES and NO.", field="outcomes")
        labels = ["YES", "NO"]
    else:
        if not isinstance(outcomes, list) or not all(isinstance(o, str) for o in outcomes):
            raise Invalid("Give the outcomes as a list of labels.", field="outcomes")
        labels = [o.strip() for o in outcomes]
        if not lmsr.MIN_OUTCOMES <= len(labels) <= lmsr.MAX_OUTCOMES:
            raise Invalid("A question has 2 to 20 outcomes.", field="outcomes")
        if any(not lab or len(lab) > 120 for lab in labels):
            raise Invalid("Each outcome needs a label of up to 120 characters.", field="outcomes")
        if len({lab.lower() for lab in labels}) != len(labels):
            raise Invalid("Outcome labels must differ.", field="outcomes")
    clean["kind"] = kind
    clean["labels"] = labels
    close = parse_time(close_at)
    if close <= now:
        raise Invalid("The close time must be in the future.", field="close_at")
    clean["close_at"] = close
    if liquidity is None:
        b = default_b if default_b is not None else default_liquidity(DEFAULT_STARTING_BALANCE)
    else:
        try:
            b = to_units(liquidity, field="Liquidity", allow_zero=True)  # the range says the rest
        except MoneyError as e:
            raise Invalid(str(e), field="liquidity") from None
        if not MIN_LIQUIDITY <= b <= MAX_LIQUIDITY:
            raise Invalid(
                f"Liquidity is between {fmt(MIN_LIQUIDITY, 0)} and {fmt(MAX_LIQUIDITY, 0)} points.",
                field="liquidity",
            )
    clean["liquidity"] = b
    probs = initial_probabilities
    if probs is not None:
        if isinstance(probs, dict):
            probs = [probs.get(lab) for lab in labels]
        if not isinstance(probs, list) or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p)
            for p in probs
        ):
            raise Invalid("Opening probabilities are numbers.", field="initial_probabilities")
    try:
        clean["q0"] = lmsr.initial_state(b, probs, len(labels))
    except lmsr.MarketError as e:
        raise Invalid(str(e), field="initial_probabilities") from None
    return clean


def create_question(
    *,
    session: Session,
    user_id: int | None,
    competition: Competition,
    pack_key: str | None = None,
    check_moderator: bool = True,
    **fields: object,
) -> Question:
    """Create a question and its outcomes.

    Moderators only (Forbidden); fields and errors as validate_question, its
    liquidity by default the competition's (liquidity.default_liquidity).
    Conflict (competition_closed) once the competition has ended.
    """
    if check_moderator:
        access.require_moderator(session, user_id, competition.id)
    clean = validate_question(**fields, default_b=default_liquidity(competition.starting_balance))
    if competition_status(read_for_share(session, competition.id)) != "open":
        raise Conflict(
            "This competition has ended; it takes no new questions.", code="competition_closed"
        )
    question = Question(
        competition_id=competition.id,
        title=clean["title"],
        description=clean["description"],
        resolution_criteria=clean["resolution_criteria"],
        source=clean["source"],
        kind=clean["kind"],
        close_at=clean["close_at"],
        liquidity=clean["liquidity"],
        pack_key=pack_key,
        created_by=user_id,
    )
    session.add(question)
    session.flush()
    for pos, (label, q0) in enumerate(zip(clean["labels"], clean["q0"], strict=True)):
        session.add(Outcome(question_id=question.id, position=pos, label=label, q=q0, q0=q0))
    log_action(
        session,
        competition.id,
        user_id,
        "create_question",
        question_id=question.id,
        detail={"title": question.title, "pack_key": pack_key},
    )
    session.flush()
    return question


_OUTCOMES = (
    select(Outcome).where(Outcome.question_id == bindparam("qid")).order_by(Outcome.position)
)


def outcomes_of(session: Session, question_id: int) -> list[Outcome]:
    return list(session.exec(_OUTCOMES, params={"qid": question_id}))


class OutcomeRow(NamedTuple):
    """What a page shows of an outcome (see outcome_rows)."""

    id: int
    label: str
    q: int


_O = Outcome.__table__
_OUTCOME_ROWS = (
    select(_O.c.id, _O.c.label, _O.c.q)
    .where(_O.c.question_id == bindparam("qid"))
    .order_by(_O.c.position)
)


def viewable_with_outcomes(
    session: Session, user_id: int | None, question_id: object
) -> tuple[Question, Competition, list[OutcomeRow]]:
    """What a question page shows on every view, in one statement: the question, its
    competition and its outcomes in order as plain rows.  NotFound as
    access.viewable_question_and_competition.
    """
    rows = session.execute(
        select(Question, Competition, _O.c.id, _O.c.label, _O.c.q)
        .join(Competition, Competition.id == Question.competition_id)
        .outerjoin(_O, _O.c.question_id == Question.id)
        .where(Question.id == access.question_id_of(question_id))
        .order_by(_O.c.position)
    ).all()
    if not rows or not access.can_view(session, user_id, rows[0][1]):
        raise NotFound("No such question.")
    outcomes = [OutcomeRow(*r[2:]) for r in rows if r[2] is not None]
    return rows[0][0], rows[0][1], outcomes


def outcome_rows(session: Session, question_id: int) -> list[OutcomeRow]:
    """A question's outcomes in order as plain rows (no ORM objects to build)."""
    return [OutcomeRow(*r) for r in session.execute(_OUTCOME_ROWS, {"qid": question_id})]


def outcomes_by_question(session: Session, question_ids: list[int]) -> dict[int, list[Outcome]]:
    """Each question's outcomes in order, for many questions in one query."""
    found: dict[int, list[Outcome]] = {qid: [] for qid in question_ids}
    if question_ids:
        for o in session.exec(
            select(Outcome)
            .where(Outcome.question_id.in_(question_ids))
            .order_by(Outcome.question_id, Outcome.position)
        ):
            found[o.question_id].append(o)
    return found


def effective_status(
    question: Question, now: datetime | None = None, competition: Competition | None = None
) -> str:
    """'closed' once the close time has passed, even before anything wrote it down.

    Given its ``competition``, an open question of a competition that has
    ended is 'closed' too: nobody can trade it any more.
    """
    now = now or utcnow()
    if question.status == "open" and (
        question.close_at <= now
        or (competition is not None and competition_status(competition, now) != "open")
    ):
        return "closed"
    return question.status


def edit_question(
    *,
    session: Session,
    user_id: int,
    question_id: int,
    title: object = None,
    description: object = None,
    resolution_criteria: object = None,
    source: object = None,
    close_at: object = None,
    reason: str = "",
) -> Question:
    """Edit a question's text or close time.

    A new close time in the future reopens a closed question.
    """
    question = access.get_question(session, question_id, lock=True)
    access.require_moderator(session, user_id, question.competition_id)
    if question.status in ("resolved", "cancelled"):
        raise Conflict("Undo the resolution before editing.", code="question_not_open")
    changes: dict[str, object] = {}
    for field, value, limit in (
        ("title", title, 300),
        ("description", description, 10_000),
        ("resolution_criteria", resolution_criteria, 10_000),
        ("source", source, 2_000),
    ):
        if value is not None:
            new = _text(value, field, required=field == "title", limit=limit)
            if new != getattr(question, field):
                changes[field] = new
                setattr(question, field, new)
    if close_at is not None:
        close = parse_time(close_at)
        if close <= utcnow():
            raise Invalid("The close time must be in the future.", field="close_at")
        if close != question.close_at:
            changes["close_at"] = close.isoformat()
            question.close_at = close
            question.status = "open"
    session.add(question)
    if changes:
        log_action(
            session,
            question.competition_id,
            user_id,
            "edit_question",
            question_id=question.id,
            reason=reason,
            detail={"changed": sorted(changes)},
        )
    return question


def close_question(
    *, session: Session, user_id: int, question_id: int, reason: str = ""
) -> Question:
    """A moderator stops trading now."""
    question = access.get_question(session, question_id, lock=True)
    access.require_moderator(session, user_id, question.competition_id)
    if effective_status(question) != "open":
        raise Conflict("This question is not open.", code="question_not_open")
    question.status = "closed"
    question.close_at = utcnow()
    session.add(question)
    log_action(
        session, question.competition_id, user_id, "close", question_id=question.id, reason=reason
    )
    return question


def close_due(*, session: Session, now: datetime | None = None) -> int:
    """Write 'closed' on every open question whose close time has passed; returns how many."""
    now = now or utcnow()
    due = list(
        session.exec(
            select(Question)
            .where(Question.status == "open", Question.close_at <= now)
            .with_for_update()
        )
    )
    for q in due:
        q.status = "closed"
        session.add(q)
    return len(due)
