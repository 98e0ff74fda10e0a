"""user session version and case-insensitive usernames

User.session_version is carried in each login cookie's user id; raising it ends
every session and remember cookie of that account.  A unique index on
lower(username) makes names differ by more than case in the database itself.
Names that already clash stop the upgrade with a list of them, before anything
changes: rename all but one of each group, then upgrade again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _clashes(conn) -> list[list[str]]:
    """Groups of usernames equal but for case, each sorted (by code point), in order."""
    rows = conn.execute(
        sa.text(
            'SELECT lower(username), username FROM "user" WHERE lower(username) IN '
            '(SELECT lower(username) FROM "user" GROUP BY lower(username) HAVING count(*) > 1) '
            "ORDER BY 1"
        )
    ).all()
    groups: dict[str, list[str]] = {}
    for lowered, name in rows:
        groups.setdefault(lowered, []).append(name)
    return [sorted(group) for group in groups.values()]


def upgrade() -> None:
    clashes = _clashes(op.get_bind())
    if clashes:
        listed = "; ".join(", ".join(group) for group in clashes)
        raise RuntimeError(
            "Usernames must differ by more than upper and lower case, and these do not: "
            f'{listed}. Rename all but one of each group (UPDATE "user" SET username = '
            "'new-name' WHERE id = ...), then run `forecast db upgrade` again."
        )
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_index("ux_user_username_lower", "user", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index("ux_user_username_lower", table_name="user")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("session_version")
