"""The tables.  Money columns are BIGINT counts of money.UNIT; never floats.

Balances kept on rows (Membership.balance, Question.mm_cash, Position.shares,
Outcome.q) are caches of the append-only ledger and trade history, updated in
the same transaction; ``forecast audit`` proves they agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, UniqueConstraint, func
from sqlalchemy import true as sa_true
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on every database (SQLite keeps no zone: store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _money(**kw: Any) -> Any:
    return Field(default=0, sa_column=Column(BigInteger, nullable=False, **kw))


def _when(nullable: bool = False, **kw: Any) -> Any:
    default = None if nullable else utcnow
    if default is None:
        return Field(default=None, sa_column=Column(UTCDateTime, nullable=True, **kw))
    return Field(default_factory=default, sa_column=Column(UTCDateTime, nullable=False, **kw))


# Ledger ids grow fastest: BIGINT on PostgreSQL, INTEGER (rowid) on SQLite.
BigId = BigInteger().with_variant(Integer, "sqlite")


class User(SQLModel, table=True):
    # One account per name in any mix of cases, held by the database itself.
    __table_args__ = (Index("ux_user_username_lower", func.lower(Column("username")), unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=40, sa_column_kwargs={"unique": True}, index=False)
    password_hash: str = Field(max_length=255)
    is_admin: bool = False
    is_active: bool = True
    created_at: datetime = _when()
    # Carried in the login cookie's user id (web.auth): raising it ends every session and
    # remember cookie of the account (a password change, an admin disabling it).
    session_version: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )


class ApiToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(default="", max_length=80)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    prefix: str = Field(max_length=12)
    created_at: datetime = _when()
    last_used_at: datetime | None = _when(nullable=True)
    revoked_at: datetime | None = _when(nullable=True)


class Competition(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=40, sa_column_kwargs={"unique": True})
    name: str = Field(max_length=120)
    join_code: str = Field(max_length=32)
    starting_balance: int = _money()
    owner_id: int | None = Field(default=None, foreign_key="user.id")
    is_listed: bool = True
    status: str = Field(default="open", max_length=10)  # open | closed
    end_at: datetime | None = _when(nullable=True)
    closed_at: datetime | None = _when(nullable=True)  # when its owner closed it
    created_at: datetime = _when()
    # Kept by each join: the leaderboard's version check reads it, not a count of members.
    member_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The projector view's link for a private competition (services.live); None: no link.
    view_token: str | None = Field(default=None, max_length=64)


class Membership(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("user_id", "competition_id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    competition_id: int = Field(foreign_key="competition.id", index=True)
    role: str = Field(default="player", max_length=10)  # player | moderator | owner
    balance: int = _money()
    joined_at: datetime = _when()
    # Kept by each trade (the leaderboard's tie-break and counts without scanning trades).
    trade_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_trade_at: datetime | None = _when(nullable=True)
    questions_traded: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # An organiser who does not play: a member, off the leaderboard (services.roster).
    plays: bool = Field(default=True, sa_column_kwargs={"server_default": sa_true()})
    # Removed by an organiser: the trades stay, the member leaves the ranking and the game.
    removed_at: datetime | None = _when(nullable=True)

    @property
    def is_moderator(self) -> bool:
        return self.role in ("moderator", "owner")


class Question(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("competition_id", "pack_key"),)
    id: int | None = Field(default=None, primary_key=True)
    competition_id: int = Field(foreign_key="competition.id", index=True)
    title: str = Field(max_length=300)
    description: str = ""
    resolution_criteria: str = ""
    source: str = ""
    kind: str = Field(default="binary", max_length=20)  # binary | multiple_choice
    status: str = Field(default="open", max_length=10)  # open | closed | resolved | cancelled
    close_at: datetime = _when()
    liquidity: int = _money()
    mm_cash: int = _money()  # points the market maker holds: trade costs in, payouts out
    resolved_outcome_id: int | None = None
    resolution_note: str = ""
    resolution_source_url: str = ""
    resolved_at: datetime | None = _when(nullable=True)
    resolution_action_id: int | None = None
    pack_key: str | None = Field(default=None, max_length=120)
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = _when()
    trade_count: int = 0


class Outcome(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("question_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    question_id: int = Field(foreign_key="question.id", index=True)
    position: int
    label: str = Field(max_length=120)
    q: int = _money()  # shares sold by the market maker, including the opening q0
    q0: int = _money()  # opening state (b ln p for chosen opening probabilities)


class Trade(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_trade_question_id_id", "question_id", "id"),
    )
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    question_id: int = Field(foreign_key="question.id")
    membership_id: int = Field(foreign_key="membership.id", index=True)
    user_id: int = Field(foreign_key="user.id")
    outcome_id: int = Field(foreign_key="outcome.id")
    kind: str = Field(max_length=16)  # spend | sell | to_probability
    shares: int = _money()  # + bought, - sold
    cost: int = _money()  # + paid, - received
    balance_after: int = _money()
    probabilities: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    forecast: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_hash: str | None = Field(default=None, max_length=64)
    created_at: datetime = _when()


class Position(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("membership_id", "outcome_id"),)
    id: int | None = Field(default=None, primary_key=True)
    membership_id: int = Field(foreign_key="membership.id", index=True)
    question_id: int = Field(foreign_key="question.id", index=True)
    outcome_id: int = Field(foreign_key="outcome.id")
    shares: int = _money()
    spent: int = _money()  # net points put in: costs paid minus proceeds received


class LedgerEntry(SQLModel, table=True):
    """One movement of points into (amount > 0) or out of (< 0) one account.

    The account is a member's wallet (membership_id) or a question's market
    maker (question_id, membership_id null).  A grant has no counterpart: it
    is the competition minting the starting balance.  Rows are never updated
    or deleted; a reversal is a new row.
    """

    __table_args__ = (Index("ix_ledger_competition", "competition_id"),)
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    competition_id: int = Field(foreign_key="competition.id")
    membership_id: int | None = Field(default=None, foreign_key="membership.id", index=True)
    question_id: int | None = Field(default=None, foreign_key="question.id", index=True)
    amount: int = _money()
    kind: str = Field(max_length=16)  # grant | trade | payout | refund | reversal
    trade_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    action_id: int | None = Field(default=None, foreign_key="moderatoraction.id", index=True)
    created_at: datetime = _when()


class ModeratorAction(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    competition_id: int = Field(foreign_key="competition.id", index=True)
    question_id: int | None = Field(default=None, foreign_key="question.id")
    user_id: int | None = Field(default=None, foreign_key="user.id")
    action: str = Field(max_length=30)
    reason: str = ""
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _when()


class Score(SQLModel, table=True):
    """A player's time-averaged Brier score on a resolved question."""

    __table_args__ = (UniqueConstraint("question_id", "membership_id"),)
    id: int | None = Field(default=None, primary_key=True)
    question_id: int = Field(foreign_key="question.id", index=True)
    membership_id: int = Field(foreign_key="membership.id", index=True)
    brier: float
    created_at: datetime = _when()


class Comment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    question_id: int = Field(foreign_key="question.id", index=True)
    user_id: int = Field(foreign_key="user.id")
    body: str = Field(max_length=2000)
    hidden: bool = False
    created_at: datetime = _when()


class PasswordReset(SQLModel, table=True):
    """A one-time link an organiser hands a member who forgot their password
    (services.resets): only its hash is kept; used once, or never after it expires."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    created_by: int | None = Field(default=None, foreign_key="user.id")
    competition_id: int | None = Field(default=None, foreign_key="competition.id")
    created_at: datetime = _when()
    expires_at: datetime = _when()
    used_at: datetime | None = _when(nullable=True)
