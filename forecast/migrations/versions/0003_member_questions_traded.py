"""member questions traded

Membership.questions_traded counts the questions a member ever traded; each
trade that opens the member's first position on a question adds one, so the
leaderboard needs no pass over every position.  Existing rows are filled
from the positions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:15:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("questions_traded", sa.Integer(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE membership SET questions_traded = (SELECT count(DISTINCT position.question_id) "
        "FROM position WHERE position.membership_id = membership.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_column("questions_traded")
