"""Site administration: the first account manages users."""

from __future__ import annotations

from sqlmodel import Session, func, select

from forecast.models import User
from forecast.services import access
from forecast.services.errors import Conflict, Forbidden, NotFound


def _require_admin(session: Session, user_id: int) -> User:
    user = access.get_user(session, user_id)
    if not user.is_admin:
        raise Forbidden("Only a site admin can do that.")
    return user


def set_user_flags(
    *,
    session: Session,
    user_id: int,
    target_id: int,
    is_admin: bool | None = None,
    is_active: bool | None = None,
) -> User:
    """Make a user an admin (or not), disable or enable an account.

    Disabling ends every session of the account, so enabling it again revives none.
    The last active admin cannot remove themselves.  Raises Forbidden, NotFound, Conflict.
    """
    _require_admin(session, user_id)
    target = session.get(User, target_id)
    if target is None:
        raise NotFound("No such user.")
    if is_admin is not None:
        target.is_admin = is_admin
    if is_active is not None:
        if target.is_active and not is_active:
            target.session_version += 1
        target.is_active = is_active
    session.add(target)
    session.flush()
    admins = session.exec(
        select(func.count()).select_from(User).where(User.is_admin == True, User.is_active == True)  # noqa: E712
    ).one()
    if admins == 0:
        raise Conflict("The site needs at least one active admin.")
    return target


def list_users(*, session: Session, user_id: int) -> list[User]:
    _require_admin(session, user_id)
    return list(session.exec(select(User).order_by(User.id)))
