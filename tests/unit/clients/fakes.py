"""A fake websocket service for the subscriber and the event stream: no network.

`FakeChannel` is one connection: the test pushes frames into it, and ends it
with a close code, as the service would; `FakeService` hands out a scripted
channel (or connection failure) per connection attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.frames import Close

from clients._ws import Channel

DEADLINE = 5.0  # seconds; every wait in these tests is bounded by it


class FakeChannel:
    """One connection as the subscriber sees it."""

    def __init__(self, *frames: str, fail_send: bool = False) -> None:
        self._incoming: asyncio.Queue[str | Close] = asyncio.Queue()
        for frame in frames:
            self.push(frame)
        self.sent: list[dict[str, Any]] = []
        self.fail_send = fail_send
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._sent_event = asyncio.Event()

    def push(self, frame: str) -> None:
        """The service sends a frame."""
        self._incoming.put_nowait(frame)

    def drop(self, code: int, reason: str = "") -> None:
        """The service closes the connection with ``code``."""
        self._incoming.put_nowait(Close(code, reason))

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str | bytes]:
        while True:
            item = await self._incoming.get()
            if isinstance(item, Close):
                self.close_code, self.close_reason = item.code, item.reason
                if item.code in (1000, 1001):
                    return
                raise ConnectionClosedError(item, item, True)
            yield item

    async def send(self, message: str) -> None:
        if self.fail_send:  # the connection died while the handler ran
            self.close_code = 1006
            raise ConnectionClosedError(None, None)
        self.sent.append(json.loads(message))
        self._sent_event.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.drop(code, reason)

    async def wait_sent(self, count: int) -> list[dict[str, Any]]:
        """Wait (bounded) until ``count`` frames were sent."""
        async with asyncio.timeout(DEADLINE):
            while len(self.sent) < count:
                self._sent_event.clear()
                await self._sent_event.wait()
        return self.sent


class FakeService:
    """Hands out one scripted channel (or raises one exception) per connection attempt."""

    def __init__(self, *script: FakeChannel | BaseException) -> None:
        self.script = list(script)
        self.attempts: list[tuple[str, dict[str, str]]] = []
        self._attempted = asyncio.Event()

    def connector(
        self, url: str, headers: Mapping[str, str]
    ) -> AbstractAsyncContextManager[Channel]:
        self.attempts.append((url, dict(headers)))
        self._attempted.set()
        item = self.script.pop(0) if self.script else OSError("no more connections")

        @contextlib.asynccontextmanager
        async def connection() -> AsyncIterator[Channel]:
            if isinstance(item, BaseException):
                raise item
            yield item

        return connection()

    async def wait_attempts(self, count: int) -> None:
        """Wait (bounded) until ``count`` connections were attempted."""
        async with asyncio.timeout(DEADLINE):
            while len(self.attempts) < count:
                self._attempted.clear()
                await self._attempted.wait()


__all__ = ["DEADLINE", "ConnectionClosedOK", "FakeChannel", "FakeService"]
