"""competition member count

Competition.member_count is kept by each join, so the leaderboard's version
check reads one row instead of counting the members (on PostgreSQL a count
of 10,000 often-updated membership rows took 10 ms a page view).  Existing
rows are filled from the memberships.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:05:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("competition", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("member_count", sa.Integer(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE competition SET member_count = (SELECT count(*) FROM membership "
        "WHERE membership.competition_id = competition.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("competition", schema=None) as batch_op:
        batch_op.drop_column("member_count")
