"""A real hotplugd in the test's event loop, and scripted websocket subscribers.

``running_service(tmp_path, **settings)`` serves ``create_app`` with uvicorn on
127.0.0.1 port 0 and yields a ``Service`` with admin/viewer HTTP clients.
``Service.subscriber(name, ...)`` registers a subscriber over REST and connects
a real ``websockets`` client to its channel; a ``ScriptedSubscriber`` answers
each notification with what its ``answer`` function says and logs every frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from app.main import create_app
from app.settings import Settings
from tests.support.server import RunningServer, seconds, serve, wait_for

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
VIEWER_TOKEN = "viewer-token-for-tests-0123456789"

Answer = Callable[[dict[str, Any]], dict[str, Any] | None]
EventLog = list[tuple[str, str, int]]  # (subscriber name, action, block)


def reply_ok(_frame: dict[str, Any]) -> dict[str, Any]:
    """Answer NOTIFY_OK to everything."""
    return {"result": "NOTIFY_OK"}


@dataclass
class ScriptedSubscriber:
    """A subscriber process stand-in: a real websocket client with a script."""

    service: Service
    info: dict[str, Any]
    answer: Answer | None = reply_ok
    log: EventLog | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    ws: ClientConnection | None = None
    hello: dict[str, Any] | None = None
    close_code: int | None = None
    _task: asyncio.Task[None] | None = None
    _inbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    @property
    def id(self) -> str:
        return str(self.info["id"])

    @property
    def name(self) -> str:
        return str(self.info["name"])

    async def connect(self) -> ScriptedSubscriber:
        """Open the channel and wait for ``hello``."""
        self.ws = await connect(
            self.info["ws_url"],
            additional_headers={"Authorization": f"Bearer {self.info['token']}"},
            open_timeout=seconds(5),
        )
        self.hello = json.loads(await asyncio.wait_for(self.ws.recv(), seconds(5)))
        self._task = asyncio.create_task(self._read(self.ws))
        await wait_for(lambda: self.service.app.state.hub.is_connected(self.id))
        return self

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                if frame.get("type") == "notify":
                    await self._on_notify(ws, frame)
                else:
                    self._inbox.put_nowait(frame)
        except Exception:  # the connection ended: tests look at close_code
            pass
        finally:
            self.close_code = ws.close_code

    async def _on_notify(self, ws: ClientConnection, frame: dict[str, Any]) -> None:
        self.notifications.append(frame)
        if self.log is not None:
            self.log.append((self.name, frame["action"], frame["block"]))
        if self.answer is None:
            self._inbox.put_nowait(frame)
            return
        fields = self.answer(frame)
        if fields is not None:
            await ws.send(json.dumps({"type": "reply", "id": frame["id"], **fields}))

    async def next_frame(self, timeout: float = 5) -> dict[str, Any]:
        """The next frame the script did not answer (errors, or notifies when manual)."""
        return await asyncio.wait_for(self._inbox.get(), seconds(timeout))

    async def send(self, frame: dict[str, Any] | str) -> None:
        """Send a frame as is."""
        assert self.ws is not None
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def reply(self, notify_id: int, result: str | int = "NOTIFY_OK", **extra: Any) -> None:
        """Answer one notification by hand."""
        await self.send({"type": "reply", "id": notify_id, "result": result, **extra})

    def actions(self) -> list[str]:
        """The actions received, in order."""
        return [frame["action"] for frame in self.notifications]

    async def close(self) -> None:
        """Close the connection and stop the reader."""
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            await asyncio.wait_for(self._task, seconds(5))


@dataclass
class Service:
    """A served hotplugd and clients for it."""

    server: RunningServer
    app: Any
    admin: httpx.AsyncClient
    viewer: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    log: EventLog = field(default_factory=list)
    subscribers: list[ScriptedSubscriber] = field(default_factory=list)

    async def register(self, name: str, **body: Any) -> dict[str, Any]:
        """Register a subscriber over REST; the response (with token and ws_url)."""
        response = await self.admin.post("/api/v1/subscribers", json={"name": name, **body})
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    async def subscriber(
        self, name: str, answer: Answer | None = reply_ok, *, connect: bool = True, **body: Any
    ) -> ScriptedSubscriber:
        """Register and (by default) connect a scripted subscriber logging into ``log``."""
        info = await self.register(name, **body)
        sub = ScriptedSubscriber(self, info, answer, self.log)
        self.subscribers.append(sub)
        if connect:
            await sub.connect()
        return sub

    async def online(self, block: int, online_type: str = "online", **body: Any) -> httpx.Response:
        """POST online and wait for the transition."""
        return await self.admin.post(
            f"/api/v1/memory/blocks/{block}/online", json={"online_type": online_type, **body}
        )

    async def offline(self, block: int, **body: Any) -> httpx.Response:
        """POST offline and wait for the transition."""
        return await self.admin.post(f"/api/v1/memory/blocks/{block}/offline", json=body)

    async def block(self, block: int) -> dict[str, Any]:
        """GET one block."""
        response = await self.admin.get(f"/api/v1/memory/blocks/{block}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test service: its own data dir, fixed tokens, quick recovery."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "admin_token": ADMIN_TOKEN,
        "viewer_token": VIEWER_TOKEN,
        "port": 0,
        "recovery_grace_ms": 2000,
        "shutdown_grace_s": 5,
    }
    values.update(overrides)
    return Settings(**values)


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default context, built once: loading the CA bundle costs ~40 ms per client."""
    return httpx.create_ssl_context()


@contextlib.asynccontextmanager
async def running_service(
    tmp_path: Path, *, server_options: Mapping[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[Service]:
    """Serve a fresh hotplugd until the block ends (``server_options``: extra uvicorn options)."""
    app = create_app(make_settings(tmp_path, **overrides))
    async with serve(app, **(server_options or {})) as server, contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=server.http,
                    headers=headers,
                    timeout=seconds(30),
                    verify=default_ssl_context(),
                )
            )
            for headers in (
                {"Authorization": f"Bearer {ADMIN_TOKEN}"},
                {"Authorization": f"Bearer {VIEWER_TOKEN}"},
                {},
            )
        ]
        service = Service(server, app, *clients)
        try:
            yield service
        finally:
            for sub in service.subscribers:
                with contextlib.suppress(Exception):
                    await sub.close()


# -- Helpers for the chain-rule e2e tests (SPEC §2, §4) -----------------------

FINAL_OUTCOMES = ("completed", "cancelled", "failed", "aborted")


def answer_by_action(
    replies: dict[str, dict[str, Any] | None],
    default: dict[str, Any] | None = None,
) -> Answer:
    """Reply per action name; other actions get ``default`` (NOTIFY_OK). None: no reply."""
    otherwise = {"result": "NOTIFY_OK"} if default is None else default

    def answer(frame: dict[str, Any]) -> dict[str, Any] | None:
        return replies.get(frame["action"], otherwise)

    return answer


def record_walk(record: dict[str, Any], action: str) -> dict[str, Any]:
    """The (first) walk of ``action`` in a transition record."""
    walks = [w for w in record["walks"] if w["action"] == action]
    assert walks, f"no {action} walk in {[w['action'] for w in record['walks']]}"
    walk: dict[str, Any] = walks[0]
    return walk


def walk_names(record: dict[str, Any], action: str) -> list[str]:
    """The names of the subscribers called in the walk of ``action``, in call order."""
    return [call["name"] for call in record_walk(record, action)["calls"]]


async def get_json(service: Service, path: str) -> Any:
    """GET a path as admin and return its JSON (asserting 200)."""
    response = await service.admin.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def chain_names(service: Service) -> list[str]:
    """``GET /api/v1/chain``: the names in call order."""
    return [entry["name"] for entry in await get_json(service, "/api/v1/chain")]


async def start_transition(
    service: Service, operation: str, block: int, **body: Any
) -> dict[str, Any]:
    """POST online/offline with ``?wait=false``; the 202 record."""
    response = await service.admin.post(
        f"/api/v1/memory/blocks/{block}/{operation}?wait=false", json=body
    )
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()
    return data


async def wait_finished(
    service: Service, transition_id: str, timeout: float = 5.0
) -> dict[str, Any]:
    """Poll a transition until its outcome is final; its record."""
    latest: dict[str, Any] = {}

    async def finished() -> bool:
        latest.update(await get_json(service, f"/api/v1/transitions/{transition_id}"))
        return latest.get("outcome") in FINAL_OUTCOMES

    await wait_for(finished, timeout=timeout)
    return latest


async def next_notify(sub: ScriptedSubscriber, action: str, timeout: float = 5) -> int:
    """Wait for a manual subscriber's next notification, check its action; its id."""
    frame = await sub.next_frame(timeout)
    assert frame["type"] == "notify", frame
    assert frame["action"] == action, frame
    notify_id: int = frame["id"]
    return notify_id
