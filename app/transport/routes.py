"""The two websocket endpoints: the subscriber channel and the dashboard event stream.

Both authenticate during the handshake, before ``accept``: a refused peer gets
an HTTP 401 (no or unknown token) or 403 (a token without the right) and never
a websocket frame.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, WebSocket

from app.engine.events import EventBus
from app.transport.auth import bearer_token, refuse
from app.transport.hub import Hub
from app.transport.limits import FloodLimits
from app.transport.stream import stream_events

__all__ = ["READ_ROLES", "events_router", "subscriber_router"]

# Roles that may read the event stream.
READ_ROLES = frozenset({"admin", "viewer"})
SINCE_MAX_DIGITS = 19  # fits a signed 64-bit integer


def subscriber_router(hub: Hub) -> APIRouter:
    """``/api/v1/subscribers/{subscriber_id}/ws``: one subscriber's notifications."""
    router = APIRouter()

    @router.websocket("/api/v1/subscribers/{subscriber_id}/ws")
    async def subscriber_channel(websocket: WebSocket, subscriber_id: str) -> None:
        """Authenticate with the subscriber's token, then hand the connection to the hub."""
        token = bearer_token(websocket)
        public = None if token is None else hub.authenticate(subscriber_id, token)
        if public is None:
            await refuse(websocket, 401, "a valid token for this subscriber is required")
        elif hub.closed:
            await refuse(websocket, 503, "the service is shutting down")
        else:
            await hub.serve(websocket, subscriber_id, public)

    return router


def events_router(
    bus: EventBus,
    authorize: Callable[[str | None], str | None],
    limits: FloodLimits | None = None,
) -> APIRouter:
    """``/api/v1/events``: the read-only CloudEvents stream for viewers and admins.

    ``authorize(token)`` names the token's role ("admin", "viewer", ...) or
    returns None for no or an unknown token.
    """
    router = APIRouter()
    flood_limits = limits or FloodLimits()

    @router.websocket("/api/v1/events")
    async def event_stream(websocket: WebSocket) -> None:
        """Replay retained events after ``?since=`` (if given), then stream live ones."""
        role = authorize(bearer_token(websocket))
        since = websocket.query_params.get("since")
        if role is None:
            await refuse(websocket, 401, "a viewer or admin token is required")
        elif role not in READ_ROLES:
            await refuse(websocket, 403, "this token may not read the event stream")
        elif since is not None and not _is_event_id(since):
            await refuse(websocket, 400, "'since' must be an event id (a non-negative integer)")
        elif bus.closed:
            await refuse(websocket, 503, "the service is shutting down")
        else:
            observer = bus.subscribe(None if since is None else int(since))
            try:
                await websocket.accept()
                await stream_events(websocket, observer, flood_limits)
            finally:
                observer.close()

    return router


def _is_event_id(text: str) -> bool:
    # Stricter than int(): no sign, spaces or underscores.
    return text.isascii() and text.isdigit() and len(text) <= SINCE_MAX_DIGITS
