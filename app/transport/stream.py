"""The dashboard event stream over one websocket (SPEC §7).

Events go out a batch at a time: each event is encoded and framed once for
every observer, and a batch is one socket write. Under hotplugd's own server
protocol (``app.transport.server``) the bus hands a batch to the observer's
sink, which writes it at once when the socket has room; otherwise, and for
the replayed backlog, the handler's task sends what queued up. A reader task
owned by the handler notices the peer leaving (and floods: the stream is
read-only, so anything the peer sends is ignored, but not without limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.engine.events import Observer, ObserverEnd
from app.engine.ports import JSON
from app.transport.limits import FloodLimits, TokenBucket
from app.transport.server import DIRECT, SEND_FRAMES, DirectChannel, text_frame
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
    extensions = websocket.scope.get("extensions", {})
    send_frames: SendFrames | None = extensions.get(SEND_FRAMES)
    direct: DirectChannel | None = extensions.get(DIRECT)
    sending = False  # this task holds a batch: the sink must not overtake it

    def sink(events: list[JSON]) -> bool:
        assert direct is not None
        return not sending and direct.write_now(_batch_frames(events))

    if direct is not None:
        observer.set_sink(sink)
    try:
        while events := await observer.batch():
            sending = True
            if send_frames is None:
                for event in events:
                    await websocket.send_text(_encoded(event)[0].decode())
            elif not await send_frames(_batch_frames(events)):
                return True
            sending = False
    except WebSocketDisconnect:
        return True
    finally:
        observer.set_sink(None)
    return False


SendFrames = Callable[[bytes], Awaitable[bool]]


def _encoded(event: JSON) -> tuple[bytes, bytes]:
    """The event's JSON and its websocket text frame, made once for all observers."""
    key = id(event)
    cached = _ENCODED.get(key)
    if cached is not None and cached[0] is event:
        return cached[1], cached[2]
    # Publishers put plain JSON values in ``data``; anything else still goes out
    # (as its str) rather than killing every dashboard's stream.
    payload = orjson.dumps(event, default=str)
    frame = text_frame(payload)
    _ENCODED[key] = (event, payload, frame)  # holding the event keeps its id from being reused
    if len(_ENCODED) > _CACHE_MAX:
        _ENCODED.popitem(last=False)
    return payload, frame


def _batch_frames(events: list[JSON]) -> bytes:
    """The frames of a batch, joined once for the observers that got the same batch."""
    if len(events) == 1:
        return _encoded(events[0])[1]
    first, last = events[0], events[-1]
    key = (id(first), id(last), len(events))
    cached = _BATCHES.get(key)
    if cached is not None and cached[0] is first and cached[1] is last:
        return cached[2]
    frames = b"".join([_encoded(event)[1] for event in events])
    _BATCHES[key] = (first, last, frames)
    if len(_BATCHES) > _CACHE_MAX:
        _BATCHES.popitem(last=False)
    return frames


# The most recent encodings, by object identity: one encoding per event, and one
# join per batch, however many dashboards watch.
_ENCODED: OrderedDict[int, tuple[object, bytes, bytes]] = OrderedDict()
_BATCHES: OrderedDict[tuple[int, int, int], tuple[object, object, bytes]] = OrderedDict()
_CACHE_MAX = 1024


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
