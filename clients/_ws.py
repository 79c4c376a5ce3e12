"""What the subscriber and the event stream share about websockets.

Both open their connection through a `Connector` (by default
``websockets.asyncio.client.connect``), so tests can feed them frames from a
fake `Channel` without a network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from clients.version import __version__

MAX_FRAME: Final = 64 * 1024  # SPEC §6: frames <= 64 KiB

# Handshake refusals that retrying cannot fix: a bad request (e.g. ``since``), a bad
# token (or an unregistered subscriber's), no right, no such path.
FATAL_HANDSHAKE_STATUS: Final = frozenset({400, 401, 403, 404, 410})


class Channel(Protocol):
    """The part of a websocket connection the clients use."""

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """The frames received, until the connection closes."""
        ...

    async def send(self, message: str) -> None:
        """Send one text frame."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a close code."""
        ...

    @property
    def close_code(self) -> int | None:
        """The close code received (None while open)."""
        ...

    @property
    def close_reason(self) -> str | None:
        """The close reason received."""
        ...


Connector = Callable[[str, Mapping[str, str]], AbstractAsyncContextManager[Channel]]


def default_connector(open_timeout: float = 10.0) -> Connector:
    """A connector over ``websockets.asyncio.client.connect`` (keepalive pings on)."""

    def open_channel(url: str, headers: Mapping[str, str]) -> AbstractAsyncContextManager[Channel]:
        """Open ``url`` with ``headers``; close on leaving the block."""
        return connect(
            url,
            additional_headers=dict(headers),
            user_agent_header=f"hotplugctl/{__version__}",
            open_timeout=open_timeout,
            max_size=MAX_FRAME,
        )

    return open_channel


def bearer(token: str | None) -> dict[str, str]:
    """The handshake headers for ``token``."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def to_ws_url(base_url: str, path: str, query: Mapping[str, str | int] | None = None) -> str:
    """``http://h:8000/prefix`` + ``/api/v1/events`` → ``ws://h:8000/prefix/api/v1/events``."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    full_path = parts.path.rstrip("/") + path
    return urlunsplit((scheme, parts.netloc, full_path, urlencode(query or {}), ""))


def handshake_status(exc: BaseException) -> int | None:
    """The HTTP status of a refused handshake, or None for any other failure."""
    if isinstance(exc, InvalidStatus):
        return exc.response.status_code
    return None


def is_fatal_handshake(exc: BaseException) -> bool:
    """Whether the handshake was refused for a reason a retry cannot fix."""
    return handshake_status(exc) in FATAL_HANDSHAKE_STATUS
