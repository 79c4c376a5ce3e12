"""Load (issue 8): many subscribers, many concurrent clients, a small queue; and history retention.

hotplugd runs as a child process (``python -m app``), so its RSS can be read
from ``/proc``. ``HOTPLUG_SOAK=1`` runs the long variants (60 s of load,
100,000 transitions of retention).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.hardening import JSON, Decision, LoggingSubscriber, all_transitions, rss_kib
from tests.support.hotplug import ADMIN_TOKEN
from tests.support.process import HotplugProcess
from tests.support.server import seconds

SOAK = os.environ.get("HOTPLUG_SOAK") == "1"
LOAD_SECONDS = 60.0 if SOAK else 10.0
SUBSCRIBERS = 200
CLIENTS = 50
MAX_QUEUE = 16
SUBSCRIBER_TIMEOUT_MS = 1000
# RSS may settle a little after warm-up; it must not keep climbing.
RSS_GROWTH_BOUND_KIB = 48 * 1024
RSS_GROWTH_BOUND_RATIO = 0.25

HISTORY_KEEP = 100
PRUNE_EVERY = 1000  # the engine prunes after every 1000 finished transitions (Engine._prune)
RETENTION_TRANSITIONS = 100_000 if SOAK else 1_500
RETENTION_WORKERS = 5
FINAL = {"completed", "cancelled", "failed", "aborted"}


def env(**extra: str) -> dict[str, str]:
    """The child's settings: fixed admin token, quiet logs, and ``extra``."""
    return {"HOTPLUG_ADMIN_TOKEN": ADMIN_TOKEN, "HOTPLUG_LOG_LEVEL": "warning", **extra}


@contextlib.asynccontextmanager
async def admin(proc: HotplugProcess, connections: int = 16) -> AsyncIterator[httpx.AsyncClient]:
    """An admin HTTP client for the child with room for ``connections`` concurrent requests."""
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout could
    # close one under a request being sent (a client-side race, not the service's).
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(
        base_url=proc.http,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=seconds(120),
        limits=limits,
    ) as client:
        yield client


def reply_ok(_frame: JSON) -> Decision:
    """Answer NOTIFY_OK at once."""
    return 0.0, {"result": "NOTIFY_OK"}


@dataclass
class LoadFigures:
    """What the clients saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    accepted: set[str] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    queue_full_503: int = 0
    other_503: list[str] = field(default_factory=list)
    queue_depth_max: int = 0
    pending_max: int = 0
    rss: list[tuple[float, int]] = field(default_factory=list)


async def trigger_client(
    client: httpx.AsyncClient, block: int, wait: bool, end: float, seed: int, figures: LoadFigures
) -> None:
    """Toggle one block online/offline until ``end``; count every answer."""
    rng = random.Random(seed)
    state = None
    for _ in range(1_000_000):  # bounded; ``end`` stops it long before
        if time.monotonic() >= end:
            return
        if state is None:
            state = (await client.get(f"/api/v1/memory/blocks/{block}")).json()["state"]
        operation = "offline" if state == "online" else "online"
        try:
            response = await client.post(
                f"/api/v1/memory/blocks/{block}/{operation}",
                params={"wait": "true" if wait else "false"},
                json={},
            )
        except httpx.TransportError as exc:
            figures.transport_errors.append(f"{operation} {block}: {exc!r}")
            state = None
            continue
        status = response.status_code
        figures.statuses[status] += 1
        if status in (200, 202):
            figures.accepted.add(response.json()["id"])
            state = operation
        elif status == 409:
            body = response.json()
            figures.accepted.add(body["transition"]["id"])
            if body.get("errno_name") == "EINVAL":
                state = None  # it was in the other state already: look again
        elif status == 503:
            body = response.json()
            if "queue is full" in body.get("detail", ""):
                figures.queue_full_503 += 1
            else:
                figures.other_503.append(body.get("detail", response.text[:200]))
            await asyncio.sleep(rng.uniform(0.005, 0.03))  # back off, as Retry-After asks
        else:
            figures.unexpected.append(f"{operation} {block}: {status} {response.text[:200]}")


async def sample(
    proc: HotplugProcess, client: httpx.AsyncClient, end: float, figures: LoadFigures
) -> None:
    """RSS, the queue depth gauge and the pending records, a few times a second until ``end``."""
    assert proc.proc is not None
    started = time.monotonic()
    for _ in range(100_000):
        now = time.monotonic()
        if now >= end:
            return
        figures.rss.append((now - started, rss_kib(proc.proc.pid)))
        metrics = (await client.get("/metrics")).text
        for line in metrics.splitlines():
            if line.startswith("hotplug_queue_depth "):
                figures.queue_depth_max = max(figures.queue_depth_max, int(float(line.split()[1])))
        pending = await client.get(
            "/api/v1/transitions", params={"outcome": "pending", "limit": 1000}
        )
        figures.pending_max = max(figures.pending_max, len(pending.json()))
        await asyncio.sleep(0.25)  # sampling period


async def wait_all_final(client: httpx.AsyncClient, timeout: float) -> list[JSON]:
    """The history once nothing is pending or running any more (bounded)."""
    deadline = time.monotonic() + seconds(timeout)
    while True:
        history = await all_transitions(client)
        if all(r["outcome"] in FINAL for r in history):
            return history
        if time.monotonic() > deadline:
            unfinished = [r["id"] for r in history if r["outcome"] not in FINAL]
            raise AssertionError(
                f"{len(unfinished)} transitions still unfinished: {unfinished[:20]}"
            )
        await asyncio.sleep(0.1)  # polling period, bounded by the deadline


async def test_load_200_subscribers_50_clients(tmp_path: Path) -> None:
    """200 subscribers, 50 clients, queue 16: only 503s, nothing lost, bounded queue, flat RSS."""
    settings = env(HOTPLUG_MAX_QUEUE=str(MAX_QUEUE))
    subscribers: list[LoggingSubscriber] = []
    async with (
        HotplugProcess(tmp_path, data_dir=tmp_path / "data", env=settings) as proc,
        admin(proc, CLIENTS + 8) as client,
    ):
        try:
            await proc.wait_ready()
            probe = await client.post("/api/v1/memory/probe", json={"node": 3, "count": 22})
            assert probe.status_code == 201, probe.text
            blocks = sorted(b["id"] for b in (await client.get("/api/v1/memory/blocks")).json())
            assert len(blocks) >= CLIENTS
            for i in range(SUBSCRIBERS):
                body = {"name": f"load-{i}", "priority": i % 7, "timeout_ms": SUBSCRIBER_TIMEOUT_MS}
                response = await client.post("/api/v1/subscribers", json=body)
                assert response.status_code == 201, response.text
                sub = LoggingSubscriber(response.json(), reply_ok)
                subscribers.append(sub)
                sub.start()
            await asyncio.gather(*(s.wait_connected(timeout=30) for s in subscribers))

            figures = LoadFigures()
            started = time.monotonic()
            end = started + LOAD_SECONDS
            clients = [
                trigger_client(client, blocks[i], i % 2 == 0, end, i, figures)
                for i in range(CLIENTS)
            ]
            await asyncio.gather(sample(proc, client, end, figures), *clients)
            elapsed = time.monotonic() - started
            history = await wait_all_final(client, timeout=120)
        finally:
            for sub in subscribers:
                await sub.stop()

    requests = sum(figures.statuses.values())
    completed = sum(1 for r in history if r["outcome"] == "completed")
    half = len(figures.rss) // 2
    first_half = max(kib for _, kib in figures.rss[:half])
    second_half = max(kib for _, kib in figures.rss[half:])
    notified = sum(len(s.received) for s in subscribers)
    print(
        f"load: {elapsed:.1f}s, {requests} trigger requests ({requests / elapsed:.0f}/s),"
        f" statuses {dict(figures.statuses)}, accepted {len(figures.accepted)},"
        f" history {len(history)} ({completed} completed, {completed / elapsed:.1f}/s),"
        f" queue depth max {figures.queue_depth_max}, pending max {figures.pending_max},"
        f" transport errors {len(figures.transport_errors)},"
        f" notifications received {notified},"
        f" RSS max first half {first_half // 1024} MiB, second half {second_half // 1024} MiB",
        flush=True,
    )
    assert not figures.unexpected, figures.unexpected[:10]
    assert not figures.other_503, figures.other_503[:10]
    assert set(figures.statuses) <= {200, 202, 409, 503}, figures.statuses
    # the queue bound holds: 503s happened, and the queue never went beyond its bound
    assert figures.queue_full_503 > 0, figures.statuses
    assert figures.queue_depth_max <= MAX_QUEUE
    assert figures.pending_max <= MAX_QUEUE
    # nothing lost: every accepted request has a final record, and nothing else is there
    # (a request cut by a transport error may or may not have been accepted)
    recorded = {r["id"] for r in history}
    assert figures.accepted <= recorded, sorted(figures.accepted - recorded)[:20]
    assert len(recorded - figures.accepted) <= len(figures.transport_errors)
    assert not figures.transport_errors, figures.transport_errors[:10]
    assert completed > 0
    assert all(len(s.received) > 0 for s in subscribers)
    # memory flat: no more than a generous growth between the first and the second half
    bound = max(RSS_GROWTH_BOUND_KIB, int(first_half * RSS_GROWTH_BOUND_RATIO))
    assert second_half - first_half <= bound, (first_half, second_half, figures.rss)


def table_figures(database: Path) -> tuple[int, int, int, set[str]]:
    """Rows, lowest and highest seq, and outcomes of the transitions table (read-only)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        count, low, high = conn.execute(
            "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM transitions"
        ).fetchone()
        outcomes = {row[0] for row in conn.execute("SELECT DISTINCT outcome FROM transitions")}
        return count, low, high, outcomes
    finally:
        conn.close()


async def toggle(client: httpx.AsyncClient, block: int, times: int, done: list[int]) -> None:
    """Online/offline one block ``times`` times, waiting for each (no subscribers: quick)."""
    state = (await client.get(f"/api/v1/memory/blocks/{block}")).json()["state"]
    for _ in range(times):
        operation = "offline" if state == "online" else "online"
        response = await client.post(f"/api/v1/memory/blocks/{block}/{operation}", json={})
        assert response.status_code == 200, response.text
        state = operation
        done.append(1)


async def test_history_keep_bounds_the_database(tmp_path: Path) -> None:
    """HOTPLUG_HISTORY_KEEP=100: over many quick transitions the table stays <= keep + 1000."""
    database = tmp_path / "data" / "hotplugd.sqlite3"
    settings = env(HOTPLUG_HISTORY_KEEP=str(HISTORY_KEEP))
    per_worker = RETENTION_TRANSITIONS // RETENTION_WORKERS
    total = per_worker * RETENTION_WORKERS
    # between two prunes up to 1000 finished transitions pile up, plus those in flight
    bound = HISTORY_KEEP + PRUNE_EVERY + RETENTION_WORKERS
    counts: list[int] = []
    sizes: list[int] = []
    done: list[int] = []
    async with (
        HotplugProcess(tmp_path, data_dir=tmp_path / "data", env=settings) as proc,
        admin(proc, RETENTION_WORKERS + 4) as client,
    ):
        await proc.wait_ready()
        started = time.monotonic()
        workers = asyncio.gather(
            *(toggle(client, 12 + i, per_worker, done) for i in range(RETENTION_WORKERS))
        )
        deadline = started + seconds(3600)
        while not workers.done():  # sample the table while the transitions run
            assert time.monotonic() < deadline, f"only {len(done)} of {total} transitions"
            counts.append(table_figures(database)[0])
            sizes.append(database.stat().st_size)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(workers), 0.2)
        await workers
        elapsed = time.monotonic() - started
        # the engine prunes after answering the 1000th request: stop it cleanly first
        proc.send_signal(signal.SIGTERM)
        assert await proc.wait_exit(timeout=30) == 0
    count, oldest, newest, outcomes = table_figures(database)
    counts.append(count)
    sizes.append(database.stat().st_size)
    print(
        f"retention: {total} transitions in {elapsed:.1f}s ({total / elapsed:.0f}/s),"
        f" keep {HISTORY_KEEP}: table max {max(counts)} rows, final {count}"
        f" (tr-{oldest}..tr-{newest}); database file max {max(sizes) // 1024} KiB,"
        f" final {sizes[-1] // 1024} KiB",
        flush=True,
    )
    assert len(done) == total
    assert max(counts) <= bound, (max(counts), bound)
    # it did prune: what is left is the newest ones, keep + what came after the last prune
    after_last_prune = total % PRUNE_EVERY
    assert HISTORY_KEEP <= count <= HISTORY_KEEP + after_last_prune + RETENTION_WORKERS
    assert newest == total
    assert newest - oldest + 1 == count  # the newest ones, without gaps
    assert outcomes == {"completed"}
