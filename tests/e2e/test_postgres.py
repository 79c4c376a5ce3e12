"""SPEC §8 storage on the real PostgreSQL server (127.0.0.1:5432, database ``test``).

Each test gets its own schema through the database URL's ``?schema=NAME``
(created by the service when missing) and drops it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.hotplug import ADMIN_TOKEN, ScriptedSubscriber, running_service
from tests.support.process import HotplugProcess, open_ws, recv_json
from tests.support.server import seconds

pytestmark = pytest.mark.postgres

SERVER = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A database URL with a fresh schema of its own; the schema is dropped afterwards."""
    schema = f"hotplug_e2e_{secrets.token_hex(6)}"
    try:
        admin = await asyncio.wait_for(asyncpg.connect(SERVER), seconds(5))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL is not reachable at {SERVER}: {exc}")
    try:
        yield f"{SERVER}?schema={schema}"
    finally:
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def tables_in(url: str) -> list[str]:
    """The tables of the URL's schema."""
    schema = url.rsplit("schema=", 1)[1]
    conn = await asyncpg.connect(SERVER)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
    finally:
        await conn.close()
    return sorted(row["table_name"] for row in rows)


def veto_block_13(frame: dict[str, Any]) -> dict[str, Any]:
    """Veto MEM_GOING_ONLINE of block 13 with -EBUSY; NOTIFY_OK otherwise."""
    if frame["block"] == 13 and frame["action"] == "MEM_GOING_ONLINE":
        return {"errno": -16, "message": "busy on postgres"}
    return {"result": "NOTIFY_OK"}


async def test_state_persists_across_restarts_on_postgres(tmp_path: Path, pg_url: str) -> None:
    """A veto and a completed transition, restart on the same URL: everything is still there."""
    async with running_service(tmp_path / "one", database_url=pg_url) as service:
        sub = await service.subscriber("guard", answer=veto_block_13, priority=3)
        completed = await service.online(12)
        assert completed.status_code == 200, completed.text
        vetoed = await service.online(13)
        assert vetoed.status_code == 409
        flags = await service.admin.patch("/api/v1/memory/blocks/14", json={"migration_ms": 7})
        assert flags.status_code == 200
        records_before = (await service.viewer.get("/api/v1/transitions")).json()
        subscriber_before = (await service.viewer.get(f"/api/v1/subscribers/{sub.id}")).json()
    assert await tables_in(pg_url), "the service made no tables in its schema"

    # another data directory: nothing can come from SQLite
    async with running_service(tmp_path / "two", database_url=pg_url) as service:
        subs = (await service.viewer.get("/api/v1/subscribers")).json()
        assert [(s["id"], s["name"], s["priority"]) for s in subs] == [(sub.id, "guard", 3)]
        assert subs[0]["counters"] == subscriber_before["counters"]
        assert subs[0]["counters"]["vetoes"] == 1
        assert subs[0]["last_reply"] == subscriber_before["last_reply"]

        records = (await service.viewer.get("/api/v1/transitions")).json()
        assert records == records_before
        assert [(r["block"], r["outcome"]) for r in records] == [
            (13, "cancelled"),
            (12, "completed"),
        ]
        vetoed_record = (
            await service.viewer.get(f"/api/v1/transitions/{vetoed.json()['transition']['id']}")
        ).json()
        assert vetoed_record["vetoed_by"]["message"] == "busy on postgres"
        assert (vetoed_record["errno"], vetoed_record["errno_name"]) == (-16, "EBUSY")
        assert [w["action"] for w in vetoed_record["walks"]] == [
            "MEM_GOING_ONLINE",
            "MEM_CANCEL_ONLINE",
        ]

        assert (await service.block(12))["state"] == "online"
        assert (await service.block(13))["state"] == "offline"
        assert (await service.block(14))["migration_ms"] == 7
        memory = (await service.viewer.get("/api/v1/memory")).json()
        node1 = next(n for n in memory["nodes"] if n["id"] == 1)
        assert "N_NORMAL_MEMORY" in node1["states"]

        # the subscriber's token survived (as a hash): it reconnects, and the chain runs
        ws_url = f"{service.server.ws}/api/v1/subscribers/{sub.id}/ws"
        again = ScriptedSubscriber(service, {**sub.info, "ws_url": ws_url}, log=[])
        service.subscribers.append(again)
        await again.connect()
        response = await service.online(15)
        assert response.status_code == 200, response.text
        assert again.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
        history = (await service.viewer.get("/api/v1/transitions")).json()
        assert len(history) == 3
        assert history[0]["id"] not in {r["id"] for r in records_before}


async def test_crash_recovery_on_postgres(tmp_path: Path, pg_url: str) -> None:
    """SIGKILL mid-offline with PostgreSQL storage: after restart the offline is aborted."""
    env = {
        "HOTPLUG_ADMIN_TOKEN": ADMIN_TOKEN,
        "HOTPLUG_DATABASE_URL": pg_url,
        "HOTPLUG_RECOVERY_GRACE_MS": "10000",
        "HOTPLUG_LOG_LEVEL": "warning",
    }
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async with HotplugProcess(tmp_path, data_dir=tmp_path / "d1", env=env, name="first") as first:
        async with httpx.AsyncClient(base_url=first.http, headers=headers) as client:
            info = (await client.post("/api/v1/subscribers", json={"name": "pg-sub"})).json()
            ws = await open_ws(info["ws_url"], info["token"])
            assert (await recv_json(ws))["type"] == "hello"
            response = await client.post(
                "/api/v1/memory/blocks/10/offline", params={"wait": "false"}, json={}
            )
            transition = response.json()["id"]
            assert (await recv_json(ws))["action"] == "MEM_GOING_OFFLINE"
        await first.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.wait_closed(), seconds(5))
        await ws.close()

    async with HotplugProcess(
        tmp_path, data_dir=tmp_path / "d2", port=first.port, env=env, name="second"
    ) as second:
        ws = await open_ws(info["ws_url"], info["token"])
        try:
            assert (await recv_json(ws))["type"] == "hello"
            cancel = await recv_json(ws, timeout=10)
            assert (cancel["action"], cancel["transition"]) == ("MEM_CANCEL_OFFLINE", transition)
            await ws.send(f'{{"type": "reply", "id": {cancel["id"]}, "result": "NOTIFY_OK"}}')
            await second.wait_ready()
            async with httpx.AsyncClient(base_url=second.http, headers=headers) as client:
                record = (await client.get(f"/api/v1/transitions/{transition}")).json()
                assert (record["outcome"], record["errno"]) == ("aborted", -4)
                block = (await client.get("/api/v1/memory/blocks/10")).json()
                assert block["state"] == "online"
        finally:
            await ws.close()
