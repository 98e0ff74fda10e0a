"""Accounts and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from sqlalchemy import bindparam, update
from sqlmodel import Session, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from forecast.db import Database
from forecast.models import ApiToken, User, utcnow
from forecast.services import competitions
from forecast.services.errors import Conflict, Invalid, NotFound, has_nul, unique

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,40}$")
MIN_PASSWORD = 8
COMMON_PASSWORDS = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"
# Verifying against this keeps a login for an unknown name as slow as a real one.
_DUMMY_HASH = generate_password_hash("not-a-real-password-but-same-cost")


def check_username(username: object) -> str:
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise Invalid(
            "Usernames are 3-40 letters, digits, dots, dashes or underscores.", field="username"
        )
    return username


@cache
def common_passwords() -> frozenset[str]:
    """COMMON_PASSWORDS, lowercased (the file's header lines start with '#')."""
    with COMMON_PASSWORDS.open(encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip() and not line.startswith("#"))


def check_password(password: object, *, username: str | None = None) -> str:
    """A password NIST SP 800-63B would take: at least MIN_PASSWORD characters, not the
    username (in any case), not on the list of common passwords.  Raises Invalid."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Invalid(f"Passwords have at least {MIN_PASSWORD} characters.", field="password")
    if len(password) > 1000:
        raise Invalid("That password is too long.", field="password")
    if username and password.casefold() == username.casefold():
        raise Invalid("Your password cannot be your username.", field="password")
    if password.lower() in common_passwords():
        raise Invalid(
            "That password is one of the most common ones, which are guessed first; "
            "choose another.",
            field="password",
        )
    return password


def create_user(*, session: Session, username: str, password: str, is_admin: bool = False) -> User:
    """Create an account and join it to the public competition.

    The first account on a site is its admin.  Raises Invalid for a bad name
    or short password, Conflict when the name is taken.
    """
    check_username(username)
    check_password(password, username=username)
    taken = Conflict("That username is taken.", code="username_taken", field="username")
    if session.exec(select(User).where(func.lower(User.username) == username.lower())).first():
        raise taken
    first = session.exec(select(func.count()).select_from(User)).one() == 0
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        is_admin=is_admin or first,
    )
    with unique(taken):  # the same name, in any case, registered a moment ago
        session.add(user)
        session.flush()
    public = competitions.ensure_public(session=session)
    competitions.add_member(session=session, competition=public, user=user)
    return user


def authenticate(*, session: Session, username: str, password: str) -> User | None:
    """The user for these credentials, or None; equal work for unknown names."""
    user = None
    if not has_nul(username):
        user = session.exec(
            select(User).where(func.lower(User.username) == (username or "").lower())
        ).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.is_active:
        return None
    return user


def end_sessions(*, session: Session, user_id: int) -> None:
    """End every session and remember cookie of the account (its session version moves
    on; web.auth reads it from each cookie)."""
    c = User.__table__.c
    session.execute(
        update(User.__table__).where(c.id == user_id).values(session_version=c.session_version + 1)
    )


def set_password(*, session: Session, user: User, password: str) -> User:
    """Give the account a new password and end all of its sessions.  Raises Invalid."""
    check_password(password, username=user.username)
    user.password_hash = generate_password_hash(password)
    user.session_version += 1
    session.add(user)
    session.flush()
    return user


def change_password(*, session: Session, user_id: int, old: str, new: str) -> User:
    """Change a password given the current one; every session of the account ends
    (the caller signs its own session in again).  Raises Invalid."""
    user = session.get(User, user_id)
    if user is None or not check_password_hash(user.password_hash, old or ""):
        raise Invalid("Your current password is not right.", field="old_password")
    return set_password(session=session, user=user, password=new)


def find_user(session: Session, username: str) -> User:
    user = None
    if not has_nul(username):
        user = session.exec(
            select(User).where(func.lower(User.username) == (username or "").lower())
        ).first()
    if user is None:
        raise NotFound(f"No user named {username!r}.")
    return user


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(*, session: Session, user_id: int, name: str = "") -> tuple[ApiToken, str]:
    """A new API token; the plain token is returned once and only its SHA-256 is stored.

    Raises Invalid for a name that is not text or holds a NUL character.
    """
    if not isinstance(name, str) or has_nul(name):
        raise Invalid("A token's name is plain text.", field="name")
    plain = "fc_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user_id, name=name[:80], token_hash=hash_token(plain), prefix=plain[:10]
    )
    session.add(token)
    session.flush()
    return token, plain


def revoke_token(*, session: Session, user_id: int, token_id: int) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user_id:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)


@dataclass(frozen=True)
class ApiCaller:
    """Who a live API token speaks for: the account, and the token's own id and last use."""

    id: int  # the user's
    username: str
    is_admin: bool
    token_id: int
    token_last_used_at: datetime | None


_TOKEN, _USER = ApiToken.__table__, User.__table__
# The account of a live token: not revoked, its account active.
_CALLER = (
    select(_USER.c.id, _USER.c.username, _USER.c.is_admin, _TOKEN.c.id, _TOKEN.c.last_used_at)
    .join(_USER, _USER.c.id == _TOKEN.c.user_id)
    .where(
        _TOKEN.c.token_hash == bindparam("h"),
        _TOKEN.c.revoked_at.is_(None),
        _USER.c.is_active.is_(True),
    )
)


def api_caller(db: Database, plain: str, *, session: Session | None = None) -> ApiCaller | None:
    """The account of a live (not revoked) token with this text, if it is active; else None.

    Read in ``session``, or in a session of its own on ``db``.
    """
    if session is None:
        with db.session() as own:
            return api_caller(db, plain, session=own)
    row = session.execute(_CALLER, {"h": hash_token(plain)}).first()
    return None if row is None else ApiCaller(*row)


def touch_token(*, session: Session, token_id: int, now: datetime | None = None) -> None:
    """Record that a token was used now (callers do it at most once a minute, not per read)."""
    token = session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = now or utcnow()
        session.add(token)
