"""Websocket handshakes that must be refused (SPEC §6/§7 auth)."""

from __future__ import annotations

import asyncio
import contextlib

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.server import seconds


async def refused_status(url: str, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of a refused websocket handshake; fails the test if it is accepted."""
    try:
        ws = await connect(url, additional_headers=headers, open_timeout=seconds(5))
    except InvalidStatus as exc:
        return exc.response.status_code
    frame: object = None
    try:
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            frame = await asyncio.wait_for(ws.recv(), seconds(1))
    finally:
        await ws.close()
    raise AssertionError(f"handshake to {url} was accepted (first frame: {frame!r})")
