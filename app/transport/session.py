"""One accepted subscriber websocket: a reader, a writer and the flood limits.

The reader runs in the connection's own ASGI task; every frame to the peer goes
through one writer task fed by an outbox. A peer that stops reading therefore
blocks only its writer: never ``Hub.deliver`` (which waits on a future, bounded
by its deadline), never the reader, never another subscriber.

Under hotplugd's own server protocol (``app.transport.server``) the hop skips
both tasks when it can: a frame goes straight to the socket when the writer is
idle with nothing queued and the socket takes it now, and a text frame is
handled in the protocol's callback when no message waits in the ASGI queue.
Everything else (a paused socket, a backlog) takes the tasks as above.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

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
STALLED, CLOSED, GONE = object(), object(), object()  # how the writer ended
# Error frames are dropped (not queued) beyond this backlog: a peer that floods
# us with garbage while not reading must not make us buffer without bound.
MAX_OUTBOX = 64


class Session:
    """One subscriber connection, from ``accept`` to its disconnect."""

    __slots__ = (
        "_bucket",
        "_close",
        "_direct",
        "_limits",
        "_outbox",
        "_unusable",
        "_wakeup",
        "_websocket",
        "_writer_idle",
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
        self._wakeup = asyncio.Event()
        self._direct: DirectChannel | None = websocket.scope.get("extensions", {}).get(DIRECT)
        self._writer_idle = False  # parked with an empty outbox: a direct write is in order

    @property
    def closing(self) -> bool:
        """Whether a close was requested; the session ignores frames from then on."""
        return self._close is not None

    def send(self, frame: str) -> None:
        """Send a text frame now if the socket takes it, else queue it (dropped once closing)."""
        if self._close is not None:
            return
        if (
            self._writer_idle
            and self._direct is not None
            and self._direct.write_now(text_frame(frame.encode()))
        ):
            return
        self._outbox.append(frame)
        self._writer_idle = False
        self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        """Close with ``code`` as soon as the writer can; idempotent, first call wins."""
        if self._close is None:
            self._close = (code, reason)
            self._outbox.clear()
            self._wakeup.set()

    async def run(self, on_text: FrameHandler) -> int:
        """Serve the connection until it ends; return the close code it ended with.

        The session ends when the peer disconnects, or at once when a frame
        could not be written in time (a peer that stopped reading: uvicorn's
        keepalive cannot cut it while its send buffer is full).
        """
        name = self.subscriber_id
        if self._direct is not None:
            self._direct.text_handler = lambda text: self._on_direct_text(text, on_text)
        reader = asyncio.create_task(self._read_loop(on_text), name=f"ws-reader:{name}")
        writer = asyncio.create_task(self._write_loop(), name=f"ws-writer:{name}")
        try:
            await asyncio.wait((reader, writer), return_when=asyncio.FIRST_COMPLETED)
            if reader.done():
                return reader.result()
            if writer.result() is not CLOSED:  # stalled or gone under us: do not wait on it
                return ABNORMAL_CLOSURE
            # We sent a close: the peer's answer ends the reader, within bounds.
            await asyncio.wait((reader,), timeout=self._limits.write_timeout)
            return reader.result() if reader.done() else ABNORMAL_CLOSURE
        finally:
            if self._direct is not None:
                self._direct.text_handler = None
            await stop_task(writer)
            await stop_task(reader)
            self.finished.set()

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

    async def _write_loop(self) -> object:
        try:
            while True:
                self._writer_idle = not self._outbox and self._close is None
                await self._wakeup.wait()
                self._writer_idle = False
                self._wakeup.clear()
                async with asyncio.timeout(self._limits.write_timeout):
                    while self._outbox:
                        await self._websocket.send_text(self._outbox.popleft())
                    if self._close is not None:
                        await self._websocket.close(*self._close)
                        return CLOSED
        except TimeoutError:
            logger.info("subscriber %s stopped reading; dropping it", self.subscriber_id)
            return STALLED
        except (WebSocketDisconnect, RuntimeError):
            # The peer is gone, or uvicorn gave up on the socket (a failed
            # keepalive) without telling the reader: the session is over.
            return GONE
