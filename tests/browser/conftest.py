"""Fixtures for the browser tests: a real hotplugd and a real headless Chromium.

``browser`` is one Chromium per test module (launching it is the slow part),
with a fresh temporary profile, closed at the end of the module. Every test
still starts clean: ``dashboard(token)`` opens a new browser context (no
cookies, no session storage, no cache) and page on the start-up link
``/#token=<token>``, and fails the test on any script error or console
error/warning the page reports. ``service`` is a fresh in-process hotplugd per
test on the built-in layout.

Playwright's objects belong to the event loop that created them, so the
browser tests run in one loop per module: the test modules set
``pytestmark = pytest.mark.asyncio(loop_scope="module")``, and ``service`` is
redefined here to start its server in that same loop.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from tests.support.hotplug import Service, running_service
from tests.support.server import seconds

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Page

    from tests.browser.harness import OpenDashboard


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    """A headless Chromium (Debian's, not a download), closed after the module."""
    from tests.browser.harness import (
        CHROMIUM,
        EXPECT_TIMEOUT_MS,
        IN_CI,
        LAUNCH_ARGS,
        async_playwright,
        chromium_missing,
        expect,
    )

    reason = chromium_missing()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
        pytest.skip(f"browser tests skipped: {reason}")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=LAUNCH_ARGS,
            downloads_path=tmp_path_factory.mktemp("downloads"),
            timeout=seconds(30) * 1000,
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """A hotplugd on the built-in layout (28 blocks, nodes 0-2), in the module's loop."""
    async with running_service(tmp_path) as running:
        yield running


@pytest.fixture
def dashboard(browser: Browser, service: Service) -> OpenDashboard:
    """``async with dashboard(token) as page``: the page opened with ``/#token=<token>``."""
    from tests.browser.harness import EXPECT_TIMEOUT_MS, VIEWPORT

    @asynccontextmanager
    async def open_page(
        token: str | None, *, allowed_console: Iterable[str] = ()
    ) -> AsyncIterator[Page]:
        allowed = [re.compile(pattern) for pattern in allowed_console]
        problems: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning") and not any(
                pattern.search(message.text) for pattern in allowed
            ):
                problems.append(f"console.{message.type}: {message.text}")

        context = await browser.new_context(viewport=VIEWPORT, service_workers="block")
        try:
            page = await context.new_page()
            page.set_default_timeout(EXPECT_TIMEOUT_MS)
            page.on("console", on_console)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            fragment = f"#token={token}" if token else ""
            await page.goto(f"{service.server.http}/{fragment}")
            yield page
        finally:
            await context.close()
        assert not problems, "the page reported errors:\n" + "\n".join(problems)

    return open_page
