"""The projection's view of the service: cached reads, writes, and their errnos.

Every file of the trees is rendered from three answers of the REST API, each
kept for a short time-to-live (``ttl``, default 0.5 s):

- ``GET /api/v1/memory/blocks``: every ``memoryN/*`` file and the listing, so a
  whole-tree read such as ``lsmem`` costs **one** request;
- ``GET /api/v1/memory``: ``auto_online_blocks`` (``block_size_bytes`` is read
  once at start and refreshed with it);
- ``GET /api/v1/debug/notifier-error-inject``: the debugfs ``error`` files.

A write through the projection invalidates the caches it can change before
it is sent and again after it is answered, and a read never joins a fetch
that started before the last invalidation, so a tool never reads an older
state after its own write. Concurrent reads of an expired entry share one
fetch.

Failures become a positive errno (`errno_of`): the errno of the problem
details when the service gives one (the veto's, ``EINVAL`` for a block
already in that state, ``EBUSY``, ``EINTR``, ``ETIMEDOUT`` …), else one that
fits the HTTP status; a service that cannot be reached is ``EIO``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final, Generic, TypeVar, cast

import httpx

from clients._api import PREFIX, Endpoint
from clients.client import HotplugClient
from clients.errors import HotplugConnectionError, HotplugError, HotplugTimeout
from clients.models import Block, ErrorInjection, MemoryInfo
from clients.sysfs.parse import MAX_ERRNO
from clients.sysfs.tree import SysfsError

T = TypeVar("T")

DEFAULT_TTL: Final = 0.5
log = logging.getLogger("hotplugctl.sysfs")

_STATUS_ERRNO: Final = {
    400: errno.EINVAL,
    401: errno.EACCES,
    403: errno.EACCES,
    404: errno.ENODEV,
    409: errno.EBUSY,
    413: errno.EINVAL,
    422: errno.EINVAL,
    429: errno.EBUSY,
    503: errno.EBUSY,
}


def errno_of(exc: HotplugError) -> int:
    """The positive errno a failed request stands for."""
    if isinstance(exc, HotplugTimeout):
        return errno.ETIMEDOUT
    if isinstance(exc, HotplugConnectionError):
        return errno.EIO
    if isinstance(exc.errno, int) and 0 < abs(exc.errno) <= MAX_ERRNO:
        return abs(exc.errno)
    return _STATUS_ERRNO.get(exc.status or 0, errno.EIO)


def _memory_info(response: httpx.Response) -> MemoryInfo:
    body = response.json() if response.content else {}
    return cast(MemoryInfo, body if isinstance(body, dict) else {})


class MountError(OSError):
    """The projection could not be mounted (``hotplugctl`` reports it and exits 1)."""


class SysfsClient(HotplugClient):
    """`HotplugClient` plus the one call the projection needs that it lacks."""

    async def set_auto_online_blocks(self, value: str) -> MemoryInfo:
        """``PATCH /api/v1/memory``: what hot-added blocks do."""
        endpoint = Endpoint(
            "PATCH", f"{PREFIX}/memory", _memory_info, body={"auto_online_blocks": value}
        )
        return await self._call(endpoint)


class Cached(Generic[T]):
    """One API answer kept for ``ttl`` seconds, fetched once for concurrent readers."""

    def __init__(
        self, fetch: Callable[[], Awaitable[T]], ttl: float, clock: Callable[[], float]
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._value: T | None = None
        self._stamp = 0.0
        self._generation = 0
        self._inflight: tuple[int, asyncio.Task[T]] | None = None

    async def get(self) -> T:
        """The cached answer while fresh; else the answer of a fetch started since."""
        if self._value is not None and self._clock() - self._stamp < self._ttl:
            return self._value
        if self._inflight is None or self._inflight[0] != self._generation:
            task = asyncio.ensure_future(self._load(self._generation))
            task.add_done_callback(_retrieve)
            self._inflight = (self._generation, task)
        return await asyncio.shield(self._inflight[1])

    async def _load(self, generation: int) -> T:
        started = self._clock()
        try:
            value = await self._fetch()
        finally:
            if self._inflight is not None and self._inflight[0] == generation:
                self._inflight = None
        if generation == self._generation:
            self._value, self._stamp = value, started
        return value

    def invalidate(self) -> None:
        """Forget the answer; fetches already under way no longer count."""
        self._generation += 1
        self._value = None


def _retrieve(task: asyncio.Task[object]) -> None:
    """Mark a shared fetch's exception as seen (its readers got it, or none was left)."""
    if not task.cancelled():
        task.exception()


class Backend:
    """Cached reads and the writes of the projection, over one `SysfsClient`."""

    def __init__(
        self,
        client: SysfsClient,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._block_size: int | None = None
        self._memory = Cached(self._fetch_memory, ttl, clock)
        self._blocks = Cached(self._fetch_blocks, ttl, clock)
        self._injection = Cached(self._fetch_injection, ttl, clock)

    async def _api(self, what: str, call: Awaitable[T]) -> T:
        """Await one request; log it; turn its failure into `SysfsError`."""
        started = time.monotonic()
        try:
            result = await call
        except HotplugError as exc:
            code = errno_of(exc)
            level = logging.WARNING if isinstance(exc, HotplugConnectionError) else logging.INFO
            log.log(level, "%s: %s (%s)", what, errno.errorcode.get(code, code), exc)
            raise SysfsError(code, str(exc)) from exc
        log.debug("%s: ok in %.1f ms", what, (time.monotonic() - started) * 1000)
        return result

    # -- reads --------------------------------------------------------------

    async def _fetch_memory(self) -> MemoryInfo:
        info = await self._api("GET /memory", self.client.memory())
        self._block_size = int(info["block_size_bytes"])
        return info

    async def _fetch_blocks(self) -> dict[int, Block]:
        blocks = await self._api("GET /memory/blocks", self.client.blocks())
        return {block["id"]: block for block in blocks}

    async def _fetch_injection(self) -> ErrorInjection:
        return await self._api("GET /debug/notifier-error-inject", self.client.error_injection())

    async def start(self) -> MemoryInfo:
        """Check that the service answers this token, and learn the block size.

        Raises `HotplugError` as it is, for the command to report.
        """
        info = await self.client.memory()
        self._block_size = int(info["block_size_bytes"])
        return info

    async def memory(self) -> MemoryInfo:
        """``GET /memory``, cached."""
        return await self._memory.get()

    async def block_size(self) -> int:
        """The block size in bytes (fetched at start, refreshed with ``memory``)."""
        if self._block_size is None:
            await self._memory.get()
        assert self._block_size is not None
        return self._block_size

    async def blocks(self) -> Mapping[int, Block]:
        """Every block by id, cached."""
        return await self._blocks.get()

    async def block(self, block_id: int) -> Block | None:
        """One block from the cached list, or None when there is no such block."""
        return (await self._blocks.get()).get(block_id)

    async def fresh_block(self, block_id: int) -> Block:
        """One block as the service has it now (``ENODEV`` when it is gone)."""
        return await self._api(f"GET /memory/blocks/{block_id}", self.client.block(block_id))

    async def injection(self) -> ErrorInjection:
        """The error-injection settings, cached."""
        return await self._injection.get()

    # -- writes -------------------------------------------------------------

    @contextlib.contextmanager
    def _changing(self, *caches: Cached[Any]) -> Iterator[None]:
        for cache in caches:
            cache.invalidate()
        try:
            yield
        finally:
            for cache in caches:
                cache.invalidate()

    async def online(self, block_id: int, online_type: str) -> None:
        """Online a block and wait for the transition (its errno when it fails)."""
        with self._changing(self._blocks, self._memory):
            await self._api(
                f"POST /memory/blocks/{block_id}/online {online_type}",
                self.client.online(block_id, online_type),
            )

    async def offline(self, block_id: int) -> None:
        """Offline a block and wait for the transition (its errno when it fails)."""
        with self._changing(self._blocks, self._memory):
            await self._api(
                f"POST /memory/blocks/{block_id}/offline", self.client.offline(block_id)
            )

    async def set_auto_online(self, value: str) -> None:
        """``PATCH /memory``."""
        with self._changing(self._memory):
            await self._api(
                f"PATCH /memory auto_online_blocks={value}",
                self.client.set_auto_online_blocks(value),
            )

    async def probe(self, phys_addr: int) -> None:
        """Hot-add the block at ``phys_addr`` (node 0, as the kernel's default)."""
        with self._changing(self._blocks, self._memory):
            await self._api(
                f"POST /memory/probe {phys_addr:#x}",
                self.client.probe(phys_addr=f"{phys_addr:#x}"),
            )

    async def set_injection(self, enabled: bool, priority: int, actions: Mapping[str, int]) -> None:
        """``PUT /debug/notifier-error-inject``."""
        with self._changing(self._injection):
            await self._api(
                f"PUT /debug/notifier-error-inject enabled={enabled} {dict(actions)}",
                self.client.set_error_injection(enabled, priority=priority, actions=actions),
            )
