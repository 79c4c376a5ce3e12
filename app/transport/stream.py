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

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.engine.events import Observer, ObserverEnd
from app.engine.ports import JSON
from app.transport.limits import FloodLimits, TokenBucket
from app.transport.server import DIRECT, DirectChannel, text_frame
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
    direct: DirectChannel | None = websocket.scope.get("extensions", {}).get(DIRECT)
    sending = False  # this task holds a batch: the sink must not overtake it

    def sink(events: list[JSON]) -> bool:
        assert direct is not None
        return not sending and direct.write_now(_batch_frames(events))

    if direct is not None:
        observer.set_sink(sink)
    try:
        while events := await observer.batch():
            sending = True
            if direct is None:
                for event in events:
                    await websocket.send_text(_json(event).decode())
            elif not await direct.send_frames(_batch_frames(events)):
                return True
            sending = False
    except WebSocketDisconnect:
        return True
    finally:
        observer.set_sink(None)
    return False


def _json(event: JSON) -> bytes:
    # Publishers put plain JSON values in ``data``; anything else still goes out
    # (as its str) rather than killing every dashboard's stream.
    return orjson.dumps(event, default=str)


def _batch_frames(events: list[JSON]) -> bytes:
    """The websocket frames of a batch (or of one event), made once for all observers."""
    first, last = events[0], events[-1]
    key = (id(first), id(last), len(events))
    cached = _FRAMES.get(key)
    if cached is not None and cached[0] is first and cached[1] is last:
        return cached[2]
    if len(events) == 1:
        frames = text_frame(_json(first))
    else:
        frames = b"".join([_batch_frames([event]) for event in events])
    _FRAMES[key] = (first, last, frames)  # holding the events keeps their ids from reuse
    if len(_FRAMES) > _CACHE_MAX:
        _FRAMES.popitem(last=False)
    return frames


# The most recent frames, by the identity of the events (a batch: first, last,
# count): one encoding per event, and one join per batch, however many
# dashboards watch.
_FRAMES: OrderedDict[tuple[int, int, int], tuple[object, object, bytes]] = OrderedDict()
_CACHE_MAX = 2048


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
