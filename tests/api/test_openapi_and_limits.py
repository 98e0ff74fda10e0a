"""The OpenAPI document covers every API route; rate limits answer 429 in the error shape."""

from __future__ import annotations

import re

import pytest
import schemathesis
from api_helpers import Api, error_code

from forecast import config as forecast_config
from forecast import create_app


def _openapi_path(rule: str) -> str:
    path = rule.removeprefix("/api/v1")
    return re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", path)


def test_the_document_describes_every_api_route(app, api):
    r = api.get("/openapi.json")
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert doc["components"]["schemas"]["Error"]["properties"]["error"]["required"] == [
        "code",
        "message",
    ]
    routes = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (path, method)
            assert "401" in op["responses"] and "429" in op["responses"], (path, method)
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == set(re.findall(r"{(\w+)}", path)), (path, method)
            if method == "post":
                assert "requestBody" in op and "422" in op["responses"], path
    # schemathesis accepts it (it validates the document when loading)
    schema = schemathesis.openapi.from_dict(doc)
    assert len(list(schema.get_all_operations())) == len(documented)


def test_writes_need_a_token_in_the_document_and_in_fact(app, api, world):
    doc = api.get("/openapi.json").get_json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method != "get":
                assert op["security"] == [{"bearerAuth": []}], (path, method)
                concrete = path.replace("{slug}", "public").replace(
                    "{question_id}", str(world.q.id)
                )
                r = api.client.open(f"/api/v1{concrete}", method=method.upper(), json={})
                assert r.status_code == 401, (path, method)


@pytest.fixture
def limited_app(database_url, db, tmp_path):
    config = forecast_config.TestingConfig(database_url, str(tmp_path / "instance"))
    config.RATELIMIT_ENABLED = True
    config.RATELIMIT_API = "6 per minute"
    config.RATELIMIT_TRADE = "2 per minute"
    application = create_app(config)
    if not db.is_sqlite:
        application.extensions["forecast_db"] = db
    yield application
    if db.is_sqlite:
        application.extensions["forecast_db"].dispose()
    # leave the shared limiter off for the apps of later tests
    create_app(forecast_config.TestingConfig(database_url, str(tmp_path / "instance"))).extensions[
        "forecast_db"
    ].dispose()


def test_rate_limits_are_per_token_and_answer_429(limited_app, world):
    client = limited_app.test_client()
    alice = Api(client, world.tokens["alice"])
    bob = Api(client, world.tokens["bob"])
    path = f"/questions/{world.q.id}/trades"
    body = {"outcome": world.yes, "spend": 1}
    assert [alice.post(path, json=body).status_code for _ in range(3)] == [201, 201, 429]
    r = alice.post(path, json=body)
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # the API budget (6) counts every answered request of the token, its 2 trades included
    statuses = [alice.get("/me").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    # another token has its own budget
    assert bob.post(path, json=body).status_code == 201
    assert bob.get("/me").status_code == 200


def test_forecast_ratelimit_off_turns_limits_off(monkeypatch, tmp_path):
    monkeypatch.setenv("FORECAST_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FORECAST_RATELIMIT", "off")
    assert forecast_config.Config().RATELIMIT_ENABLED is False
    monkeypatch.setenv("FORECAST_RATELIMIT", "trade=60 per minute")
    config = forecast_config.Config()
    assert config.RATELIMIT_ENABLED is True and config.RATELIMIT_TRADE == "60 per minute"
    assert config.RATELIMIT_API == "600 per minute"
