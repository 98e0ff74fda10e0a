"""Blueprints and the cross-cutting web pieces (errors, headers, the current user)."""

from __future__ import annotations

from flask import Flask

from forecast.web import security


def register(app: Flask) -> None:
    from forecast.web import auth, pages

    security.init_app(app)
    auth.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
