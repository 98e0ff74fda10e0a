"""Helpers for the hardening tests."""

from __future__ import annotations

import re
import time
import urllib.request

TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf(client, path: str = "/login") -> str:
    """A CSRF token from a page's form (it lives in this client's session)."""
    html = client.get(path).get_data(as_text=True)
    m = TOKEN_RE.search(html)
    assert m, path
    return m.group(1)


def get(url: str, timeout: float) -> tuple[int, float]:
    """GET ``url``; its status and how long the whole answer took."""
    began = time.monotonic()
    with urllib.request.urlopen(url, timeout=timeout) as r:
        r.read()
        return r.status, time.monotonic() - began
