"""How uvicorn must serve the websocket channels (used by ``python -m app`` and the tests).

uvicorn's websockets-sansio protocol drops the ``400 Bad Request`` that the
websockets parser prepares for an upgrade request it cannot parse (a header
line over 8 KiB, more than 128 headers): the peer then waits forever on an
open connection, unauthenticated. ``HardenedWebSocketProtocol`` sends that
answer and closes the connection.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

WS_MAX_SIZE = 65_536  # SPEC §6: frames <= 64 KiB; larger ones close with 1009


class HardenedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, answering unparsable handshakes instead of hanging."""

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
