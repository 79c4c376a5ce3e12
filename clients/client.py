"""`HotplugClient`: the async HTTP client for every endpoint of SPEC §5.

    async with HotplugClient("http://127.0.0.1:8000", token) as client:
        record = await client.offline(17)          # waits for the transition
        blocks = await client.blocks(state="online")

Every error answer raises `HotplugError` with the problem details; a veto
names the vetoer and the errno. Unreachable service: `HotplugConnectionError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, TypeVar

import httpx

from clients import _api
from clients._api import UNSET, Endpoint, Unset
from clients.errors import map_transport_errors, raise_for_problem
from clients.events import CloudEvent, stream_events
from clients.models import (
    JSON,
    Block,
    ChainEntry,
    ChmemResult,
    ErrorInjection,
    MemoryInfo,
    ProbeResult,
    Registration,
    SubscriberInfo,
    Transition,
)
from clients.version import __version__

T = TypeVar("T")

DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_WAIT_TIMEOUT: Final = 600.0


def auth_headers(token: str | None) -> dict[str, str]:
    """The request headers: a bearer token when there is one, and our user agent."""
    headers = {"User-Agent": f"hotplugctl/{__version__}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class HotplugClient:
    """Async client of hotplugd's REST API.

    ``timeout`` bounds each ordinary request (seconds). Requests that wait for
    transitions (online/offline with ``wait=True``, chmem, probe) are bounded
    by ``wait_timeout`` instead, since a transition may call many subscribers.
    ``transport`` is for tests (e.g. ``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.wait_timeout = wait_timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=auth_headers(token),
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> HotplugClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; idempotent."""
        await self._http.aclose()

    async def _call(self, endpoint: Endpoint[T]) -> T:
        response = await self._send(endpoint.method, endpoint.path, endpoint)
        if endpoint.follow_accepted and response.status_code == 202:
            location = response.headers.get("Location")
            if location and not _api.has_record(response):
                response = await self._send("GET", location)
        raise_for_problem(response)
        return endpoint.parse(response)

    async def _send(
        self, method: str, path: str, endpoint: Endpoint[Any] | None = None
    ) -> httpx.Response:
        kwargs: dict[str, Any] = {}
        if endpoint is not None:
            kwargs = {"params": endpoint.params or None, "json": endpoint.body}
            if endpoint.waits:
                kwargs["timeout"] = self.wait_timeout
        with map_transport_errors(self.base_url):
            return await self._http.request(method, path, **kwargs)

    async def memory(self) -> MemoryInfo:
        """Block size, page size, ``auto_online_blocks``, nodes and totals."""
        return await self._call(_api.memory())

    async def blocks(self, *, state: str | None = None, node: int | None = None) -> list[Block]:
        """All memory blocks, optionally only those in ``state`` and/or on ``node``."""
        return await self._call(_api.blocks(state, node))

    async def block(self, block_id: int) -> Block:
        """One memory block."""
        return await self._call(_api.block(block_id))

    async def online(
        self,
        block: int,
        online_type: str = "online",
        timeout_ms: int | None = None,
        wait: bool = True,
    ) -> Transition:
        """Online a block; returns the transition record (pending when ``wait=False``).

        Raises HotplugError (409, with the record) when vetoed or failed.
        """
        return await self._call(_api.online(block, online_type, timeout_ms, wait))

    async def offline(
        self, block: int, timeout_ms: int | None = None, wait: bool = True
    ) -> Transition:
        """Offline a block; returns the transition record (pending when ``wait=False``)."""
        return await self._call(_api.offline(block, timeout_ms, wait))

    async def patch_block(
        self,
        block: int,
        *,
        isolation_fails: bool | None = None,
        unmovable_pages: bool | None = None,
        migration_ms: int | None = None,
    ) -> Block:
        """Set a block's simulation flags (admin); None leaves a flag as it is."""
        flags = {
            "isolation_fails": isolation_fails,
            "unmovable_pages": unmovable_pages,
            "migration_ms": migration_ms,
        }
        return await self._call(_api.patch_block(block, flags))

    async def probe(
        self, *, node: int | None = None, count: int | None = None, phys_addr: str | None = None
    ) -> ProbeResult:
        """Hot-add ``count`` blocks on ``node``, or one block at ``phys_addr``."""
        return await self._call(_api.probe(node, count, phys_addr))

    async def remove(self, block: int) -> None:
        """Hot-remove an offline block."""
        await self._call(_api.remove(block))

    async def chmem(
        self,
        enable: bool,
        *,
        size: str | None = None,
        range: str | None = None,
        blocks: str | None = None,
        zone: str | None = None,
    ) -> ChmemResult:
        """Enable or disable memory like util-linux chmem: by size, address range or blocks."""
        return await self._call(_api.chmem(enable, size, range, blocks, zone))

    async def transitions(
        self,
        *,
        limit: int | None = None,
        before: str | int | None = None,
        operation: str | None = None,
        block: int | None = None,
        node: int | None = None,
        outcome: str | None = None,
    ) -> list[Transition]:
        """Transition history, newest first."""
        filters = {"limit": limit, "before": before, "operation": operation}
        filters |= {"block": block, "node": node, "outcome": outcome}
        return await self._call(_api.transitions(filters))

    async def transition(self, transition_id: str) -> Transition:
        """One transition record, with its walks and calls."""
        return await self._call(_api.transition(transition_id))

    async def abort(self, transition_id: str) -> Transition:
        """Abort an offline in flight (it fails with -EINTR)."""
        return await self._call(_api.abort(transition_id))

    async def register_subscriber(
        self,
        name: str,
        *,
        priority: int | None = None,
        actions: Sequence[str] | None = None,
        nodes: Sequence[int] | None = None,
        timeout_ms: int | None = None,
        failure_policy: str | None = None,
    ) -> Registration:
        """Register a subscriber; the answer holds its ``id``, one-time ``token`` and ``ws_url``."""
        endpoint = _api.register_subscriber(
            name, priority, actions, nodes, timeout_ms, failure_policy
        )
        return await self._call(endpoint)

    async def subscribers(self) -> list[SubscriberInfo]:
        """All registered subscribers."""
        return await self._call(_api.subscribers())

    async def subscriber(self, subscriber_id: str) -> SubscriberInfo:
        """One subscriber: connection, last reply, counters."""
        return await self._call(_api.subscriber(subscriber_id))

    async def update_subscriber(
        self,
        subscriber_id: str,
        *,
        name: str | Unset = UNSET,
        priority: int | Unset = UNSET,
        actions: Sequence[str] | Unset | None = UNSET,
        nodes: Sequence[int] | Unset | None = UNSET,
        timeout_ms: int | Unset = UNSET,
        failure_policy: str | Unset = UNSET,
    ) -> SubscriberInfo:
        """Change priority, filters or policy; fields left UNSET stay, None clears a filter."""
        changes: dict[str, object] = {"priority": priority, "timeout_ms": timeout_ms}
        changes |= {"name": name, "failure_policy": failure_policy}
        changes |= {"actions": _api.listed(actions), "nodes": _api.listed(nodes)}
        return await self._call(_api.update_subscriber(subscriber_id, changes))

    async def unregister_subscriber(self, subscriber_id: str) -> None:
        """Unregister a subscriber (its channel closes with 4004)."""
        await self._call(_api.unregister_subscriber(subscriber_id))

    async def chain(self) -> list[ChainEntry]:
        """The call order the next transition will use."""
        return await self._call(_api.chain())

    async def error_injection(self) -> ErrorInjection:
        """The ``notifier-error-inject`` settings."""
        return await self._call(_api.error_injection())

    async def set_error_injection(
        self,
        enabled: bool,
        *,
        priority: int | None = None,
        actions: Mapping[str, int] | None = None,
    ) -> ErrorInjection:
        """Enable (with a priority and per-action errnos) or disable error injection."""
        return await self._call(_api.set_error_injection(enabled, priority, actions))

    async def healthz(self) -> JSON:
        """Liveness."""
        return await self._call(_api.healthz())

    async def readyz(self) -> JSON:
        """Readiness; raises HotplugError (503) while not ready."""
        return await self._call(_api.readyz())

    async def metrics(self) -> str:
        """Prometheus metrics text."""
        return await self._call(_api.metrics())

    def events(self, since: str | int | None = None) -> AsyncGenerator[CloudEvent, None]:
        """The dashboard event stream (SPEC §7), reconnecting and resuming after drops."""
        return stream_events(self.base_url, self.token, since=since)
