"""A dashboard stand-in: reads ``/api/v1/events`` into a list in the background."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.support.server import seconds, wait_for

Event = dict[str, Any]


class EventReader:
    """Every CloudEvent the stream sends, in order, with bounded waits on them."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[Event] = []
        self.close_code: int | None = None
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.events.append(json.loads(raw))
        except Exception:  # the connection ended: tests look at close_code
            pass
        finally:
            self.close_code = self.ws.close_code

    def types(self) -> list[str]:
        """The event types received so far, in order."""
        return [event["type"] for event in self.events]

    def of_type(self, type_: str) -> list[Event]:
        """The events of one type received so far."""
        return [event for event in self.events if event["type"] == type_]

    async def wait_for(
        self, type_: str, where: Callable[[Event], bool] = lambda _e: True, timeout: float = 5
    ) -> Event:
        """The first event of ``type_`` matching ``where``; waits (bounded) for it."""

        def found() -> bool:
            return any(e["type"] == type_ and where(e) for e in self.events)

        await wait_for(found, timeout)
        return next(e for e in self.events if e["type"] == type_ and where(e))

    async def wait_count(self, count: int, timeout: float = 5) -> None:
        """Wait until at least ``count`` events arrived."""
        await wait_for(lambda: len(self.events) >= count, timeout)

    async def ended(self, timeout: float = 5) -> int | None:
        """Wait until the server closed the stream; its close code."""
        await asyncio.wait_for(asyncio.shield(self._task), seconds(timeout))
        return self.close_code

    async def close(self) -> None:
        """Close the stream and stop reading."""
        await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, seconds(5))


@contextlib.asynccontextmanager
async def event_stream(
    base_ws: str, token: str | None, *, since: int | str | None = None, query_token: bool = False
) -> AsyncIterator[EventReader]:
    """Open ``/api/v1/events`` (header or ``?access_token=``) and read it until the block ends."""
    params = []
    headers = {}
    if token is not None and query_token:
        params.append(f"access_token={token}")
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if since is not None:
        params.append(f"since={since}")
    url = f"{base_ws}/api/v1/events" + (f"?{'&'.join(params)}" if params else "")
    ws = await connect(url, additional_headers=headers, open_timeout=seconds(5))
    reader = EventReader(ws)
    try:
        yield reader
    finally:
        await reader.close()
