"""Fixtures for the hardening tests: a client signed in as someone, with a CSRF token."""

from __future__ import annotations

import pytest
from security_helpers import csrf


@pytest.fixture
def signed_in(app):
    """signed_in(user, path="/"): a test client signed in as ``user`` and a CSRF token."""

    def make(user, path: str = "/", application=None):
        client = (application or app).test_client()
        with client.session_transaction() as sess:
            sess["_user_id"] = str(user.id)
            sess["_fresh"] = True
        return client, csrf(client, path)

    return make


@pytest.fixture
def limited_app(db, database_url, tmp_path):
    """limited_app(login="2 per minute", ...): an app with rate limits on, in memory."""
    from forecast import config, create_app

    made = []

    def make(**limits):
        cfg = config.TestingConfig(database_url, str(tmp_path / f"limited{len(made)}"))
        cfg.RATELIMIT_ENABLED = True
        cfg.RATELIMIT_STORAGE_URI = "memory://"
        for name, value in limits.items():
            setattr(cfg, f"RATELIMIT_{name.upper()}", value)
        app = create_app(cfg)
        if not db.is_sqlite:
            app.extensions["forecast_db"] = db
        made.append(app)
        return app

    yield make
    for app in made:
        if db.is_sqlite:
            app.extensions["forecast_db"].dispose()
