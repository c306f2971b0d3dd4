"""A real browser: Playwright driving Debian's chromium (`make browser` installs it with apt).

Pages are opened with every request that leaves loopback aborted and recorded, so a test sees a
page that needs the network fail instead of silently fetching from a CDN.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

CHROMIUM = os.environ.get("SESSION_ENGINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One chromium per module: Playwright's sync API runs an event loop in this thread while it is
    open, and the async tests of later modules need the thread's loop free (a session-scoped
    browser failed every async test collected after the browser tests)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no chromium at {CHROMIUM}: run `make browser` (apt install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


class OfflinePage:
    """A page whose requests beyond loopback are aborted; `.outside` lists what it asked for."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.outside: list[str] = []
        self.failed: list[str] = []
        page.route("**/*", self._route)
        page.on("requestfailed", lambda request: self.failed.append(request.url))

    def _route(self, route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host in LOOPBACK:
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()


@pytest.fixture
def offline_page(browser: Browser) -> Iterator[OfflinePage]:
    context = browser.new_context()
    try:
        yield OfflinePage(context.new_page())
    finally:
        context.close()
