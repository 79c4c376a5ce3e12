"""The dashboard event stream over one websocket (SPEC §7).

The handler's task sends the observer's events; a reader task owned by it
notices the peer leaving (and floods: the stream is read-only, so anything the
peer sends is ignored, but not without limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.engine.events import Observer, ObserverEnd
from app.transport.limits import FloodLimits, TokenBucket
from app.transport.tasks import stop_task

__all__ = ["CloseFrame", "stream_events"]

logger = logging.getLogger(__name__)

CloseFrame = tuple[int, str]
TOO_SLOW: CloseFrame = (1008, "observer too slow")
FLOODING: CloseFrame = (1008, "too many frames")
GOING_AWAY: CloseFrame = (1001, "service shutting down")


async def stream_events(websocket: WebSocket, observer: Observer, limits: FloodLimits) -> None:
    """Send the observer's events on an accepted websocket until one side ends.

    An overflowed observer is closed with 1008 "observer too slow", a closed
    bus with 1001; a peer that left gets nothing more.
    """
    reader = asyncio.create_task(_read_until_end(websocket, limits), name="events-reader")
    reader.add_done_callback(lambda _: observer.close())
    try:
        peer_gone = await _send_events(websocket, observer)
        close = None if peer_gone else _close_frame(observer, reader)
    finally:
        await stop_task(reader)
    if close is not None:
        with contextlib.suppress(WebSocketDisconnect):  # it may leave meanwhile
            await websocket.close(*close)


async def _send_events(websocket: WebSocket, observer: Observer) -> bool:
    """Send until the observer ends; True when the peer went away first."""
    try:
        async for event in observer:
            await websocket.send_text(_encode(event))
    except WebSocketDisconnect:
        return True
    return False


def _encode(event: object) -> str:
    """The event's JSON text, encoded once for all observers (they share the object)."""
    key = id(event)
    cached = _ENCODED.get(key)
    if cached is not None and cached[0] is event:
        return cached[1]
    # Publishers put plain JSON values in ``data``; anything else still goes out
    # (as its str) rather than killing every dashboard's stream.
    text = orjson.dumps(event, default=str).decode()
    _ENCODED[key] = (event, text)  # holding the event keeps its id from being reused
    if len(_ENCODED) > _ENCODED_MAX:
        _ENCODED.popitem(last=False)
    return text


# The most recent encodings, by object identity: one encoding per event, however
# many dashboards watch.
_ENCODED: OrderedDict[int, tuple[object, str]] = OrderedDict()
_ENCODED_MAX = 1024


def _close_frame(observer: Observer, reader: asyncio.Task[CloseFrame | None]) -> CloseFrame | None:
    """How to close after the observer ended, or None when the peer already left."""
    if observer.end is ObserverEnd.OVERFLOWED:
        logger.info("closing an event stream: observer too slow")
        return TOO_SLOW
    if observer.end is ObserverEnd.BUS_CLOSED:
        return GOING_AWAY
    if reader.done() and not reader.cancelled():
        return reader.result()
    return None


async def _read_until_end(websocket: WebSocket, limits: FloodLimits) -> CloseFrame | None:
    """Wait for the peer to leave (None), or for it to flood us (the close to send)."""
    bucket = TokenBucket(limits.rate, limits.burst)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        if not bucket.take():
            logger.info("closing an event stream with 1008: too many frames")
            return FLOODING
