"""SPEC §2 crash safety and §6/§8 graceful shutdown, with hotplugd as a real child process.

The service is started with ``python -m app`` on a known free port, SIGKILLed
in the middle of a transition, and restarted on the same data directory; the
subscriber reconnects with the same token and gets the recovery walk.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.support.events import event_stream
from tests.support.hotplug import ADMIN_TOKEN, VIEWER_TOKEN
from tests.support.process import HotplugProcess, free_port, open_ws, recv_json
from tests.support.server import seconds

EINTR = -4


def env(grace_ms: int = 10_000) -> dict[str, str]:
    """The child's settings: fixed tokens, a recovery grace, quiet logs."""
    return {
        "HOTPLUG_ADMIN_TOKEN": ADMIN_TOKEN,
        "HOTPLUG_VIEWER_TOKEN": VIEWER_TOKEN,
        "HOTPLUG_RECOVERY_GRACE_MS": str(grace_ms),
        "HOTPLUG_LOG_LEVEL": "warning",
    }


@contextlib.asynccontextmanager
async def admin_client(proc: HotplugProcess) -> AsyncIterator[httpx.AsyncClient]:
    """An admin HTTP client for the child."""
    async with httpx.AsyncClient(
        base_url=proc.http,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=seconds(10),
    ) as client:
        yield client


async def register(client: httpx.AsyncClient, name: str, **body: Any) -> dict[str, Any]:
    """Register a subscriber over REST."""
    response = await client.post("/api/v1/subscribers", json={"name": name, **body})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def connect_subscriber(info: dict[str, Any]) -> ClientConnection:
    """Open the subscriber's channel and read its hello."""
    ws = await open_ws(info["ws_url"], info["token"])
    hello = await recv_json(ws)
    assert hello["type"] == "hello"
    return ws


async def reply(ws: ClientConnection, frame: dict[str, Any], result: str = "NOTIFY_OK") -> None:
    """Answer one notification."""
    await ws.send(f'{{"type": "reply", "id": {frame["id"]}, "result": "{result}"}}')


async def dead(ws: ClientConnection) -> None:
    """Wait (bounded) until a connection whose server was killed is closed."""
    with contextlib.suppress(ConnectionClosed, TimeoutError):
        await asyncio.wait_for(ws.wait_closed(), seconds(5))
    await ws.close()


async def readyz(proc: HotplugProcess) -> int:
    """The status of /readyz (no token)."""
    async with httpx.AsyncClient(base_url=proc.http, timeout=seconds(5)) as client:
        return (await client.get("/readyz")).status_code


async def test_uncommitted_offline_is_aborted_after_a_crash(tmp_path: Path) -> None:
    """SIGKILL during MEM_GOING_OFFLINE: restart, MEM_CANCEL_OFFLINE, outcome aborted -EINTR."""
    data, port = tmp_path / "data", free_port()
    async with (
        HotplugProcess(tmp_path, data_dir=data, port=port, env=env(), name="first") as first,
        admin_client(first) as client,
    ):
        info = await register(client, "cache", timeout_ms=30_000)
        ws = await connect_subscriber(info)
        response = await client.post(
            "/api/v1/memory/blocks/9/offline", params={"wait": "false"}, json={}
        )
        assert response.status_code == 202
        transition = response.json()["id"]
        going = await recv_json(ws)
        assert (going["action"], going["block"]) == ("MEM_GOING_OFFLINE", 9)
        block = (await client.get("/api/v1/memory/blocks/9")).json()
        assert block["state"] == "going-offline"
        await first.kill()  # no answer: the service dies mid-walk
        await dead(ws)

    async with (
        HotplugProcess(tmp_path, data_dir=data, port=port, env=env(), name="second") as second,
        admin_client(second) as client,
    ):
        assert await readyz(second) == 503  # waiting for the subscriber to come back
        ws = await connect_subscriber(info)
        try:
            cancel = await recv_json(ws, timeout=10)
            assert (cancel["action"], cancel["action_value"]) == ("MEM_CANCEL_OFFLINE", 32)
            assert (cancel["transition"], cancel["block"]) == (transition, 9)
            assert cancel["arg"] == going["arg"]
            assert cancel["id"] > going["id"]
            assert await readyz(second) == 503  # recovery is not over until the walk is
            await reply(ws, cancel)
            await second.wait_ready()
            block = (await client.get("/api/v1/memory/blocks/9")).json()
            assert (block["state"], block["zone"], block["transition"]) == (
                "online",
                "Movable",
                None,
            )
            record = (await client.get(f"/api/v1/transitions/{transition}")).json()
            assert record["outcome"] == "aborted"
            assert (record["errno"], record["errno_name"]) == (EINTR, "EINTR")
            cancel_call = record["walks"][-1]["calls"][0]
            assert (cancel_call["subscriber"], cancel_call["delivery"]) == (info["id"], "replied")
            history = (await client.get("/api/v1/transitions")).json()
            assert [r["id"] for r in history] == [transition]
            # nothing about it is lost: the interrupted MEM_GOING_OFFLINE walk is in the record
            assert [w["action"] for w in record["walks"]] == [
                "MEM_GOING_OFFLINE",
                "MEM_CANCEL_OFFLINE",
            ]
        finally:
            await ws.close()


async def test_committed_online_is_completed_after_a_crash(tmp_path: Path) -> None:
    """SIGKILL during MEM_ONLINE: after restart the MEM_ONLINE walk is redone, outcome completed."""
    data, port = tmp_path / "data", free_port()
    async with (
        HotplugProcess(tmp_path, data_dir=data, port=port, env=env(), name="first") as first,
        admin_client(first) as client,
    ):
        info = await register(client, "agent", timeout_ms=30_000)
        ws = await connect_subscriber(info)
        response = await client.post(
            "/api/v1/memory/blocks/12/online", params={"wait": "false"}, json={}
        )
        transition = response.json()["id"]
        going = await recv_json(ws)
        assert going["action"] == "MEM_GOING_ONLINE"
        await reply(ws, going)
        online = await recv_json(ws)
        assert online["action"] == "MEM_ONLINE"
        block = (await client.get("/api/v1/memory/blocks/12")).json()
        assert block["state"] == "online"  # committed before MEM_ONLINE
        await first.kill()
        await dead(ws)

    async with (
        HotplugProcess(tmp_path, data_dir=data, port=port, env=env(), name="second") as second,
        admin_client(second) as client,
    ):
        assert await readyz(second) == 503
        ws = await connect_subscriber(info)
        try:
            redo = await recv_json(ws, timeout=10)
            assert (redo["action"], redo["transition"], redo["block"]) == (
                "MEM_ONLINE",
                transition,
                12,
            )
            assert redo["arg"] == going["arg"]
            # the interrupted walk is redone with the same ids: a resend, answered once
            assert redo["id"] == online["id"]
            await reply(ws, redo)
            await second.wait_ready()
            record = (await client.get(f"/api/v1/transitions/{transition}")).json()
            assert (record["outcome"], record["errno"]) == ("completed", None)
            actions = [w["action"] for w in record["walks"]]
            assert actions[0] == "MEM_GOING_ONLINE"
            assert actions[-1] == "MEM_ONLINE"
            assert set(actions) == {"MEM_GOING_ONLINE", "MEM_ONLINE"}
            assert record["walks"][0]["calls"][0]["delivery"] == "replied"
            assert record["walks"][-1]["calls"][0]["delivery"] == "replied"
            block = (await client.get("/api/v1/memory/blocks/12")).json()
            assert (block["state"], block["zone"], block["transition"]) == (
                "online",
                "Normal",
                None,
            )
            memory = (await client.get("/api/v1/memory")).json()
            node1 = next(n for n in memory["nodes"] if n["id"] == 1)
            assert "N_MEMORY" in node1["states"]
        finally:
            await ws.close()


async def test_recovery_grace_ends_without_the_subscriber(tmp_path: Path) -> None:
    """Nobody reconnects: /readyz is 503 during the grace, then the transition is aborted."""
    data, port = tmp_path / "data", free_port()
    async with (
        HotplugProcess(tmp_path, data_dir=data, port=port, env=env(), name="first") as first,
        admin_client(first) as client,
    ):
        info = await register(client, "gone", timeout_ms=30_000)
        ws = await connect_subscriber(info)
        response = await client.post(
            "/api/v1/memory/blocks/13/online", params={"wait": "false"}, json={}
        )
        transition = response.json()["id"]
        assert (await recv_json(ws))["action"] == "MEM_GOING_ONLINE"
        await first.kill()
        await dead(ws)

    grace = env(grace_ms=2500)
    async with (
        HotplugProcess(tmp_path, data_dir=data, port=port, env=grace, name="second") as second,
        admin_client(second) as client,
    ):
        assert await readyz(second) == 503
        await second.wait_ready(timeout=15)
        record = (await client.get(f"/api/v1/transitions/{transition}")).json()
        assert (record["outcome"], record["errno"]) == ("aborted", EINTR)
        assert record["walks"][-1]["action"] == "MEM_CANCEL_ONLINE"
        assert record["walks"][-1]["calls"][0]["delivery"] == "disconnected"
        block = (await client.get("/api/v1/memory/blocks/13")).json()
        assert (block["state"], block["transition"]) == ("offline", None)


async def test_sigterm_closes_websockets_with_1001_and_exits_0(tmp_path: Path) -> None:
    """Graceful shutdown: a subscriber and a dashboard see close code 1001; the exit status is 0."""
    async with (
        HotplugProcess(tmp_path, data_dir=tmp_path / "data", env=env()) as proc,
        admin_client(proc) as client,
        event_stream(proc.ws, VIEWER_TOKEN) as stream,
    ):
        info = await register(client, "listener")
        ws = await connect_subscriber(info)
        try:
            await stream.wait_for("hotplug.subscriber.connected")
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(ConnectionClosed):
                while True:  # nothing but the close is expected
                    await asyncio.wait_for(ws.recv(), seconds(10))
            assert ws.close_code == 1001
            assert await stream.ended(timeout=10) == 1001
            assert await proc.wait_exit() == 0
        finally:
            await ws.close()


async def test_state_survives_a_clean_restart(tmp_path: Path) -> None:
    """Subscribers (same token), memory state, history persist; event ids keep increasing."""
    data, port = tmp_path / "data", free_port()
    async with (
        HotplugProcess(tmp_path, data_dir=data, port=port, env=env(), name="first") as first,
        admin_client(first) as client,
    ):
        info = await register(client, "keeper", priority=9)
        response = await client.post(
            "/api/v1/memory/blocks/14/online", json={"online_type": "online_movable"}
        )
        assert response.status_code == 409  # not connected: -ENOTCONN
        await client.delete(f"/api/v1/subscribers/{info['id']}")
        async with event_stream(first.ws, VIEWER_TOKEN) as stream:
            info = await register(client, "keeper", priority=9, failure_policy="ignore")
            last_event = await stream.wait_for("hotplug.subscriber.registered")
        assert (
            await client.post(
                "/api/v1/memory/blocks/14/online", json={"online_type": "online_movable"}
            )
        ).status_code == 200
        first.send_signal(signal.SIGTERM)
        assert await first.wait_exit() == 0

    async with (
        HotplugProcess(tmp_path, data_dir=data, port=port, env=env(), name="second") as second,
        admin_client(second) as client,
    ):
        await second.wait_ready()
        subs = (await client.get("/api/v1/subscribers")).json()
        assert [(s["id"], s["name"], s["priority"]) for s in subs] == [(info["id"], "keeper", 9)]
        block = (await client.get("/api/v1/memory/blocks/14")).json()
        assert (block["state"], block["zone"]) == ("online", "Movable")
        history = (await client.get("/api/v1/transitions")).json()
        assert [r["outcome"] for r in history] == ["completed", "cancelled"]
        async with event_stream(second.ws, VIEWER_TOKEN) as stream:
            ws = await connect_subscriber(info)  # the same token still opens the channel
            await ws.close()
            connected = await stream.wait_for("hotplug.subscriber.connected")
        # event ids keep increasing across the restart
        assert int(connected["id"]) > int(last_event["id"])
