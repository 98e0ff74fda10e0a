"""A real server in a thread (werkzeug's make_server on 127.0.0.1, a free port)
and Debian's Chromium through Playwright.

Skips when /usr/bin/chromium is missing, unless CI=true: then it must run.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from forecast import create_app
from forecast.config import TestingConfig

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists() or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


class LiveServer:
    """The app served by werkzeug in a background thread."""

    def __init__(self, app) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def live_app(db, database_url, tmp_path):
    """The app with the seed pack loaded, on the test's fresh database."""
    from forecast.services import site

    app = create_app(TestingConfig(database_url, str(tmp_path / "instance")))
    if not db.is_sqlite:
        app.extensions["forecast_db"] = db
    app.extensions["forecast_db"].transaction(lambda s: site.seed_if_empty(session=s))
    yield app
    if db.is_sqlite:
        app.extensions["forecast_db"].dispose()


@pytest.fixture
def live_server(live_app) -> Iterator[LiveServer]:
    with LiveServer(live_app) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    # Module scope: closed before another module starts its own Playwright.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser):
    # bypass_csp: axe-core is injected into pages (a11y.py), which the site's CSP forbids;
    # test_moderate_browser.py checks the CSP itself in a context of its own.
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    expected = re.compile(r"Failed to load resource: .* status of 4(09|22) ")  # shown in the panel

    def console(m) -> None:
        if m.type == "error" and not expected.match(m.text):
            errors.append(m.text)

    p.on("console", console)
    yield p
    assert not errors, f"errors in the browser console: {errors}"


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where screenshots go: docs/screenshots/ (for README.md) when FORECAST_SCREENSHOTS=1,
    else a temporary folder, so an ordinary test run leaves the tree clean."""
    if os.environ.get("FORECAST_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path


@pytest.fixture
def no_js_page(browser):
    ctx = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    yield ctx.new_page()
    ctx.close()
