"""question comments version

Question.comments_version counts each comment added, hidden or shown again, so
a question page can keep the comments it drew until they change (with the
question's trade_count, which moves the commenters' positions) instead of
reading them on every view.  A server of an older release adds comments
without counting them; pages keep comments at most a minute, so what it
writes shows within that while servers are upgraded one by one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 22:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("question", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("comments_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("question", schema=None) as batch_op:
        batch_op.drop_column("comments_version")
