"""With FORECAST_RATELIMIT_STORAGE naming a Redis server, app servers on different
machines (here: two apps) share one budget per token.  Needs Redis on 127.0.0.1:6379."""

from __future__ import annotations

import secrets
import socket

import pytest

from forecast import config, create_app
from forecast.services import accounts
from forecast.services.questions import outcomes_of

REDIS = "redis://127.0.0.1:6379/0"


def _redis_listening() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_listening(), reason="no Redis server on 127.0.0.1:6379")
def test_two_app_servers_share_one_budget_through_redis(
    db, database_url, tmp_path, monkeypatch, tx, make_user, make_question
):
    monkeypatch.setenv("FORECAST_RATELIMIT_STORAGE", REDIS)
    monkeypatch.setenv("FORECAST_RATELIMIT", "trade=3 per minute")
    prefix = f"forecast-test-{secrets.token_hex(4)}"  # this run's counts only
    apps = []
    for k in range(2):
        cfg = config.TestingConfig(database_url, str(tmp_path / f"server{k}"))
        cfg.RATELIMIT_ENABLED = True
        cfg.RATELIMIT_KEY_PREFIX = prefix
        assert cfg.RATELIMIT_STORAGE_URI == REDIS
        app = create_app(cfg)
        if not db.is_sqlite:
            app.extensions["forecast_db"] = db
        apps.append(app)
    user = make_user("bot")
    token = tx(lambda s: accounts.create_token(session=s, user_id=user.id))[1]
    q = make_question()
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    statuses = [
        apps[k % 2]
        .test_client()
        .post(
            f"/api/v1/questions/{q.id}/trades",
            json={"outcome": yes, "spend": 1},
            headers={"Authorization": f"Bearer {token}"},
        )
        .status_code
        for k in range(6)
    ]
    assert statuses == [201, 201, 201, 429, 429, 429]
    for app in apps:
        if db.is_sqlite:
            app.extensions["forecast_db"].dispose()
