"""Debian's chromium, driven by Playwright, against the whole stack started by the launcher."""

from __future__ import annotations

import pytest

from tests.conftest import require_binary
from tests.stack import Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


# Module scope: sync Playwright keeps an event loop running in the main thread while it is
# open, which would break later async and async_to_sync tests in the same session.
@pytest.fixture(scope="module")
def browser():
    executable = require_binary(CHROMIUM, "browser tests drive Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    require_binary("redis-server", "the launcher starts the system redis-server")
    stack = Stack(tmp_path_factory.mktemp("stack") / "var")
    try:
        stack.start()
        yield stack
        stack.ctrl_c()
    finally:
        stack.kill_leftovers()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
