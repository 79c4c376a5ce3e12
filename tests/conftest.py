"""Shared fixtures: a real hotplugd per test (see tests/support)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.hotplug import Service, running_service


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """A hotplugd on the built-in layout, SQLite in tmp_path, fixed admin/viewer tokens."""
    async with running_service(tmp_path) as running:
        yield running
