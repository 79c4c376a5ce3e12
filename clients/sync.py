"""`SyncHotplugClient`: the same API as `HotplugClient`, blocking, for scripts.

    with SyncHotplugClient("http://127.0.0.1:8000", token) as client:
        for block in client.blocks(state="offline"):
            client.online(block["id"], "online_movable")

It sends the very same endpoint definitions (`clients._api`) with an
``httpx.Client``, so it needs no event loop and works inside one too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from clients import _api
from clients._api import UNSET, Endpoint, Unset
from clients.client import DEFAULT_TIMEOUT, DEFAULT_WAIT_TIMEOUT, auth_headers
from clients.errors import map_transport_errors, raise_for_problem
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

T = TypeVar("T")


class SyncHotplugClient:
    """Blocking client of hotplugd's REST API; see `HotplugClient` for the semantics."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.wait_timeout = wait_timeout
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=auth_headers(token),
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> SyncHotplugClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool; idempotent."""
        self._http.close()

    def _call(self, endpoint: Endpoint[T]) -> T:
        response = self._send(endpoint.method, endpoint.path, endpoint)
        if endpoint.follow_accepted and response.status_code == 202:
            location = response.headers.get("Location")
            if location and not _api.has_record(response):
                response = self._send("GET", location)
        raise_for_problem(response)
        return endpoint.parse(response)

    def _send(
        self, method: str, path: str, endpoint: Endpoint[Any] | None = None
    ) -> httpx.Response:
        kwargs: dict[str, Any] = {}
        if endpoint is not None:
            kwargs = {"params": endpoint.params or None, "json": endpoint.body}
            if endpoint.waits:
                kwargs["timeout"] = self.wait_timeout
        with map_transport_errors(self.base_url):
            return self._http.request(method, path, **kwargs)

    def memory(self) -> MemoryInfo:
        """Block size, page size, ``auto_online_blocks``, nodes and totals."""
        return self._call(_api.memory())

    def blocks(self, *, state: str | None = None, node: int | None = None) -> list[Block]:
        """All memory blocks, optionally only those in ``state`` and/or on ``node``."""
        return self._call(_api.blocks(state, node))

    def block(self, block_id: int) -> Block:
        """One memory block."""
        return self._call(_api.block(block_id))

    def online(
        self,
        block: int,
        online_type: str = "online",
        timeout_ms: int | None = None,
        wait: bool = True,
    ) -> Transition:
        """Online a block; returns the transition record. Raises HotplugError on a veto."""
        return self._call(_api.online(block, online_type, timeout_ms, wait))

    def offline(self, block: int, timeout_ms: int | None = None, wait: bool = True) -> Transition:
        """Offline a block; returns the transition record. Raises HotplugError on a veto."""
        return self._call(_api.offline(block, timeout_ms, wait))

    def patch_block(
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
        return self._call(_api.patch_block(block, flags))

    def probe(
        self, *, node: int | None = None, count: int | None = None, phys_addr: str | None = None
    ) -> ProbeResult:
        """Hot-add ``count`` blocks on ``node``, or one block at ``phys_addr``."""
        return self._call(_api.probe(node, count, phys_addr))

    def remove(self, block: int) -> None:
        """Hot-remove an offline block."""
        self._call(_api.remove(block))

    def chmem(
        self,
        enable: bool,
        *,
        size: str | None = None,
        range: str | None = None,
        blocks: str | None = None,
        zone: str | None = None,
    ) -> ChmemResult:
        """Enable or disable memory like util-linux chmem."""
        return self._call(_api.chmem(enable, size, range, blocks, zone))

    def transitions(
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
        return self._call(_api.transitions(filters))

    def transition(self, transition_id: str) -> Transition:
        """One transition record."""
        return self._call(_api.transition(transition_id))

    def abort(self, transition_id: str) -> Transition:
        """Abort an offline in flight."""
        return self._call(_api.abort(transition_id))

    def register_subscriber(
        self,
        name: str,
        *,
        priority: int | None = None,
        actions: Sequence[str] | None = None,
        nodes: Sequence[int] | None = None,
        timeout_ms: int | None = None,
        failure_policy: str | None = None,
    ) -> Registration:
        """Register a subscriber; the answer holds its ``id``, ``token`` and ``ws_url``."""
        endpoint = _api.register_subscriber(
            name, priority, actions, nodes, timeout_ms, failure_policy
        )
        return self._call(endpoint)

    def subscribers(self) -> list[SubscriberInfo]:
        """All registered subscribers."""
        return self._call(_api.subscribers())

    def subscriber(self, subscriber_id: str) -> SubscriberInfo:
        """One subscriber."""
        return self._call(_api.subscriber(subscriber_id))

    def update_subscriber(
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
        """Change priority, filters or policy; UNSET fields stay, None clears a filter."""
        changes: dict[str, object] = {"priority": priority, "timeout_ms": timeout_ms}
        changes |= {"name": name, "failure_policy": failure_policy}
        changes |= {"actions": _api.listed(actions), "nodes": _api.listed(nodes)}
        return self._call(_api.update_subscriber(subscriber_id, changes))

    def unregister_subscriber(self, subscriber_id: str) -> None:
        """Unregister a subscriber."""
        self._call(_api.unregister_subscriber(subscriber_id))

    def chain(self) -> list[ChainEntry]:
        """The call order the next transition will use."""
        return self._call(_api.chain())

    def error_injection(self) -> ErrorInjection:
        """The ``notifier-error-inject`` settings."""
        return self._call(_api.error_injection())

    def set_error_injection(
        self,
        enabled: bool,
        *,
        priority: int | None = None,
        actions: Mapping[str, int] | None = None,
    ) -> ErrorInjection:
        """Enable or disable error injection."""
        return self._call(_api.set_error_injection(enabled, priority, actions))

    def healthz(self) -> JSON:
        """Liveness."""
        return self._call(_api.healthz())

    def readyz(self) -> JSON:
        """Readiness; raises HotplugError (503) while not ready."""
        return self._call(_api.readyz())

    def metrics(self) -> str:
        """Prometheus metrics text."""
        return self._call(_api.metrics())
