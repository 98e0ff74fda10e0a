"""drop question.comments_version

Nothing reads it: the question page reads its comments with the page.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 05:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain DROP COLUMN (SQLite has it since 3.35): a batch copy of the question table
    # would rebuild it under the tables that refer to it.
    op.drop_column("question", "comments_version")


def downgrade() -> None:
    op.add_column(
        "question",
        sa.Column("comments_version", sa.Integer(), server_default="0", nullable=False),
    )
