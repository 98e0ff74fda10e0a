"""Helpers for the player-page tests: sign in, fetch a CSRF token, seed questions.

Fixture names here (web, seeded, limited_app, signed_in) do not shadow the ones in
tests/conftest.py, so other test modules in this folder are not affected.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from sqlmodel import func, select

from forecast import create_app
from forecast.config import TestingConfig
from forecast.models import Membership, Trade
from forecast.services.questions import outcomes_of

TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
HX = {"HX-Request": "true"}


class Web:
    """The Flask test client with the steps a player takes."""

    def __init__(self, client, db) -> None:
        self.client = client
        self.db = db

    def login(self, user) -> None:
        with self.client.session_transaction() as sess:
            sess["_user_id"] = str(user.id)
            sess["_fresh"] = True

    def logout(self) -> None:
        with self.client.session_transaction() as sess:
            sess.clear()

    def token(self, path: str = "/login") -> str:
        """A CSRF token from a page's form (it lives in this client's session)."""
        r = self.client.get(path)
        m = TOKEN_RE.search(r.get_data(as_text=True))
        assert m, (path, r.status_code)
        return m.group(1)

    def form(self, path: str) -> dict:
        """The hidden fields of the trade form on a question page."""
        html = self.client.get(path).get_data(as_text=True)
        fields = {}
        for name in ("csrf_token", "idempotency_key", "mode"):
            m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
            assert m, name
            fields[name] = m.group(1)
        return fields

    def post(self, question, path: str = "trade", htmx: bool = False, **fields):
        """Post the question page's trade form (its hidden fields, then ``fields``) to
        ``path`` (trade or quote), as htmx when ``htmx``."""
        form = self.form(f"/questions/{question.id}")
        form.update({k: str(v) for k, v in fields.items()})
        headers = HX if htmx else {}
        return self.client.post(f"/questions/{question.id}/{path}", data=form, headers=headers)

    def trades(self) -> int:
        with self.db.session() as s:
            return s.exec(select(func.count()).select_from(Trade)).one()

    def balance(self, user, comp) -> int:
        with self.db.session() as s:
            return s.exec(
                select(Membership.balance).where(
                    Membership.user_id == user.id, Membership.competition_id == comp.id
                )
            ).one()

    def outcomes(self, question) -> list[int]:
        with self.db.session() as s:
            return [o.id for o in outcomes_of(s, question.id)]


@pytest.fixture
def web(client, db) -> Web:
    return Web(client, db)


@pytest.fixture
def seeded(tx, public):
    """The public competition with the Amazon-TikTok pack loaded."""
    from forecast.services import site

    tx(lambda s: site.seed_if_empty(session=s))
    return public


@pytest.fixture
def limited_app(db, database_url, tmp_path):
    """An app with rate limits switched on (TestingConfig switches them off)."""

    def make(**limits):
        config = TestingConfig(database_url, str(tmp_path / "limited"))
        config.RATELIMIT_ENABLED = True
        config.RATELIMIT_STORAGE_URI = "memory://"
        for name, value in limits.items():
            setattr(config, f"RATELIMIT_{name.upper()}", value)
        app = create_app(config)
        if not db.is_sqlite:
            app.extensions["forecast_db"] = db
        made.append(app)
        return app

    made: list = []
    yield make
    for app in made:
        if db.is_sqlite:
            app.extensions["forecast_db"].dispose()


@pytest.fixture
def signed_in():
    """signed_in(app, user, path): a client of ``app`` signed in as ``user`` (no password
    round trip), and the CSRF token of the page at ``path``."""

    def make(app, user, path: str):
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["_user_id"] = str(user.id)
        html = client.get(path).get_data(as_text=True)
        return client, TOKEN_RE.search(html).group(1)

    return make


class _Inputs(HTMLParser):
    """Collects form controls, labels and ids to check that every input has a visible label."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict] = []
        self.label_for: set[str] = set()
        self.ids: list[str] = []
        self._label_depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append({**a, "_wrapped": self._label_depth > 0, "_tag": tag})

    def handle_endtag(self, tag):
        if tag == "label":
            self._label_depth -= 1


def unlabelled(html: str) -> list[dict]:
    """Form controls with no <label> (neither wrapping them nor pointing at them)."""
    p = _Inputs()
    p.feed(html)
    return [c for c in p.controls if not c["_wrapped"] and c.get("id") not in p.label_for]


def duplicate_ids(html: str) -> set[str]:
    p = _Inputs()
    p.feed(html)
    return {i for i in p.ids if p.ids.count(i) > 1}


def field_error(html: str, field_id: str) -> str:
    """The error shown right under a field."""
    m = re.search(rf'<p class="field-error" id="{field_id}-error">([^<]*)</p>', html)
    return m.group(1) if m else ""


@pytest.fixture
def checks() -> SimpleNamespace:
    """HTML checks shared by the page tests."""
    return SimpleNamespace(
        unlabelled=unlabelled, duplicate_ids=duplicate_ids, field_error=field_error, HX=HX
    )
