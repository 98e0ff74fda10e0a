"""member trade stats, ledger rows by moderator action

Membership.trade_count and last_trade_at are kept by each trade, so the
leaderboard needs no scan of every trade; existing rows are filled from the
trades.  An index on ledgerentry.action_id lets an undo find the rows of the
resolution it reverses without reading the whole ledger.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 08:20:00
"""

from alembic import op
import sqlalchemy as sa
import forecast.models


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trade_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("last_trade_at", forecast.models.UTCDateTime(), nullable=True)
        )
    op.execute(
        "UPDATE membership SET "
        "trade_count = (SELECT count(*) FROM trade WHERE trade.membership_id = membership.id), "
        "last_trade_at = (SELECT max(trade.created_at) FROM trade "
        "WHERE trade.membership_id = membership.id)"
    )
    with op.batch_alter_table("ledgerentry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledgerentry_action_id"), ["action_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledgerentry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledgerentry_action_id"))
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_column("last_trade_at")
        batch_op.drop_column("trade_count")
