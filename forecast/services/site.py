"""Getting a site ready: migrations, the public competition, the seed pack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session, func, select

from forecast.models import Question
from forecast.services import competitions, packs

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


# Alembic is imported where it is used: a server never loads it (see upgrade_apart).
def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Apply every migration (alembic upgrade head)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def upgrade_apart(url: str) -> None:
    """:func:`upgrade` in a Python process of its own: a server that migrates its
    database as it starts never loads alembic, which it would keep in memory for as
    long as it serves.  The URL goes by the environment, not the command line, which
    other users of the machine can read.  Raises CalledProcessError when the
    migration fails (its traceback on stderr)."""
    name = "FORECAST_MIGRATE_URL"
    code = f"import os; from forecast.services.site import upgrade; upgrade(os.environ[{name!r}])"
    subprocess.run([sys.executable, "-c", code], env={**os.environ, name: url}, check=True)


def seed_if_empty(*, session: Session) -> int:
    """Create `public` and load the seed pack when the public competition has no questions."""
    public = competitions.ensure_public(session=session)
    n = session.exec(
        select(func.count()).select_from(Question).where(Question.competition_id == public.id)
    ).one()
    if n:
        return 0
    return len(packs.load_seed(session=session, competition=public))
