"""Getting a site ready: migrations, the public competition, the seed pack."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlmodel import Session, func, select

from forecast.models import Question
from forecast.services import competitions, packs

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Apply every migration (alembic upgrade head)."""
    command.upgrade(alembic_config(url), "head")


def seed_if_empty(*, session: Session) -> int:
    """Create `public` and load the seed pack when the public competition has no questions."""
    public = competitions.ensure_public(session=session)
    n = session.exec(
        select(func.count()).select_from(Question).where(Question.competition_id == public.id)
    ).one()
    if n:
        return 0
    return len(packs.load_seed(session=session, competition=public))
