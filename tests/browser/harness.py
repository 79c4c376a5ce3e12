"""What the browser tests share: Playwright, where Chromium is, screenshots, waits.

Playwright drives Debian's Chromium at /usr/bin/chromium through
``executable_path``; no browser is downloaded (``playwright install`` cannot
work here). When Playwright or Chromium is missing, the browser tests skip
with the reason locally and fail in CI (``CI=true``), where ``.ci/run``
installs the ``chromium`` package and ``make`` the dev extras: a missing
browser there is a broken setup, not something to skip quietly.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from tests.support.server import seconds

IN_CI = os.environ.get("CI") == "true"

try:
    from playwright.async_api import (
        Browser,
        ConsoleMessage,
        Locator,
        Page,
        ViewportSize,
        async_playwright,
        expect,
    )
except ImportError:
    if IN_CI:
        raise
    pytest.skip(
        "browser tests skipped: the playwright package is missing (pip install -e '.[dev]')",
        allow_module_level=True,
    )

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "EXPECT_TIMEOUT_MS",
    "IN_CI",
    "LAUNCH_ARGS",
    "VIEWPORT",
    "Browser",
    "ConsoleMessage",
    "Locator",
    "OpenDashboard",
    "Page",
    "async_playwright",
    "blocks",
    "chromium_missing",
    "expect",
    "screenshot",
]

CHROMIUM = Path(os.environ.get("HOTPLUG_TEST_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}
# How long an auto-waiting assertion may wait for the page to show a change.
EXPECT_TIMEOUT_MS = seconds(10) * 1000
ARTIFACTS = Path(__file__).parent / "artifacts"

# The ``dashboard`` fixture: ``async with dashboard(token) as page``.
OpenDashboard = Callable[..., AbstractAsyncContextManager[Page]]


def chromium_missing() -> str | None:
    """Why Chromium cannot be launched here, or None."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    found = shutil.which("chromium")
    elsewhere = f" (there is one at {found}: set HOTPLUG_TEST_CHROMIUM)" if found else ""
    return f"no Chromium at {CHROMIUM}{elsewhere}; install it with: apt-get install chromium"


def blocks(page: Page) -> Locator:
    """The block buttons of the memory map (other test ids start with ``block-`` too)."""
    return page.locator("#memory-nodes button[data-testid^='block-']")


async def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as it looks now to tests/browser/artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
    return path
