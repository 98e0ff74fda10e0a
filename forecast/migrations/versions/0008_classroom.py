"""classroom: projector view links, roster marks, password reset links

Competition.view_token opens a private competition's projector view to anyone
holding the link.  Membership.plays is false for an organiser who does not
play (off the leaderboard); Membership.removed_at marks a member an organiser
removed (their trades stay).  PasswordReset keeps the hashes of the one-time
links an organiser hands a member who forgot their password.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 01:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite has it): a batch copy would reflect the user table, whose
    # expression index SQLAlchemy cannot reflect.
    op.add_column("competition", sa.Column("view_token", sa.String(length=64), nullable=True))
    op.add_column(
        "membership", sa.Column("plays", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    op.add_column("membership", sa.Column("removed_at", sa.DateTime(), nullable=True))
    op.create_table(
        "passwordreset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("competition_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["competition_id"], ["competition.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_passwordreset_user_id", "passwordreset", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("passwordreset")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_column("removed_at")
        batch_op.drop_column("plays")
    with op.batch_alter_table("competition", schema=None) as batch_op:
        batch_op.drop_column("view_token")
