"""Competitions: the public one, creating, joining, roles."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlmodel import Session, select

from forecast.market.money import UNIT, MoneyError, to_units
from forecast.models import Competition, Membership, ModeratorAction, User, utcnow
from forecast.services import access, ledger
from forecast.services.errors import Conflict, Forbidden, Invalid, has_nul, unique

PUBLIC_SLUG = "public"
DEFAULT_STARTING_BALANCE = 1000 * UNIT
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
ROLES = ("player", "moderator", "owner")


def new_join_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no look-alikes for reading aloud
    return "".join(secrets.choice(alphabet) for _ in range(8))


def effective_status(comp: Competition, now: datetime | None = None) -> str:
    """'closed' once the owner closed it or its end date has passed (no job needs to run)."""
    return "open" if ended_at(comp, now) is None else "closed"


def ended_at(comp: Competition, now: datetime | None = None) -> datetime | None:
    """When the competition ended (closed by its owner, or its end date passed); None if open.

    Its standings are final as of that moment (see standings.leaderboard).
    """
    now = now or utcnow()
    ends = [t for t in (comp.closed_at, comp.end_at) if t is not None and t <= now]
    if comp.status == "closed" and comp.closed_at is None:
        ends.append(comp.created_at)  # closed before closing times were kept: nothing better
    return min(ends) if ends else None


def read_for_share(session: Session, competition_id: int) -> Competition:
    """The competition as committed, read FOR SHARE: closing it (FOR UPDATE, then
    stamping closed_at, see close_competition) waits for the caller's transaction, or
    the caller sees it closed.  What a write that must not cross the end reads."""
    return session.exec(
        select(Competition)
        .where(Competition.id == competition_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    ).one()


_MEMBER_COMPETITIONS = (  # the layout's switcher, on every page: built once
    select(Competition, Membership)
    .join(Membership, Membership.competition_id == Competition.id)
    .where(Membership.user_id == bindparam("uid"))
)


def member_competitions(session: Session, user_id: int) -> list[tuple[Competition, Membership]]:
    """The competitions a user plays in, with the membership, public first then by name."""
    rows = session.exec(_MEMBER_COMPETITIONS, params={"uid": user_id}).all()
    return sorted(rows, key=lambda r: (r[0].slug != PUBLIC_SLUG, r[0].name.lower(), r[0].id))


def ensure_public(*, session: Session) -> Competition:
    """The site's public competition, created on first use."""
    comp = session.exec(select(Competition).where(Competition.slug == PUBLIC_SLUG)).first()
    if comp is None:
        comp = Competition(
            slug=PUBLIC_SLUG,
            name="Public",
            join_code=new_join_code(),
            starting_balance=DEFAULT_STARTING_BALANCE,
            is_listed=True,
        )
        session.add(comp)
        session.flush()
    return comp


def add_member(
    *, session: Session, competition: Competition, user: User, role: str = "player"
) -> Membership:
    """Make ``user`` a member and grant the starting balance (idempotent)."""
    existing = access.membership(session, user.id, competition.id)
    if existing is not None:
        return existing
    member = Membership(user_id=user.id, competition_id=competition.id, role=role, balance=0)
    with unique(Conflict("You joined a moment ago; reload the page.", code="already_member")):
        session.add(member)
        session.flush()
    ledger.grant(session, member, competition.starting_balance)
    count_members(session, competition.id, 1)
    return member


def count_members(session: Session, competition_id: int, joined: int) -> None:
    """Add ``joined`` to the competition's member count, in SQL (concurrent joins add up)."""
    c = Competition.__table__.c
    session.execute(
        update(Competition.__table__)
        .where(c.id == competition_id)
        .values(member_count=c.member_count + joined)
    )


def create_competition(
    *,
    session: Session,
    user_id: int,
    name: object,
    slug: object,
    starting_balance: object,
    is_listed: bool = True,
    end_at: datetime | None = None,
) -> Competition:
    """Create a competition owned (and moderated) by ``user_id``.

    Raises Invalid for a bad name, slug, balance or an end date not in the
    future, Conflict when the slug is taken.
    """
    user = access.get_user(session, user_id)
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 120 or has_nul(name):
        raise Invalid("Give the competition a name (up to 120 characters).", field="name")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise Invalid(
            "The slug is 1-40 lowercase letters, digits and dashes, like 'class-7b'.",
            field="slug",
        )
    try:
        balance = to_units(starting_balance, field="Starting balance")
    except MoneyError as e:
        raise Invalid(str(e), field="starting_balance") from None
    if balance > 10**9 * UNIT:
        raise Invalid("Starting balance is at most 1,000,000,000 points.", field="starting_balance")
    if end_at is not None and end_at <= utcnow():
        raise Invalid("The end date must be in the future.", field="end_at")
    taken = Conflict("That slug is taken.", code="slug_taken", field="slug")
    if session.exec(select(Competition).where(Competition.slug == slug)).first() is not None:
        raise taken
    comp = Competition(
        slug=slug,
        name=name.strip(),
        join_code=new_join_code(),
        starting_balance=balance,
        owner_id=user.id,
        is_listed=bool(is_listed),
        end_at=end_at,
    )
    with unique(taken):  # the same slug, taken a moment ago
        session.add(comp)
        session.flush()
    add_member(session=session, competition=comp, user=user, role="owner")
    return comp


def join(*, session: Session, user_id: int, slug: str, code: object) -> Membership:
    """Join with the competition's code; joining twice returns the same membership.

    Raises Invalid when the code is missing, Conflict (wrong_code) when wrong
    or the competition is closed.
    """
    user = access.get_user(session, user_id)
    comp = access.get_competition(session, slug)
    existing = access.membership(session, user_id, comp.id)
    if existing is not None:
        return existing
    if not isinstance(code, str) or not code.strip():
        raise Invalid("Enter the join code.", field="code")
    # compare_digest takes only ASCII str, so compare bytes: any text may be typed here.
    if comp.slug != PUBLIC_SLUG and not secrets.compare_digest(
        code.strip().upper().encode("utf-8", "replace"), comp.join_code.upper().encode()
    ):
        raise Conflict("That join code is not right.", code="wrong_code", field="code")
    if effective_status(comp) != "open":
        raise Conflict("This competition has ended.", code="competition_closed")
    return add_member(session=session, competition=comp, user=user)


def rotate_code(*, session: Session, user_id: int, slug: str) -> str:
    comp = access.get_competition(session, slug)
    access.require_moderator(session, user_id, comp.id)
    comp.join_code = new_join_code()
    session.add(comp)
    log_action(session, comp.id, user_id, "rotate_code")
    return comp.join_code


def set_role(*, session: Session, user_id: int, slug: str, username: str, role: str) -> Membership:
    """Owners (and admins) appoint moderators or make them players again."""
    comp = access.get_competition(session, slug)
    actor = access.get_user(session, user_id)
    mine = access.membership(session, user_id, comp.id)
    if not actor.is_admin and (mine is None or mine.role != "owner"):
        raise Forbidden("Only the owner can appoint moderators.")
    if role not in ("player", "moderator"):
        raise Invalid("Role is player or moderator.", field="role")
    from forecast.services.accounts import find_user

    target = find_user(session, username)
    m = access.membership(session, target.id, comp.id)
    if m is None:
        raise Invalid(f"{username} is not a member.", field="username")
    if m.role == "owner":
        raise Conflict("The owner stays the owner.")
    m.role = role
    session.add(m)
    log_action(session, comp.id, user_id, "set_role", detail={"user": username, "role": role})
    return m


def close_competition(*, session: Session, user_id: int, slug: str) -> Competition:
    comp = access.get_competition(session, slug)
    access.require_moderator(session, user_id, comp.id)
    if comp.slug == PUBLIC_SLUG:
        raise Conflict("The public competition never closes.")
    # Locked before closed_at is stamped: an undo of a resolution (which reads
    # this row FOR SHARE, see resolution.undo) finishes first, so its rows
    # come before the end, or it runs after and sees the competition closed.
    comp = session.exec(
        select(Competition)
        .where(Competition.id == comp.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if effective_status(comp) != "open":
        raise Conflict("This competition has already ended.", code="competition_closed")
    comp.status = "closed"
    comp.closed_at = utcnow()
    session.add(comp)
    log_action(session, comp.id, user_id, "close_competition")
    return comp


def log_action(
    session: Session,
    competition_id: int,
    user_id: int | None,
    action: str,
    *,
    question_id: int | None = None,
    reason: str = "",
    detail: dict | None = None,
) -> ModeratorAction:
    """Write one line of the moderators' audit log (who, when, what, why)."""
    entry = ModeratorAction(
        competition_id=competition_id,
        question_id=question_id,
        user_id=user_id,
        action=action,
        reason=reason or "",
        detail=detail or {},
    )
    session.add(entry)
    session.flush()
    return entry
