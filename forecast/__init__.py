"""forecast: a play-money prediction-market game for a class or an office."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from forecast.config import Config

_PACKAGE = Path(__file__).resolve().parent


def _folder(name: str) -> str:
    """``templates/`` or ``static/``: inside the package in an installed wheel (pyproject.toml
    maps them there), else at the project root beside ``forecast/`` in a checkout."""
    inside = _PACKAGE / name
    return str(inside if inside.is_dir() else _PACKAGE.parent / name)


def create_app(config: Config | None = None) -> Flask:
    """Build the app: config, database, extensions, blueprints, security headers."""
    config = config or Config()
    app = Flask(
        __name__,
        instance_path=config.INSTANCE_PATH,
        instance_relative_config=False,
        template_folder=_folder("templates"),
        static_folder=_folder("static"),
    )
    app.config.from_object(config)

    from forecast.db import Database, close_session

    app.extensions["forecast_db"] = Database(app.config["DATABASE_URL"])
    app.teardown_appcontext(close_session)

    from forecast import cache

    cache.init_app(app)

    from forecast.extensions import csrf, limiter, login_manager

    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    from forecast.web import register

    register(app)
    return app
