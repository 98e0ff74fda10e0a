"""web/render.py: one helper decides page or fragment from the HX-Request header."""

from __future__ import annotations

import pytest

from forecast.web.render import is_htmx


@pytest.mark.parametrize(
    "headers, fragment",
    [
        ({}, False),
        ({"HX-Request": "true"}, True),
        ({"HX-Request": "false"}, False),
        ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, False),
        ({"HX-Request": "true", "HX-Boosted": "true"}, False),
    ],
)
def test_is_htmx(app, headers, fragment):
    with app.test_request_context("/", headers=headers):
        assert is_htmx() is fragment


def test_the_same_url_serves_page_and_fragment_and_says_so(client, public):
    page = client.get("/c/public/leaderboard")
    fragment = client.get("/c/public/leaderboard", headers={"HX-Request": "true"})
    assert "<html" in page.get_data(as_text=True)
    assert "<html" not in fragment.get_data(as_text=True)
    for r in (page, fragment):
        assert "HX-Request" in r.headers["Vary"]
