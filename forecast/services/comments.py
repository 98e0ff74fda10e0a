"""Comments on questions, shown with the commenter's current position."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from forecast.models import Comment, Competition, Membership, Outcome, Position, User
from forecast.services import access
from forecast.services.competitions import log_action
from forecast.services.errors import Conflict, Invalid, NotFound, has_nul

MAX_COMMENT = 2000


@dataclass(frozen=True)
class CommentView:
    id: int
    username: str
    body: str
    created_at: datetime
    hidden: bool
    position: list[tuple[str, int]]  # (outcome label, shares) the commenter holds now


def add_comment(*, session: Session, user_id: int, question_id: object, body: object) -> Comment:
    """A member comments on a question.  Raises NotFound, Forbidden (not a member), Invalid."""
    question = access.get_question(session, question_id)
    comp = session.get(Competition, question.competition_id)
    access.require_member(session, user_id, comp)
    if not isinstance(body, str) or not body.strip():
        raise Invalid("Write something first.", field="body")
    if has_nul(body):
        raise Invalid("Comments may not contain NUL characters.", field="body")
    body = body.strip()
    if len(body) > MAX_COMMENT:
        raise Invalid(f"Comments are at most {MAX_COMMENT} characters.", field="body")
    comment = Comment(question_id=question.id, user_id=user_id, body=body)
    session.add(comment)
    session.flush()
    return comment


def set_hidden(
    *, session: Session, user_id: int, comment_id: int, hidden: bool = True, reason: str = ""
) -> Comment:
    """A moderator hides (or shows again) a comment; logged in the audit log."""
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise NotFound("No such comment.")
    question = access.get_question(session, comment.question_id)
    access.require_moderator(session, user_id, question.competition_id)
    if comment.hidden == hidden:
        raise Conflict("The comment is already " + ("hidden." if hidden else "shown."))
    comment.hidden = hidden
    session.add(comment)
    log_action(
        session,
        question.competition_id,
        user_id,
        "hide_comment" if hidden else "show_comment",
        question_id=question.id,
        reason=reason,
        detail={"comment_id": comment.id},
    )
    return comment


def comments_for(
    session: Session, question_id: int, *, include_hidden: bool = False, limit: int = 200
) -> list[CommentView]:
    """Newest last; each with what its author holds in the question now.  The caller has
    the question (and checked who may see it): an unknown id has no comments."""
    read = _ALL_COMMENTS if include_hidden else _SHOWN_COMMENTS
    rows = session.execute(read, {"qid": question_id, "n": limit}).all()[::-1]
    user_ids = {user_id for _, user_id, *_ in rows}
    holdings: dict[int, list[tuple[str, int]]] = {}
    if user_ids:
        for m_user, label, shares in session.exec(
            select(Membership.user_id, Outcome.label, Position.shares)
            .join(Position, Position.membership_id == Membership.id)
            .join(Outcome, Outcome.id == Position.outcome_id)
            .where(
                Position.question_id == question_id,
                Position.shares > 0,
                col(Membership.user_id).in_(user_ids),
            )
            .order_by(Outcome.position)
        ):
            holdings.setdefault(m_user, []).append((label, shares))
    return [
        CommentView(cid, username, body, at, hidden, holdings.get(user_id, []))
        for cid, user_id, body, at, hidden, username in rows
    ]


_C, _U = Comment.__table__, User.__table__
# Newest first (the page shows them oldest first); plain columns.
_ALL_COMMENTS = (
    select(_C.c.id, _C.c.user_id, _C.c.body, _C.c.created_at, _C.c.hidden, _U.c.username)
    .join(_U, _U.c.id == _C.c.user_id)
    .where(_C.c.question_id == bindparam("qid"))
    .order_by(_C.c.id.desc())
    .limit(bindparam("n"))
)
_SHOWN_COMMENTS = _ALL_COMMENTS.where(_C.c.hidden == False)  # noqa: E712
