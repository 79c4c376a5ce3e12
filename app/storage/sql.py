"""``SqlStorage``: the ``Storage`` port on SQLite or PostgreSQL, through SQLAlchemy."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from typing import Protocol, TypeVar

from sqlalchemy import Connection

from app.engine.ports import JSON, Batch, StoredState, TransitionQuery
from app.storage import queries
from app.storage.changes import Changes
from app.storage.errors import StorageError, storage_errors
from app.storage.group_commit import GroupCommit
from app.storage.migrations import migrate
from app.storage.postgresql import PostgresqlDatabase
from app.storage.records import decode
from app.storage.sqlite import SqliteDatabase
from app.storage.url import DatabaseTarget

T = TypeVar("T")


class Database(Protocol):
    """What ``SqlStorage`` needs from a backend (``SqliteDatabase``, ``PostgresqlDatabase``)."""

    async def prepare(self) -> None:
        """What must exist before the first transaction."""
        ...

    async def transaction(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """Run ``work`` in one transaction and commit it."""
        ...

    async def apply(self, changes: Changes) -> None:
        """Write ``changes`` in one transaction."""
        ...

    async def close(self) -> None:
        """Release every connection."""
        ...


class SqlStorage:
    """Durable state in one database; every method is one transaction.

    Writes go through a group commit (``group_commit``): in the order asked,
    several callers' writes in one transaction when they arrive while one is
    in flight. All failures surface as ``StorageError``. ``close`` refuses
    new work, waits for the work in flight (each bounded by the busy and
    command timeouts) and releases every connection.
    """

    def __init__(self, target: DatabaseTarget) -> None:
        self._target = target
        self._database: Database = (
            SqliteDatabase(target) if target.backend == "sqlite" else PostgresqlDatabase(target)
        )
        self._writes = GroupCommit(self._database.apply)
        self._closed = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def open(self) -> StoredState:
        """Create or migrate the schema, then load what a restart needs."""
        async with self._guard("open"):
            await self._database.prepare()
            await self._database.transaction(
                functools.partial(migrate, schema=self._target.schema), write=True
            )
            return await self._database.transaction(_load, write=False)

    async def write(self, batch: Batch) -> None:
        """Apply one batch atomically; an empty batch touches nothing."""
        with storage_errors("write"):
            changes = Changes.of(batch)
        if not changes:
            return
        async with self._guard("write"):
            await self._writes.write(changes)

    async def get_transition(self, transition_id: str) -> JSON | None:
        """One transition record by id, or None."""
        async with self._guard("read"):
            work = functools.partial(_transition, transition_id)
            return await self._database.transaction(work, write=False)

    async def list_transitions(self, query: TransitionQuery) -> list[JSON]:
        """Transition records matching ``query``, newest (highest seq) first."""
        async with self._guard("read"):
            work = functools.partial(_history, query)
            return await self._database.transaction(work, write=False)

    async def prune_transitions(self, keep: int) -> int:
        """Delete finished transitions older than the newest ``keep``; return how many."""
        if keep < 0:
            raise ValueError(f"keep must be >= 0, not {keep}")
        async with self._guard("prune"):
            return await self._database.transaction(functools.partial(_prune, keep), write=True)

    async def close(self) -> None:
        """Refuse new work, let the work in flight finish, release the database; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._idle.wait()
        with storage_errors("close"):
            try:
                await self._writes.close()
            finally:
                await self._database.close()

    @contextlib.asynccontextmanager
    async def _guard(self, doing: str) -> AsyncIterator[None]:
        # Counts the work close() waits for, and maps every failure.
        if self._closed:
            raise StorageError(f"storage {doing} refused: the storage is closed")
        self._in_flight += 1
        self._idle.clear()
        try:
            with storage_errors(doing):
                yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()


# The work of each read, run by the database inside its transaction (on
# SQLite, on the connection's thread).


def _load(conn: Connection) -> StoredState:
    memory = conn.scalar(queries.memory())
    subscriber_rows = conn.scalars(queries.subscribers_in_order())
    setting_rows = conn.execute(queries.all_settings())
    unfinished_rows = conn.scalars(queries.unfinished_transitions())
    last_seq = conn.scalar(queries.last_transition_seq())
    return StoredState(
        memory=None if memory is None else decode(memory),
        subscribers=[decode(data) for data in subscriber_rows],
        settings={key: decode(data) for key, data in setting_rows},
        unfinished=[decode(data) for data in unfinished_rows],
        last_transition_seq=int(last_seq or 0),
    )


def _transition(transition_id: str, conn: Connection) -> JSON | None:
    data = conn.scalar(queries.transition(transition_id))
    return None if data is None else decode(data)


def _history(query: TransitionQuery, conn: Connection) -> list[JSON]:
    return [decode(data) for data in conn.scalars(queries.history(query))]


def _prune(keep: int, conn: Connection) -> int:
    return conn.execute(queries.prune(keep)).rowcount
