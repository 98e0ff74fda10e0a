"""Who may do what: membership lookups and the moderator check, in one place."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import Session, select

from forecast.models import Competition, Membership, Question, User
from forecast.services.errors import Forbidden, NotFound, has_nul


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise Forbidden("Unknown or disabled account.")
    return user


_BY_SLUG = select(Competition).where(Competition.slug == bindparam("slug"))
_MEMBERSHIP = select(Membership).where(
    Membership.user_id == bindparam("uid"), Membership.competition_id == bindparam("cid")
)
_LOCKED_MEMBERSHIP = _MEMBERSHIP.with_for_update().execution_options(populate_existing=True)
_QUESTION_AND_COMPETITION = (
    select(Question, Competition)
    .join(Competition, Competition.id == Question.competition_id)
    .where(Question.id == bindparam("qid"))
)
# populate_existing: a row this session already holds takes the locked values.
_LOCKED_QUESTION_AND_COMPETITION = _QUESTION_AND_COMPETITION.with_for_update(
    of=Question
).execution_options(populate_existing=True)


def _slug_of(slug: object) -> str:
    """``slug`` as a competition's slug could be; NotFound when it cannot be one."""
    if not isinstance(slug, str) or has_nul(slug):
        raise NotFound("No such competition.")
    return slug


def get_competition(session: Session, slug: str) -> Competition:
    comp = session.exec(_BY_SLUG, params={"slug": _slug_of(slug)}).first()
    if comp is None:
        raise NotFound("No such competition.")
    return comp


def read_competition(session: Session, slug: str) -> Competition:
    """``get_competition`` for a page that only shows it (its competition pages, the
    leaderboard, a portfolio)."""
    return get_competition(session, slug)


def membership(
    session: Session, user_id: int | None, competition_id: int, *, lock: bool = False
) -> Membership | None:
    """The user's membership of the competition, or None.

    A page asks this several times (the panel, the comments, the moderator
    check), so the session remembers each membership it found: memberships
    are never deleted, and the object is the session's own, so it shows what
    the session last read.  ``lock`` always reads (and locks) the row.
    """
    if user_id is None:
        return None
    found = session.info.setdefault("forecast_memberships", {})
    if not lock and (m := found.get((user_id, competition_id))) is not None and m in session:
        return m
    stmt = _LOCKED_MEMBERSHIP if lock else _MEMBERSHIP
    m = session.exec(stmt, params={"uid": user_id, "cid": competition_id}).first()
    if m is not None:
        found[(user_id, competition_id)] = m
    return m


def can_view(session: Session, user_id: int | None, comp: Competition) -> bool:
    """Listed competitions are readable by anyone; private ones by members and admins."""
    if comp.is_listed:
        return True
    if user_id is None:
        return False
    user = session.get(User, user_id)
    return bool(user and user.is_admin) or membership(session, user_id, comp.id) is not None


def require_view(session: Session, user_id: int | None, comp: Competition) -> None:
    # 404, not 403: a private competition's name does not leak.
    if not can_view(session, user_id, comp):
        raise NotFound("No such competition.")


def require_member(
    session: Session, user_id: int, comp: Competition, *, lock: bool = False
) -> Membership:
    m = membership(session, user_id, comp.id, lock=lock)
    if m is None:
        require_view(session, user_id, comp)
        raise Forbidden("Join this competition first.", code="not_a_member")
    if m.removed_at is not None:
        raise Forbidden("An organiser removed you from this competition.", code="not_a_member")
    return m


def is_moderator(session: Session, user_id: int | None, competition_id: int) -> bool:
    if user_id is None:
        return False
    user = session.get(User, user_id)
    if user is not None and user.is_admin:
        return True
    m = membership(session, user_id, competition_id)
    return m is not None and m.is_moderator


def require_moderator(session: Session, user_id: int, competition_id: int) -> User:
    user = get_user(session, user_id)
    if not is_moderator(session, user_id, competition_id):
        comp = session.get(Competition, competition_id)
        if comp is not None:
            require_view(session, user_id, comp)
        raise Forbidden("Only a moderator of this competition can do that.")
    return user


MAX_QUESTION_ID = 2**31 - 1  # Question.id is a 32-bit INTEGER: a larger id cannot exist


def question_id_of(question_id: object) -> int:
    """``question_id`` when a question could have it: an int (not a bool) from 1 to
    MAX_QUESTION_ID; else NotFound, as for no such question (a route's ``<int:...>``
    takes any size, which SQLite cannot bind past 64 bits)."""
    if (
        isinstance(question_id, bool)
        or not isinstance(question_id, int)
        or not 1 <= question_id <= MAX_QUESTION_ID
    ):
        raise NotFound("No such question.")
    return question_id


def get_question(session: Session, question_id: object, *, lock: bool = False) -> Question:
    question_id = question_id_of(question_id)
    if lock:
        stmt = select(Question).where(Question.id == question_id)
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
        q = session.exec(stmt).first()
    else:
        q = session.get(Question, question_id)  # no query when this session has it already
    if q is None:
        raise NotFound("No such question.")
    return q


def get_question_and_competition(
    session: Session, question_id: object, *, lock: bool = False
) -> tuple[Question, Competition]:
    """The question (locked when ``lock``: FOR UPDATE OF question) and its competition, one read."""
    question_id = question_id_of(question_id)
    stmt = _LOCKED_QUESTION_AND_COMPETITION if lock else _QUESTION_AND_COMPETITION
    row = session.exec(stmt, params={"qid": question_id}).first()
    if row is None:
        raise NotFound("No such question.")
    return row[0], row[1]


def viewable_question_and_competition(
    session: Session, user_id: int | None, question_id: object
) -> tuple[Question, Competition]:
    """The question and its competition, one read; NotFound when the user may not see it.

    Keep the competition if you need it: the session holds its objects weakly,
    and asking for it again by id is another query.
    """
    q, comp = get_question_and_competition(session, question_id)
    if not can_view(session, user_id, comp):
        raise NotFound("No such question.")
    return q, comp


def viewable_question(session: Session, user_id: int | None, question_id: object) -> Question:
    return viewable_question_and_competition(session, user_id, question_id)[0]
