"""The composition root: ``create_app(settings)`` wires every part together.

Start-up order: data directory and admin token, layout, storage (schema
migrations), the event bus, the websocket hub, the engine (which recovers
unfinished transitions before ``/readyz`` turns ready). Shutdown runs the
other way round: refuse new requests, let the transition in flight finish
(bounded), close websockets with 1001, close the event stream, flush storage.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import FastAPI

from app import logsafe
from app.api import openapi, problems
from app.api.dashboard import dashboard_router
from app.api.deps import ApiContext
from app.api.guard import AuthGuard
from app.api.limits import BodyLimit
from app.api.responses import OrjsonResponse
from app.api.routes import debug, docs, health, subscribers, transitions
from app.api.routes import memory as memory_routes
from app.chain.walk import CancelScope
from app.engine.auth import Role, Tokens, new_token
from app.engine.events import EventBus
from app.engine.registry import Registry
from app.engine.service import Engine, EngineConfig
from app.memory.layout import default_layout, parse_layout
from app.memory.model import Memory
from app.settings import Settings
from app.storage import create_storage
from app.transport.hub import Hub
from app.transport.limits import FloodLimits
from app.transport.routes import events_router, subscriber_router

log = logging.getLogger("hotplugd")

ADMIN_TOKEN_FILE = "admin-token"
VERSION = "0.1.0"


def create_app(settings: Settings) -> FastAPI:
    """Build the ASGI application for these settings; nothing starts until its lifespan."""
    logsafe.install()
    memory = load_memory(settings)  # a bad layout fails before a token is generated
    admin_token, generated = resolve_admin_token(settings)
    bus = EventBus(
        retain=settings.event_retention,
        queue_size=settings.observer_queue,
        first_id=time.time_ns() // 1000,  # ids keep increasing across restarts
    )
    registry = Registry()
    engine_ref: list[Engine] = []
    hub = Hub(
        registry,
        bus,
        limits=FloodLimits(write_timeout=settings.ws_ping_interval + settings.ws_ping_timeout),
        on_connected=lambda sid: engine_ref[0].connection_changed(sid),
        on_disconnected=lambda sid: engine_ref[0].connection_changed(sid),
    )
    registry.is_connected = hub.is_connected
    storage = create_storage(settings.resolved_database_url(), sync_commit=settings.sync_commit)
    config = EngineConfig(
        cancel_scope=CancelScope(settings.cancel_scope),
        max_queue=settings.max_queue,
        recovery_grace_ms=settings.recovery_grace_ms,
        shutdown_grace_s=settings.shutdown_grace_s,
        history_keep=settings.history_keep,
    )
    engine = Engine(memory, storage, hub, bus, config, registry=registry)
    engine_ref.append(engine)
    engine.metrics.observers.set_function(lambda: bus.observer_count)
    engine.metrics.connected.set_function(lambda: len(hub.connected_ids()))
    tokens = Tokens(admin_token, settings.viewer_token)

    async def drain() -> None:
        """Graceful shutdown; safe to call twice."""
        await engine.close()
        await hub.close_all(1001, "service shutting down")
        bus.close()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stored = await storage.open()
        await engine.start(stored)
        if generated:
            announce(settings, admin_token)
        try:
            yield
        finally:
            await drain()
            await storage.close()

    app = FastAPI(
        title="hotplugd",
        version=VERSION,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        default_response_class=OrjsonResponse,
    )
    app.state.api = ApiContext(engine, tokens, settings.metrics_require_token)
    app.state.drain = drain
    app.state.hub = hub
    app.state.bus = bus
    problems.install(app)
    openapi.install(app)
    for module in (memory_routes, transitions, subscribers, debug, health, docs):
        app.include_router(module.router)
    app.include_router(subscriber_router(hub))
    app.include_router(events_router(bus, _authorizer(tokens, registry)))
    app.include_router(dashboard_router())
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AuthGuard)  # outermost: auth before the body is even counted
    return app


def _authorizer(tokens: Tokens, registry: Registry) -> Callable[[str | None], str | None]:
    def authorize(token: str | None) -> str | None:
        role: Role | None = tokens.role_of(token)
        if role is not None:
            return role.value
        if token and registry.owner_of(token) is not None:
            return "subscriber"  # a valid token, but not one that may read the stream
        return None

    return authorize


def resolve_admin_token(settings: Settings) -> tuple[str, bool]:
    """The admin token: from settings, else from the data directory, else a new one (0600)."""
    if settings.admin_token:
        return settings.admin_token, False
    path = settings.data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        return path.read_text().strip(), False
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token, True


def load_memory(settings: Settings) -> Memory:
    """The layout file's machine, or the built-in one."""
    if settings.layout is None:
        return default_layout()
    path = Path(settings.layout)
    return parse_layout(path.read_text(), str(path))


def announce(settings: Settings, token: str) -> None:
    """Print the dashboard link with the new admin token, once."""
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    print(
        f"hotplugd: generated the admin token (kept in {settings.data_dir / ADMIN_TOKEN_FILE})\n"
        f"hotplugd: dashboard: http://{host}:{settings.port}/#token={token}",
        file=sys.stderr,
        flush=True,
    )


API_DESCRIPTION = """
hotplugd runs the Linux kernel's memory hotplug notifier chain over the network.

Operators online, offline, add and remove memory blocks; for every
online/offline transition the registered subscribers are called one at a time,
in priority order, over websockets (`/api/v1/subscribers/{id}/ws`), and a
veto on `MEM_GOING_*` cancels the transition and broadcasts `MEM_CANCEL_*`.
Dashboards follow `/api/v1/events` (CloudEvents).

Every error is `application/problem+json` (RFC 9457) with `errno` and
`errno_name` where a kernel errno applies. Authenticate with
`Authorization: Bearer <token>`: the admin token may do everything, the viewer
token may only read.
"""
