"""The subscriber hub: the engine's ``Delivery`` port over websockets (SPEC §6).

It keeps at most one live connection per subscriber (a newer one replaces the
older, which is closed with 4001) and at most one outstanding notification per
subscriber. ``deliver`` queues the ``notify`` frame on the connection's writer
and waits on a future that the connection's reader resolves when the matching
``reply`` arrives: one round trip, no task per call.

A notification outlives its connection: if the subscriber drops and comes back
before the deadline, the new connection gets the same frame (same id) right
after ``hello``, and its reply counts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import orjson
from starlette.websockets import WebSocket

from app.engine.ports import (
    JSON,
    Disconnected,
    EventPublisher,
    NotConnected,
    Notification,
    Reply,
)
from app.transport.limits import FloodLimits
from app.transport.replies import ParsedReply, Rejection, parse_reply
from app.transport.session import Session

__all__ = ["PROTOCOL_VERSION", "Hub", "SubscriberDirectory"]

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
REPLACED = (4001, "replaced by a newer connection")
GOING_AWAY = (1001, "service shutting down")


class SubscriberDirectory(Protocol):
    """Who may open a subscriber's channel (implemented by the engine)."""

    def authenticate(self, subscriber_id: str, token: str) -> JSON | None:
        """The subscriber's public JSON when ``token`` is its token, else None."""
        ...


@dataclass(slots=True)
class _Pending:
    """The one notification awaiting a subscriber's reply."""

    id: int
    frame: str
    future: asyncio.Future[Reply]


def _ignore(subscriber_id: str) -> None:
    """The default connection hook: nothing to do."""


class Hub:
    """Live subscriber connections, and delivery of notifications over them."""

    def __init__(
        self,
        directory: SubscriberDirectory,
        events: EventPublisher,
        *,
        on_connected: Callable[[str], None] = _ignore,
        on_disconnected: Callable[[str], None] = _ignore,
        limits: FloodLimits | None = None,
    ) -> None:
        self._directory = directory
        self._events = events
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._limits = limits or FloodLimits()
        self._sessions: dict[str, Session] = {}  # the live connection of each subscriber
        self._running: set[Session] = set()  # every connection not yet ended, live or closing
        self._pending: dict[str, _Pending] = {}
        self._shutdown: tuple[int, str] | None = None

    # -- connections ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether ``close_all`` was called; new connections are then refused."""
        return self._shutdown is not None

    def authenticate(self, subscriber_id: str, token: str) -> JSON | None:
        """Ask the directory whether ``token`` opens this subscriber's channel."""
        return self._directory.authenticate(subscriber_id, token)

    def is_connected(self, subscriber_id: str) -> bool:
        """Whether the subscriber has a live connection now."""
        return subscriber_id in self._sessions

    def connected_ids(self) -> list[str]:
        """The subscribers with a live connection."""
        return list(self._sessions)

    def connected_since(self, subscriber_id: str) -> datetime | None:
        """When the subscriber's live connection was accepted (UTC), or None."""
        session = self._sessions.get(subscriber_id)
        return None if session is None else session.connected_since

    async def serve(self, websocket: WebSocket, subscriber_id: str, public: JSON) -> None:
        """Accept an authenticated subscriber's websocket and run it until it ends."""
        await websocket.accept()
        session = Session(websocket, subscriber_id, public, self._limits)
        self._running.add(session)
        code = 1006
        try:
            if self._shutdown is not None:  # closed while the handshake was in flight
                session.close(*self._shutdown)
            else:
                self._attach(session)
            code = await session.run(self._on_text)
        finally:
            self._running.discard(session)
            if self._sessions.get(subscriber_id) is session:
                self._detach(session, code)

    async def drop(self, subscriber_id: str, code: int, reason: str) -> None:
        """Close the subscriber's live connection, if any (4004 on unregister).

        A notification it was asked stays pending until its deadline.
        """
        session = self._sessions.get(subscriber_id)
        if session is not None:
            session.close(code, reason)
            self._detach(session, code)

    async def close_all(
        self, code: int = GOING_AWAY[0], reason: str = GOING_AWAY[1], grace: float = 5.0
    ) -> None:
        """Refuse new connections, close every one (1001), fail pending deliveries.

        Waits at most ``grace`` seconds for the connections to end, so that
        the close frames are out before the server itself shuts down.
        """
        self._shutdown = (code, reason)
        for session in list(self._sessions.values()):
            session.close(code, reason)
            self._detach(session, code)
        for subscriber_id, pending in self._pending.items():
            if not pending.future.done():
                pending.future.set_exception(Disconnected(f"subscriber {subscriber_id}: {reason}"))
        await self._wait_sessions_ended(grace)

    async def _wait_sessions_ended(self, grace: float) -> None:
        try:
            async with asyncio.timeout(grace):
                for session in list(self._running):
                    await session.finished.wait()
        except TimeoutError:
            logger.warning("%d subscriber connections did not close in time", len(self._running))

    def _attach(self, session: Session) -> None:
        subscriber_id = session.subscriber_id
        previous = self._sessions.get(subscriber_id)
        if previous is not None:
            logger.info("subscriber %s: a newer connection replaces the live one", subscriber_id)
            previous.close(*REPLACED)
            self._detach(previous, REPLACED[0])
        self._sessions[subscriber_id] = session
        hello = {"type": "hello", "subscriber": session.public, "protocol": PROTOCOL_VERSION}
        session.send(orjson.dumps(hello).decode())
        pending = self._pending.get(subscriber_id)
        if pending is not None and not pending.future.done():
            session.send(pending.frame)  # the same notification, same id, right after hello
        self._announce("hotplug.subscriber.connected", session, {})
        self._call_hook(self._on_connected, subscriber_id)

    def _detach(self, session: Session, code: int) -> None:
        del self._sessions[session.subscriber_id]
        self._announce("hotplug.subscriber.disconnected", session, {"code": code})
        self._call_hook(self._on_disconnected, session.subscriber_id)

    def _announce(self, type_: str, session: Session, extra: JSON) -> None:
        data = {"id": session.subscriber_id, "name": session.public.get("name"), **extra}
        self._events.publish(type_, data, subject=f"subscriber/{session.subscriber_id}")

    @staticmethod
    def _call_hook(hook: Callable[[str], None], subscriber_id: str) -> None:
        # The hooks are the engine's bookkeeping; a bug there must not leave the
        # hub's own bookkeeping half done.
        try:
            hook(subscriber_id)
        except Exception:
            logger.exception("connection hook failed for subscriber %s", subscriber_id)

    # -- delivery ------------------------------------------------------------

    async def deliver(
        self,
        subscriber_id: str,
        notification: Notification,
        timeout: float,
    ) -> Reply:
        """Send ``notification`` and wait at most ``timeout`` seconds for its reply.

        Raises ``NotConnected`` at once without a connection; at the deadline
        ``Disconnected`` when the subscriber is not connected then, else
        ``TimeoutError``.
        """
        session = self._sessions.get(subscriber_id)
        if session is None:
            raise NotConnected(f"subscriber {subscriber_id} is not connected")
        if subscriber_id in self._pending:
            raise RuntimeError(f"subscriber {subscriber_id} already has a notification outstanding")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        pending = _Pending(notification.id, orjson.dumps(notification.to_wire()).decode(), future)
        self._pending[subscriber_id] = pending
        session.send(pending.frame)
        # A timer that fails the future: cheaper per hop than asyncio.timeout().
        deadline = loop.call_later(timeout, _expire, future)
        try:
            return await future
        except TimeoutError:
            if subscriber_id in self._sessions:
                raise
            raise Disconnected(f"subscriber {subscriber_id} disconnected") from None
        finally:
            deadline.cancel()
            del self._pending[subscriber_id]
            if future.done() and not future.cancelled():
                future.exception()  # mark a late failure (close_all) as seen

    def _on_text(self, session: Session, text: str) -> Rejection | None:
        """Use one text frame of ``session``; why it is unusable, or None."""
        parsed = parse_reply(text)
        if isinstance(parsed, Rejection):
            return parsed
        rejection = self._match(session, parsed)
        if rejection is None:
            self._pending[session.subscriber_id].future.set_result(parsed.reply)
            session.last_answered = parsed.id
        return rejection

    def _match(self, session: Session, parsed: ParsedReply) -> Rejection | None:
        pending = self._pending.get(session.subscriber_id)
        answered = session.last_answered == parsed.id
        if pending is not None and pending.id == parsed.id and not pending.future.done():
            return None
        if answered or (pending is not None and pending.id == parsed.id):
            return Rejection(parsed.id, f"notification {parsed.id} was already answered")
        return Rejection(parsed.id, f"notification {parsed.id} is not awaiting a reply")


def _expire(future: asyncio.Future[Reply]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
