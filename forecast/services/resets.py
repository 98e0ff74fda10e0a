"""One-time password reset links an organiser hands a member who forgot their password
(no email): only the link's SHA-256 is kept; it works once, and not after it expires."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from forecast.models import Competition, PasswordReset, User, utcnow
from forecast.services import access, accounts, competitions, roster
from forecast.services.errors import Conflict, Forbidden, NotFound

LIFETIME = timedelta(hours=24)


def create_link(
    *, session: Session, user_id: int, competition: Competition, membership_id: object
) -> tuple[User, str]:
    """A new reset link's secret for a member's account; earlier unused ones stop working.

    Organisers reset players' passwords; a site admin's or an organiser's account only
    a site admin can (nobody takes over an account that can do more than theirs).
    Raises Forbidden, NotFound.
    """
    m, target = roster._guarded(session, user_id, competition, membership_id)
    actor = access.get_user(session, user_id)
    if not actor.is_admin and (target.is_admin or (m.is_moderator and m.user_id != user_id)):
        raise Forbidden("Only a site admin can reset an organiser's or an admin's password.")
    if target.id == user_id:
        raise Conflict("Change your own password from your account page.")
    now = utcnow()
    _expire_unused(session, target.id, now)
    plain = secrets.token_urlsafe(24)
    session.add(
        PasswordReset(
            user_id=target.id,
            token_hash=accounts.hash_token(plain),
            created_by=user_id,
            competition_id=competition.id,
            created_at=now,
            expires_at=now + LIFETIME,
        )
    )
    competitions.log_action(
        session, competition.id, user_id, "password_reset_link", detail={"user": target.username}
    )
    return target, plain


def _expire_unused(session: Session, target_id: int, now) -> None:  # noqa: ANN001
    t = PasswordReset.__table__.c
    session.execute(
        update(PasswordReset.__table__)
        .where(t.user_id == target_id, t.used_at.is_(None), t.expires_at > now)
        .values(expires_at=now)
    )


def _live(session: Session, plain: object, *, lock: bool = False) -> PasswordReset:
    if not isinstance(plain, str) or not plain or len(plain) > 200 or not plain.isascii():
        raise NotFound("This reset link is not valid.")
    stmt = select(PasswordReset).where(PasswordReset.token_hash == accounts.hash_token(plain))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    reset = session.exec(stmt).first()
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        raise NotFound("This reset link is used up or has expired; ask for a new one.")
    return reset


def link_user(*, session: Session, token: object) -> User:
    """The account a live link resets.  Raises NotFound for an unknown, used or expired one."""
    reset = _live(session, token)
    user = session.get(User, reset.user_id)
    if user is None or not user.is_active:
        raise NotFound("This reset link is not valid.")
    return user


def use_link(*, session: Session, token: object, password: object) -> User:
    """Set the account's new password through a live link, which is then used up; every
    session of the account ends (accounts.set_password).

    Raises NotFound for an unknown, used or expired link, Invalid for a bad password.
    """
    reset = _live(session, token, lock=True)
    user = session.get(User, reset.user_id)
    if user is None or not user.is_active:
        raise NotFound("This reset link is not valid.")
    accounts.set_password(session=session, user=user, password=password)  # ends its sessions
    reset.used_at = utcnow()
    session.add(reset)
    return user
