"""Fixtures for the transport tests: a real uvicorn server, real websocket clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.engine.events import EventBus, Observer
from app.engine.ports import JSON, Notification
from app.transport.hub import Hub
from app.transport.limits import FloodLimits
from app.transport.routes import events_router, subscriber_router
from tests.support.server import RunningServer, seconds, serve

SUBSCRIBERS = {
    "s1": ("token-s1", {"id": "s1", "name": "page-cache", "priority": 10}),
    "s2": ("token-s2", {"id": "s2", "name": "balloon", "priority": 0}),
}
ROLES = {"token-admin": "admin", "token-viewer": "viewer", "token-s1": "subscriber"}


class FakeDirectory:
    """The engine's subscriber directory, reduced to a dict of id → (token, public)."""

    def authenticate(self, subscriber_id: str, token: str) -> JSON | None:
        entry = SUBSCRIBERS.get(subscriber_id)
        if entry is None or entry[0] != token:
            return None
        return dict(entry[1])


def authorize(token: str | None) -> str | None:
    """The service's token → role mapping, reduced to a dict."""
    return None if token is None else ROLES.get(token)


def make_app(hub: Hub, bus: EventBus, limits: FloodLimits | None = None) -> FastAPI:
    """A tiny app with the two transport routers."""
    app = FastAPI()
    app.include_router(subscriber_router(hub))
    app.include_router(events_router(bus, authorize, limits))
    return app


class Hooks:
    """Records the hub's on_connected / on_disconnected calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def connected(self, subscriber_id: str) -> None:
        self.calls.append(("connected", subscriber_id))

    def disconnected(self, subscriber_id: str) -> None:
        self.calls.append(("disconnected", subscriber_id))


@pytest.fixture
def bus() -> EventBus:
    """The event bus the hub publishes on and the events route streams."""
    return EventBus("/hotplugd")


@pytest.fixture
def hooks() -> Hooks:
    """Records the hub's connection hooks."""
    return Hooks()


@pytest.fixture
def limits() -> FloodLimits:
    """Flood limits; tests override them with ``@pytest.mark.parametrize("limits", ...)``."""
    return FloodLimits()


@pytest.fixture
def hub(bus: EventBus, hooks: Hooks, limits: FloodLimits) -> Hub:
    """A hub over the fake directory."""
    return Hub(
        FakeDirectory(),
        bus,
        on_connected=hooks.connected,
        on_disconnected=hooks.disconnected,
        limits=limits,
    )


@pytest.fixture
async def server(hub: Hub, bus: EventBus, limits: FloodLimits) -> AsyncIterator[RunningServer]:
    """A real uvicorn server with both routers, on 127.0.0.1 and port 0."""
    async with serve(make_app(hub, bus, limits)) as running:
        yield running


def subscriber_url(server: RunningServer, subscriber_id: str = "s1", query: str = "") -> str:
    """The subscriber channel's URL."""
    return f"{server.ws}/api/v1/subscribers/{subscriber_id}/ws{query}"


def events_url(server: RunningServer, query: str = "") -> str:
    """The event stream's URL."""
    return f"{server.ws}/api/v1/events{query}"


def open_ws(url: str, token: str | None = None, **options: Any) -> connect:
    """A websocket client; ``token`` goes in the Authorization header."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    options.setdefault("compression", None)
    return connect(url, additional_headers=headers, proxy=None, open_timeout=seconds(5), **options)


def open_subscriber(server: RunningServer, subscriber_id: str = "s1", **options: Any) -> connect:
    """A client on the subscriber's channel, with its token."""
    return open_ws(subscriber_url(server, subscriber_id), SUBSCRIBERS[subscriber_id][0], **options)


async def recv_json(ws: ClientConnection, timeout: float = 5) -> Any:
    """The next frame, parsed; fails the test after ``timeout`` (scaled) seconds."""
    return orjson.loads(await asyncio.wait_for(ws.recv(), seconds(timeout)))


async def send_json(ws: ClientConnection, frame: Any) -> None:
    """Send ``frame`` as a JSON text frame."""
    await ws.send(orjson.dumps(frame).decode())


async def closed_with(ws: ClientConnection, timeout: float = 5) -> tuple[int | None, str | None]:
    """Wait until the server closed ``ws``; its close code and reason."""
    await asyncio.wait_for(ws.wait_closed(), seconds(timeout))
    return ws.close_code, ws.close_reason


async def read_until_closed(ws: ClientConnection, timeout: float = 10) -> tuple[int, str]:
    """Read (and discard) frames until the server closes; its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(_discard_all(ws), seconds(timeout))
    assert closed.value.rcvd is not None, "closed without a close frame from the server"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _discard_all(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


async def next_event(observer: Observer, timeout: float = 5) -> JSON:
    """The observer's next event; fails the test after ``timeout`` (scaled) seconds."""
    return await asyncio.wait_for(anext(observer), seconds(timeout))


def notification(
    id_: int = 1, action: str = "MEM_GOING_OFFLINE", timeout_ms: int = 5000
) -> Notification:
    """A notification for block 1 on node 1."""
    values = {"MEM_GOING_OFFLINE": 2, "MEM_GOING_ONLINE": 8, "MEM_OFFLINE": 4}
    return Notification(
        id=id_,
        transition="t-0001",
        action=action,
        action_value=values[action],
        arg={
            "start_pfn": 32768,
            "nr_pages": 32768,
            "status_change_nid_normal": -1,
            "status_change_nid_high": -1,
            "status_change_nid": 1,
        },
        block=1,
        node=1,
        timeout_ms=timeout_ms,
    )


def start(coro: Any) -> asyncio.Task[Any]:
    """Run a deliver() concurrently with the client side of the test."""
    return asyncio.create_task(coro)
