"""One accepted subscriber websocket: a reader, a writer and the flood limits.

The reader runs in the connection's own ASGI task; frames to the peer that
cannot go out at once queue in an outbox, drained by a writer task that exists
only while there is something to write (an idle connection holds one task, not
three). A peer that stops reading therefore blocks only that writer: never
``Hub.deliver`` (which waits on a future, bounded by its deadline), never the
reader, never another subscriber; a writer that cannot finish in time ends the
session by cancelling the reader.

Under hotplugd's own server protocol (``app.transport.server``) a hop needs
no task hand-off at all when it can do without: a frame goes straight to the
socket when no writer is draining a backlog and the socket takes it now, and a
text frame is handled in the protocol's callback when no message waits in the
ASGI queue. Everything else (a paused socket, a backlog) goes the way above.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.engine.ports import JSON
from app.transport.limits import FloodLimits, TokenBucket
from app.transport.replies import Rejection
from app.transport.server import DIRECT, DirectChannel, text_frame
from app.transport.tasks import stop_task

__all__ = ["FrameHandler", "Session"]

logger = logging.getLogger(__name__)

# Called with each text frame; returns why it is unusable, or None when it was used.
FrameHandler = Callable[["Session", str], Rejection | None]

POLICY_VIOLATION = 1008
ABNORMAL_CLOSURE = 1006
CLOSED, GONE = object(), object()  # how the writer ended
# Error frames are dropped (not queued) beyond this backlog: a peer that floods
# us with garbage while not reading must not make us buffer without bound.
MAX_OUTBOX = 64


class Session:
    """One subscriber connection, from ``accept`` to its disconnect."""

    __slots__ = (
        "_bucket",
        "_close",
        "_direct",
        "_ended",
        "_limits",
        "_outbox",
        "_reader",
        "_unusable",
        "_websocket",
        "_writer",
        "connected_since",
        "finished",
        "last_answered",
        "public",
        "subscriber_id",
    )

    def __init__(
        self, websocket: WebSocket, subscriber_id: str, public: JSON, limits: FloodLimits
    ) -> None:
        self._websocket = websocket
        self.subscriber_id = subscriber_id
        self.public = public
        self.connected_since = datetime.now(UTC)
        self.finished = asyncio.Event()
        # The id of the last notification answered on this connection, to tell
        # a duplicate reply from one for an unknown id.
        self.last_answered: int | None = None
        self._limits = limits
        self._bucket = TokenBucket(limits.rate, limits.burst)
        self._unusable = 0
        self._outbox: deque[str] = deque()
        self._close: tuple[int, str] | None = None
        self._direct: DirectChannel | None = websocket.scope.get("extensions", {}).get(DIRECT)
        self._writer: asyncio.Task[None] | None = None  # while the outbox drains
        self._reader: asyncio.Task[Any] | None = None  # the task running ``run``
        self._ended: int | None = None  # the close code, once the writer ended the session

    @property
    def closing(self) -> bool:
        """Whether a close was requested; the session ignores frames from then on."""
        return self._close is not None

    def send(self, frame: str) -> None:
        """Send a text frame now if the socket takes it, else queue it (dropped once closing)."""
        if self._close is not None:
            return
        if (
            self._writer is None
            and self._direct is not None
            and self._direct.write_now(text_frame(frame.encode()))
        ):
            return
        self._outbox.append(frame)
        self._start_writer()

    def close(self, code: int, reason: str) -> None:
        """Close with ``code`` as soon as the writer can; idempotent, first call wins."""
        if self._close is None:
            self._close = (code, reason)
            self._outbox.clear()
            self._start_writer()

    async def run(self, on_text: FrameHandler) -> int:
        """Serve the connection until it ends; return the close code it ended with.

        The session ends when the peer disconnects, or at once when a frame
        could not be written in time (a peer that stopped reading: uvicorn's
        keepalive cannot cut it while its send buffer is full).
        """
        self._reader = asyncio.current_task()
        if self._direct is not None:
            self._direct.text_handler = lambda text: self._on_direct_text(text, on_text)
        try:
            if self._ended is not None:  # the writer gave up before we started
                return self._ended
            return await self._read_loop(on_text)
        except asyncio.CancelledError:
            if self._ended is None or self._reader is None:
                raise  # cancelled from outside (server shutdown): not ours to swallow
            self._reader.uncancel()
            return self._ended
        finally:
            self._reader = None
            if self._direct is not None:
                self._direct.text_handler = None
            if self._writer is not None:
                await stop_task(self._writer)
            self.finished.set()

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(
                self._write_loop(), name=f"ws-writer:{self.subscriber_id}"
            )

    def _end_reading(self, code: int) -> None:
        """End ``run`` with ``code`` (the peer stalled, left, or never answered our close)."""
        if self._ended is None:
            self._ended = code
            if self._reader is not None:
                self._reader.cancel()

    async def _read_loop(self, on_text: FrameHandler) -> int:
        while True:
            message = await self._websocket.receive()
            if message["type"] == "websocket.disconnect":
                return int(message.get("code", 1005))
            # Once closing, frames are drained unread until uvicorn reports the end.
            if self._close is None:
                self._on_frame(message.get("text"), on_text)

    def _on_direct_text(self, text: str, on_text: FrameHandler) -> None:
        if self._close is None:
            self._on_frame(text, on_text)

    def _on_frame(self, text: str | None, on_text: FrameHandler) -> None:
        if not self._bucket.take():
            self._abuse("too many frames")
            return
        if text is None:
            rejection: Rejection | None = Rejection(None, "binary frames are not accepted")
        else:
            rejection = on_text(self, text)
        if rejection is None:
            # A reply we asked for: its rate is the chain's, so it is not flooding.
            self._bucket.give_back()
            self._unusable = 0
        else:
            self._reject(rejection)

    def _reject(self, rejection: Rejection) -> None:
        self._unusable += 1
        if self._unusable > self._limits.max_unusable:
            self._abuse("too many unusable frames")
            return
        if self._unusable == 1:  # one line per run of bad frames, not one per frame
            logger.info(
                "subscriber %s sent an unusable frame: %s", self.subscriber_id, rejection.message
            )
        if len(self._outbox) < MAX_OUTBOX:
            error = {"type": "error", "id": rejection.id, "message": rejection.message}
            self.send(orjson.dumps(error).decode())

    def _abuse(self, reason: str) -> None:
        logger.info("closing subscriber %s with 1008: %s", self.subscriber_id, reason)
        self.close(POLICY_VIOLATION, reason)

    async def _write_loop(self) -> None:
        outcome = GONE
        try:
            async with asyncio.timeout(self._limits.write_timeout):
                while self._outbox:
                    await self._websocket.send_text(self._outbox.popleft())
                if self._close is None:
                    self._writer = None  # drained: the next frame may go out directly
                    return
                await self._websocket.close(*self._close)
                outcome = CLOSED
        except TimeoutError:
            logger.info("subscriber %s stopped reading; dropping it", self.subscriber_id)
        except (WebSocketDisconnect, RuntimeError):
            # The peer is gone, or uvicorn gave up on the socket (a failed
            # keepalive) without telling the reader: the session is over.
            pass
        if outcome is CLOSED:
            # We sent a close: the peer's answer ends the reader, within bounds.
            loop = asyncio.get_running_loop()
            loop.call_later(self._limits.write_timeout, self._end_reading, ABNORMAL_CLOSURE)
        else:
            self._end_reading(ABNORMAL_CLOSURE)
