"""Blueprints and the cross-cutting web pieces (errors, headers, the current user)."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

from forecast.web import errors, security


class IdConverter(IntegerConverter):
    """``<int:...>`` in a path names a row, and id columns are INTEGER: a number past
    2**31 - 1 cannot be one (PostgreSQL refuses to compare it, SQLite to bind past 2**63),
    so such a path is a 404 rather than a 500.  Give ``int(max=...)`` for a BIGINT id."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


def register(app: Flask) -> None:
    from forecast.web import (
        admin,
        api,
        auth,
        comments,
        competitions,
        filters,
        home,
        leaderboard,
        moderate,
        portfolio,
        profile,
        questions,
    )

    app.url_map.converters["int"] = IdConverter
    filters.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    pages = (home, questions, leaderboard, portfolio)
    for module in (auth, *pages, moderate, competitions, comments, profile, admin, api):
        app.register_blueprint(module.bp)
    from forecast.web import joining, live, players, roster, times

    for module in (live, roster, players):  # the classroom's pages
        app.register_blueprint(module.bp)
    joining.init_app(app)
    times.init_app(app)
