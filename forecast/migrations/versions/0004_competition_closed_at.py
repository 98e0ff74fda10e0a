"""competition closed_at

Competition.closed_at records when the owner closed a competition, so its
final standings are computed as of that moment however the questions are
resolved afterwards.  Competitions closed before this revision take the time
of their close_competition moderator action.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 11:30:00
"""

from alembic import op
import sqlalchemy as sa

import forecast.models


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("competition", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_at", forecast.models.UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE competition SET closed_at = (SELECT max(moderatoraction.created_at) "
        "FROM moderatoraction WHERE moderatoraction.competition_id = competition.id "
        "AND moderatoraction.action = 'close_competition') WHERE status = 'closed'"
    )


def downgrade() -> None:
    with op.batch_alter_table("competition", schema=None) as batch_op:
        batch_op.drop_column("closed_at")
