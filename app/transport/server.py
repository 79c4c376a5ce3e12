"""How uvicorn must serve the websocket channels (used by ``python -m app`` and the tests).

uvicorn's websockets-sansio protocol drops the ``400 Bad Request`` that the
websockets parser prepares for an upgrade request it cannot parse (a header
line over 8 KiB, more than 128 headers): the peer then waits forever on an
open connection, unauthenticated. ``HardenedWebSocketProtocol`` sends that
answer and closes the connection.

It also offers the app a way around ASGI, as the scope extension
``hotplugd.direct``: the protocol itself, as a `DirectChannel`.

- The event stream frames each event once for every dashboard and writes a
  batch of events to the socket in one write (``write_now``, or
  ``send_frames`` when it must wait for the socket to drain), where ASGI costs
  a frame encoding, a dict and a write per event per dashboard.
- A subscriber session writes a notification straight to the socket when
  nothing is queued before it, and takes text frames in the protocol's own
  callback (``text_handler``) while no message waits in the ASGI queue,
  instead of a hand-off to a writer task and one from a reader task per hop.
  Order is kept: anything the fast path cannot take (a paused transport, a
  binary frame, an earlier queued message) goes the ASGI way, and the fast
  path waits until that way is empty again.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any, Protocol, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

WS_MAX_SIZE = 65_536  # SPEC §6: frames <= 64 KiB; larger ones close with 1009
DIRECT = "hotplugd.direct"

logger = logging.getLogger(__name__)

TextHandler = Callable[[str], None]


class DirectChannel(Protocol):
    """What ``hotplugd.direct`` offers a subscriber session (see the module doc)."""

    text_handler: TextHandler | None

    def write_now(self, frames: bytes) -> bool:
        """Write whole frames if the socket takes them now; False, writing nothing, if not."""
        ...

    async def send_frames(self, frames: bytes) -> bool:
        """Write whole frames once the socket drains; False, writing nothing, once closing."""
        ...


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final websocket text frame (RFC 6455 §5.2), as a server sends it."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


class HardenedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, answering unparsable handshakes instead of hanging."""

    text_handler: TextHandler | None = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = cast(dict[str, Any] | None, getattr(self, "scope", None))
        if scope is not None:  # accepted: the app runs with this scope
            scope["extensions"][DIRECT] = self

    def write_now(self, frames: bytes) -> bool:
        """Write whole server frames now, if the socket is open and not paused."""
        if (
            not self.writable.is_set()
            or self.disconnected
            or self.close_sent
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frames)
        return True

    def send_receive_event_to_app(self) -> None:
        handler = self.text_handler
        if (
            handler is None
            or self.curr_msg_data_type != "text"
            or self.close_sent
            or not self.queue.empty()  # the app has yet to read earlier messages
        ):
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        try:
            text = data.decode()
        except UnicodeDecodeError:
            super().send_receive_event_to_app()  # uvicorn closes with 1007
            return
        self.frames = []
        try:
            handler(text)
        except Exception:  # a bug in the handler must not take the connection's parser down
            logger.exception("text frame handler failed")

    async def send_frames(self, frames: bytes) -> bool:
        """Write whole server frames (unmasked; no fragment open) once the socket drains.

        Waits like an ASGI send while the peer reads too slowly (the transport
        paused writing). False, writing nothing, once the connection is closing.
        """
        await self.writable.wait()
        if self.disconnected or self.close_sent or self.transport.is_closing():
            return False
        self.transport.write(frames)
        return True

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.handshake_exc is not None and not self.handshake_complete:
            self.handshake_complete = True  # nothing more to do for this connection
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()


def uvicorn_options() -> dict[str, Any]:
    """The uvicorn options every hotplugd server runs with."""
    # permessage-deflate off: frames are small JSON, and compression costs more
    # CPU per hop and ~40 KiB of memory per connection than it saves.
    return {
        "ws": HardenedWebSocketProtocol,
        "ws_max_size": WS_MAX_SIZE,
        "ws_per_message_deflate": False,
    }
