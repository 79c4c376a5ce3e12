"""Helpers for the hardening tests: liveness probing during a fault, metrics, leaks.

``HealthProbe`` polls ``GET /healthz`` in the background for as long as a
fault lasts and records every latency, so a test can assert that the service
answered promptly throughout (not just before and after). ``metric_value``
reads one sample out of ``/metrics``. ``task_count`` and ``wait_tasks_at_most``
watch for leaked tasks in the in-process server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.hotplug import Service, running_service
from tests.support.server import seconds, wait_for

# How fast /healthz must answer while a fault is going on.
PROMPT_S = 0.5


@dataclass
class HealthProbe:
    """Latencies of the ``/healthz`` calls made while the probe ran."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

    def assert_prompt(self, limit: float = PROMPT_S, at_least: int = 1) -> None:
        """Every probe answered 200 within ``limit`` seconds, and there were enough of them."""
        assert not self.failures, self.failures[:5]
        assert len(self.latencies) >= at_least, f"only {len(self.latencies)} probes ran"
        assert self.worst < seconds(limit), f"/healthz took {self.worst:.3f}s during the fault"


@contextlib.asynccontextmanager
async def health_probe(base_url: str, interval: float = 0.02) -> AsyncIterator[HealthProbe]:
    """Poll ``/healthz`` every ``interval`` seconds until the block ends."""
    probe = HealthProbe()
    stop = asyncio.Event()

    async def run(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                response = await client.get("/healthz")
            except httpx.HTTPError as exc:
                probe.failures.append(repr(exc))
            else:
                probe.latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    probe.failures.append(f"{response.status_code}: {response.text[:200]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async with httpx.AsyncClient(base_url=base_url, timeout=seconds(5)) as client:
        task = asyncio.create_task(run(client), name="healthz-probe")
        try:
            yield probe
        finally:
            stop.set()
            await asyncio.wait_for(task, seconds(10))


async def metrics_text(client: httpx.AsyncClient) -> str:
    """``GET /metrics`` (asserting 200)."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


def metric_value(text: str, sample: str, **labels: str) -> float:
    """The value of one sample (0 when absent, as for a counter never incremented)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def failures(client: httpx.AsyncClient, subscriber: str, delivery: str) -> float:
    """``hotplug_notification_failures_total{subscriber, delivery}`` right now."""
    text = await metrics_text(client)
    return metric_value(
        text, "hotplug_notification_failures_total", subscriber=subscriber, delivery=delivery
    )


async def connected_gauge(client: httpx.AsyncClient) -> float:
    """``hotplug_subscribers_connected`` right now."""
    return metric_value(await metrics_text(client), "hotplug_subscribers_connected")


def task_count() -> int:
    """How many tasks the running loop (the test's, which also runs the server) holds."""
    return len(asyncio.all_tasks())


async def wait_tasks_at_most(limit: int, timeout: float = 5) -> None:
    """Wait until the loop holds at most ``limit`` tasks (connections wound down)."""

    def settled() -> bool:
        return task_count() <= limit

    try:
        await wait_for(settled, timeout)
    except AssertionError:
        names = sorted(t.get_name() for t in asyncio.all_tasks())
        raise AssertionError(f"{task_count()} tasks, expected <= {limit}: {names}") from None


@contextlib.contextmanager
def fast_data_dir(fallback: Path) -> Iterator[Path]:
    """A fresh data directory on tmpfs (``/dev/shm``) when there is one, else ``fallback``.

    SQLite runs with ``synchronous = FULL``; on tmpfs its fsyncs cost nothing,
    which lets fault tests drive hundreds of transitions in a few seconds.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield fallback / "data"
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="hotplugd-test-") as directory:
        yield Path(directory)


@contextlib.asynccontextmanager
async def service_with_server_options(
    tmp_path: Path, server_options: dict[str, Any], **settings: Any
) -> AsyncIterator[Service]:
    """Like ``running_service``, but with uvicorn options (keepalive, logging) of our own.

    ``running_service`` serves with the test defaults; the production entry
    point (``python -m app``) also hands the keepalive settings to uvicorn,
    which is what a keepalive test needs.
    """
    async with running_service(tmp_path, server_options=server_options, **settings) as service:
        yield service
