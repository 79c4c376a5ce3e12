"""Group commit: the writes asked while a commit is in flight share the next transaction.

One flusher task (owned by ``GroupCommit``, started by the first write) is the
only writer. A caller queues its ``Changes`` and waits; the flusher takes
everything queued (up to ``MAX_GROUP`` writes), merges it in the order it
was asked (``Changes.merged``) and commits it as one transaction: one
fsync, one round trip, for several callers. Writes are applied in the order
they were asked, across groups too: the engine relies on it (a newer memory
state must never be overwritten by an older one).

Each caller learns the outcome of its own data only:

- the group committed: every caller returns;
- the group failed: it was rolled back as a whole, so nobody's data landed;
  each write of the group is then committed again alone, in order, and its
  caller gets that transaction's outcome (one bad write fails its caller,
  not the others; a database that is down fails every one of them).

A caller is never told "committed" unless a transaction holding its data
committed. A caller cancelled while waiting does not withdraw its write: it
may still be committed, in its place in the order (like a COMMIT already
sent).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.storage.changes import Changes
from app.storage.errors import StorageError

# Bounds one transaction when a backlog has built up.
MAX_GROUP = 64

Commit = Callable[[Changes], Awaitable[None]]


@dataclass(slots=True)
class _Write:
    changes: Changes
    done: asyncio.Future[None]


class GroupCommit:
    """Serialises writes through ``commit`` (one transaction per call), merging queued ones."""

    def __init__(self, commit: Commit, *, max_group: int = MAX_GROUP) -> None:
        self._commit = commit
        self._max_group = max_group
        self._queue: collections.deque[_Write] = collections.deque()
        self._wakeup = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def queued(self) -> int:
        """Writes waiting for the next transaction (not counting the one in flight)."""
        return len(self._queue)

    async def write(self, changes: Changes) -> None:
        """Return once ``changes`` are committed; raise what made their transaction fail."""
        if self._closing:
            raise StorageError("storage write refused: the storage is closed")
        write = _Write(changes, asyncio.get_running_loop().create_future())
        self._queue.append(write)
        self._wakeup.set()
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="hotplugd-storage-writer")
        await write.done

    async def close(self) -> None:
        """Refuse new writes, commit the queued ones, stop the flusher; idempotent."""
        self._closing = True
        self._wakeup.set()
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        group: list[_Write] = []
        try:
            while self._queue or not self._closing:
                if not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                count = min(len(self._queue), self._max_group)
                group = [self._queue.popleft() for _ in range(count)]
                await self._commit_group(group)
                group = []
        finally:
            # Only reached early if the task itself is cancelled (the loop
            # is being torn down): nobody may wait for an answer forever,
            # and nobody new may queue behind a flusher that is gone.
            self._closing = True
            for write in [*group, *self._queue]:
                _settle(write, StorageError("storage write abandoned: the storage stopped"))
            self._queue.clear()

    async def _commit_group(self, group: list[_Write]) -> None:
        if len(group) == 1:
            await self._commit_alone(group[0])
            return
        try:
            await self._commit(Changes.merged(write.changes for write in group))
        except Exception:
            for write in group:
                await self._commit_alone(write)
            return
        for write in group:
            _settle(write, None)

    async def _commit_alone(self, write: _Write) -> None:
        try:
            await self._commit(write.changes)
        except Exception as exc:
            _settle(write, exc)
        else:
            _settle(write, None)


def _settle(write: _Write, error: BaseException | None) -> None:
    if write.done.done():  # its caller was cancelled
        return
    if error is None:
        write.done.set_result(None)
    else:
        write.done.set_exception(error)
