"""Helpers for the hardening tests (crash consistency, load): hotplugd runs as a child process.

- ``LoggingSubscriber``: a real websocket subscriber that logs every
  notification it receives, answers as its ``Behaviour`` says (possibly after
  a delay, possibly never), and reconnects by itself when the service dies.
- ``all_transitions``: the whole history, page by page.
- ``sqlite_integrity`` / ``postgres_integrity``: what is wrong with a
  database the service wrote (an empty list when nothing is).
- ``rss_kib``: the resident set size of a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.support.server import seconds

JSON = dict[str, Any]

# What a subscriber does with one notification: (delay in seconds, reply fields)
# or None to never answer it.
Decision = tuple[float, JSON] | None
Behaviour = Callable[[JSON], Decision]

# How long a subscriber keeps trying to come back after its connection died.
RECONNECT_WINDOW_S = 60.0
RECONNECT_PAUSE_S = 0.02
MAX_CONNECTIONS = 10_000  # per subscriber and test: a bound, never reached in practice


@dataclass(frozen=True, slots=True)
class Received:
    """One notification frame as a subscriber received it."""

    epoch: int  # which service process sent it (the test's counter)
    id: int
    transition: str
    action: str
    block: int


@dataclass
class LoggingSubscriber:
    """A websocket subscriber that logs what it receives and reconnects after a crash."""

    info: JSON
    behaviour: Behaviour
    epoch: Callable[[], int] = lambda: 0
    on_receive: Callable[[Received], None] | None = None
    received: list[Received] = field(default_factory=list)
    replies: dict[int, JSON] = field(default_factory=dict)
    connections: int = 0
    _ws: ClientConnection | None = None
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _up: asyncio.Event = field(default_factory=asyncio.Event)
    _replying: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def id(self) -> str:
        return str(self.info["id"])

    @property
    def connected(self) -> bool:
        """Whether a connection is open and its hello was read."""
        return self._up.is_set()

    def start(self) -> None:
        """Start connecting (and reconnecting) in the background."""
        self._task = asyncio.create_task(self._run(), name=f"subscriber:{self.id}")

    async def wait_connected(self, timeout: float = 10) -> None:
        """Wait (bounded) until the channel is open."""
        await asyncio.wait_for(self._up.wait(), seconds(timeout))

    async def stop(self) -> None:
        """Close the connection and end the background task."""
        self._stop.set()
        for task in list(self._replying):
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, seconds(5))

    async def _run(self) -> None:
        for _ in range(MAX_CONNECTIONS):
            if self._stop.is_set():
                return
            ws = await self._reconnect()
            if ws is None:
                return
            try:
                await self._serve(ws)
            except (ConnectionClosed, OSError, TimeoutError):
                pass  # the service died or closed us: come back
            finally:
                self._up.clear()
                self._ws = None

    async def _reconnect(self) -> ClientConnection | None:
        deadline = time.monotonic() + seconds(RECONNECT_WINDOW_S)
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                ws = await connect(
                    self.info["ws_url"],
                    additional_headers={"Authorization": f"Bearer {self.info['token']}"},
                    open_timeout=seconds(5),
                    max_size=2**20,
                )
            except (OSError, InvalidHandshake, TimeoutError):
                await asyncio.sleep(RECONNECT_PAUSE_S)  # pacing between attempts
                continue
            self._ws = ws
            self.connections += 1
            return ws
        return None

    async def _serve(self, ws: ClientConnection) -> None:
        hello = json.loads(await asyncio.wait_for(ws.recv(), seconds(5)))
        assert hello["type"] == "hello", hello
        self._up.set()
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") != "notify":
                continue  # error frames: nothing to log for the invariants
            received = Received(
                self.epoch(), frame["id"], frame["transition"], frame["action"], frame["block"]
            )
            self.received.append(received)
            if self.on_receive is not None:
                self.on_receive(received)
            decision = self.behaviour(frame)
            if decision is None:
                continue  # held forever: the service times it out
            delay, fields = decision
            self.replies[frame["id"]] = fields
            task = asyncio.create_task(self._answer(ws, frame["id"], delay, fields))
            self._replying.add(task)
            task.add_done_callback(self._replying.discard)

    @staticmethod
    async def _answer(ws: ClientConnection, notify_id: int, delay: float, fields: JSON) -> None:
        if delay > 0:
            await asyncio.sleep(delay)  # the subscriber's own work time, not a readiness wait
        with contextlib.suppress(ConnectionClosed, OSError):
            await ws.send(json.dumps({"type": "reply", "id": notify_id, **fields}))


async def all_transitions(client: httpx.AsyncClient, max_pages: int = 1000) -> list[JSON]:
    """The whole history, oldest first (bounded number of pages)."""
    records: list[JSON] = []
    before: str | None = None
    for _ in range(max_pages):
        params: dict[str, Any] = {"limit": 1000}
        if before is not None:
            params["before"] = before
        response = await client.get("/api/v1/transitions", params=params)
        assert response.status_code == 200, response.text
        page: list[JSON] = response.json()
        records.extend(page)
        if len(page) < 1000:
            return sorted(records, key=lambda r: r["seq"])
        before = page[-1]["id"]
    raise AssertionError(f"history has more than {max_pages} pages")


def rss_kib(pid: int) -> int:
    """VmRSS of a live process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def _row_problems(rows: list[tuple[Any, ...]]) -> list[str]:
    """Typed copies of ``transitions`` rows that disagree with their JSON ``data``."""
    problems = []
    for id_, seq, operation, block, node, outcome, data in rows:
        try:
            record = json.loads(data)
        except ValueError as exc:
            problems.append(f"transition row {id_}: data is not JSON ({exc})")
            continue
        copies = {
            "id": id_,
            "seq": seq,
            "operation": operation,
            "block": block,
            "node": node,
            "outcome": outcome,
        }
        for key, value in copies.items():
            if record.get(key) != value:
                problems.append(
                    f"transition row {id_}: column {key}={value!r}, data {record.get(key)!r}"
                )
    return problems


_ROWS = "SELECT id, seq, operation, block, node, outcome, data FROM transitions"


def sqlite_integrity(path: Path) -> list[str]:
    """Open the file read-only: ``PRAGMA integrity_check`` and the rows' own consistency."""
    uri = f"file:{path}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        problems = [
            f"integrity_check: {row[0]}"
            for row in conn.execute("PRAGMA integrity_check")
            if row[0] != "ok"
        ]
        problems += [
            f"foreign_key_check: {row}" for row in conn.execute("PRAGMA foreign_key_check")
        ]
        problems += _row_problems(list(conn.execute(_ROWS)))
        problems += _memory_problems(
            [row[0] for row in conn.execute("SELECT data FROM memory_state")]
        )
    finally:
        conn.close()
    return problems


def _memory_problems(rows: list[str]) -> list[str]:
    if len(rows) != 1:
        return [f"memory_state has {len(rows)} rows, not 1"]
    try:
        state = json.loads(rows[0])
    except ValueError as exc:
        return [f"memory_state is not JSON: {exc}"]
    if not isinstance(state.get("blocks"), list):
        return ["memory_state has no block list"]
    return []


async def postgres_integrity(server: str, schema: str) -> list[str]:
    """amcheck (heap and every B-tree index of the schema) and the rows' own consistency.

    Runs in a READ ONLY transaction. amcheck must be installed in the
    database (see ``ensure_amcheck``); without it only the row checks run.
    """
    conn = await asyncio.wait_for(asyncpg.connect(server), seconds(5))
    problems: list[str] = []
    try:
        amcheck = await conn.fetchval(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'amcheck'"
        )
        async with conn.transaction(readonly=True):
            await conn.execute(f'SET LOCAL search_path = "{schema}"')
            if amcheck is not None:
                problems += await _amcheck(conn, amcheck, schema)
            rows = await conn.fetch(_ROWS)
            problems += _row_problems([tuple(row) for row in rows])
            memory = await conn.fetch("SELECT data FROM memory_state")
            problems += _memory_problems([row["data"] for row in memory])
    finally:
        await conn.close()
    return problems


async def _amcheck(conn: asyncpg.Connection, amcheck: str, schema: str) -> list[str]:
    problems = []
    tables = await conn.fetch(
        "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relkind = 'r'",
        schema,
    )
    for table in tables:
        corrupt = await conn.fetch(
            f'SELECT * FROM "{amcheck}".verify_heapam($1::text::regclass)',
            f'"{schema}"."{table["relname"]}"',
        )
        problems += [f"verify_heapam({table['relname']}): {dict(row)}" for row in corrupt]
    indexes = await conn.fetch(
        "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_am a ON a.oid = c.relam WHERE n.nspname = $1 AND c.relkind = 'i'"
        " AND a.amname = 'btree'",
        schema,
    )
    for index in indexes:
        try:
            await conn.execute(
                f'SELECT "{amcheck}".bt_index_check($1::text::regclass, true)',
                f'"{schema}"."{index["relname"]}"',
            )
        except asyncpg.PostgresError as exc:
            problems.append(f"bt_index_check({index['relname']}): {exc}")
    if not indexes:
        problems.append(f"no B-tree index found in schema {schema}")
    return problems


async def ensure_amcheck(server: str, schema: str) -> str | None:
    """Install amcheck in ``schema`` (dropped with it) unless the database has it; where it is."""
    conn = await asyncio.wait_for(asyncpg.connect(server), seconds(5))
    try:
        with contextlib.suppress(asyncpg.PostgresError):
            await conn.execute(f'CREATE EXTENSION IF NOT EXISTS amcheck WITH SCHEMA "{schema}"')
        found: str | None = await conn.fetchval(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'amcheck'"
        )
        return found
    finally:
        await conn.close()
