"""Helpers for the hardening tests: a client signed in as someone, with a CSRF token."""

from __future__ import annotations

import re

import pytest

TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf(client, path: str = "/login") -> str:
    """A CSRF token from a page's form (it lives in this client's session)."""
    html = client.get(path).get_data(as_text=True)
    m = TOKEN_RE.search(html)
    assert m, path
    return m.group(1)


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
