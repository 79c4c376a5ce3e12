"""How uvicorn must serve the websocket channels (used by ``python -m app`` and the tests).

uvicorn's websockets-sansio protocol drops the ``400 Bad Request`` that the
websockets parser prepares for an upgrade request it cannot parse (a header
line over 8 KiB, more than 128 headers): the peer then waits forever on an
open connection, unauthenticated. ``HardenedWebSocketProtocol`` sends that
answer and closes the connection.

It also offers the event stream a fast path, as the ASGI extension
``hotplugd.send_frames``: an awaitable that writes bytes holding whole,
already-framed server messages to the socket in one write. The stream frames
each event once for every dashboard and sends a batch of events as one
write, where ASGI would cost a frame encoding, a dict and a write per event
per dashboard.
"""

from __future__ import annotations

from typing import Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

WS_MAX_SIZE = 65_536  # SPEC §6: frames <= 64 KiB; larger ones close with 1009
SEND_FRAMES = "hotplugd.send_frames"


class HardenedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, answering unparsable handshakes instead of hanging."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = cast(dict[str, Any] | None, getattr(self, "scope", None))
        if scope is not None:  # accepted: the app runs with this scope
            scope["extensions"][SEND_FRAMES] = self.send_frames

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
