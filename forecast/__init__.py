"""forecast: a play-money prediction-market game for a class or an office."""

from __future__ import annotations

from flask import Flask

from forecast.config import Config


def create_app(config: Config | None = None) -> Flask:
    """Build the app: config, database, extensions, blueprints, security headers."""
    config = config or Config()
    app = Flask(__name__, instance_path=config.INSTANCE_PATH, instance_relative_config=False)
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
