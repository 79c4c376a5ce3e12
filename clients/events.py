"""The read-only dashboard event stream, ``/api/v1/events`` (SPEC §7).

`stream_events` yields CloudEvents and, when the connection drops, reconnects
with backoff and asks for ``?since=<last id seen>`` so nothing is missed (the
service says ``hotplug.stream.gap`` when it no longer has them).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from clients._ws import Connector, bearer, default_connector, is_fatal_handshake, to_ws_url
from clients.backoff import Backoff
from clients.errors import HotplugConnectionError, HotplugError
from clients.models import JSON

logger = logging.getLogger("clients.events")

EVENTS_PATH = "/api/v1/events"


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One CloudEvents 1.0 event of the stream."""

    id: str
    type: str
    source: str
    time: str | None
    subject: str | None
    data: Any
    raw: JSON

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> CloudEvent:
        """Parse one event; raises ValueError without an ``id`` and a ``type``."""
        if "id" not in obj or "type" not in obj:
            raise ValueError("event without id or type")
        return cls(
            id=str(obj["id"]),
            type=str(obj["type"]),
            source=str(obj.get("source", "")),
            time=obj.get("time"),
            subject=obj.get("subject"),
            data=obj.get("data"),
            raw=dict(obj),
        )


def _parse(frame: str | bytes) -> CloudEvent | None:
    try:
        obj = json.loads(frame)
        if not isinstance(obj, Mapping):
            raise ValueError("not an object")
        return CloudEvent.from_wire(obj)
    except ValueError as exc:
        logger.warning("ignoring a malformed event: %s", exc)
        return None


async def stream_events(
    base_url: str,
    token: str | None,
    *,
    since: str | int | None = None,
    backoff: Backoff | None = None,
    connector: Connector | None = None,
    fail_fast: bool = False,
) -> AsyncGenerator[CloudEvent, None]:
    """Yield events for ever, resuming after the last one seen whenever the connection drops.

    Raises HotplugError when the token is refused, and HotplugConnectionError
    when ``backoff.max_attempts`` is exhausted, or at once if ``fail_fast`` and
    the very first connection fails.
    """
    backoff = backoff or Backoff()
    open_channel = connector or default_connector()
    last = None if since is None else str(since)
    attempt, connected_once = 0, False
    while True:
        url = to_ws_url(base_url, EVENTS_PATH, {"since": last} if last is not None else None)
        try:
            async with open_channel(url, bearer(token)) as channel:
                attempt, connected_once = 0, True
                async for frame in channel:
                    event = _parse(frame)
                    if event is not None:
                        last = event.id
                        yield event
            failure: BaseException | None = None
        except (OSError, TimeoutError, WebSocketException) as exc:
            failure = exc
        _check_retry(failure, base_url, attempt, backoff, fail_fast and not connected_once)
        await asyncio.sleep(backoff.delay(attempt))
        attempt += 1


def _check_retry(
    failure: BaseException | None, base_url: str, attempt: int, backoff: Backoff, fail_now: bool
) -> None:
    """Raise when reconnecting cannot help; log and return otherwise."""
    if failure is not None and is_fatal_handshake(failure):
        raise HotplugError(f"event stream refused: {failure}") from failure
    if isinstance(failure, InvalidURI):
        raise HotplugConnectionError(f"bad event stream URL: {failure}") from failure
    if failure is not None and (fail_now or backoff.exhausted(attempt)):
        reason = str(failure) or type(failure).__name__
        raise HotplugConnectionError(f"cannot reach {base_url}: {reason}") from failure
    if isinstance(failure, InvalidHandshake):
        logger.warning("event stream handshake failed: %s", failure)
    elif failure is not None:
        logger.info("event stream lost (%s); reconnecting", failure)
