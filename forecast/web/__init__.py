"""Blueprints and the cross-cutting web pieces (errors, headers, the current user)."""

from __future__ import annotations

from flask import Flask

from forecast.web import errors, security


def register(app: Flask) -> None:
    from forecast.market.money import fmt
    from forecast.web import admin, api, auth, comments, competitions, moderate, pages, profile

    app.add_template_global(fmt, "fmt")
    security.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    for module in (auth, pages, moderate, competitions, comments, profile, admin, api):
        app.register_blueprint(module.bp)
    if app.config.get("BENCH_FLOOR"):
        from forecast.web import bench

        app.register_blueprint(bench.bp)
