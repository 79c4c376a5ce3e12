"""``SqlStorage``: the ``Storage`` port on SQLAlchemy asyncio (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncConnection

from app.engine.ports import JSON, Batch, StoredState, TransitionQuery
from app.storage import queries
from app.storage.engines import create_engine_for, prepare_database, writer
from app.storage.errors import StorageError, storage_errors
from app.storage.migrations import migrate
from app.storage.records import decode, memory_row, setting_row, subscriber_row, transition_row
from app.storage.tables import memory_state, settings, subscribers, transitions
from app.storage.url import DatabaseTarget

# One planned statement of a batch and its parameters (a list: executemany).
Planned = tuple[Executable, list[dict[str, Any]] | dict[str, Any]]


class SqlStorage:
    """Durable state in one database; every method is one transaction.

    All failures surface as ``StorageError``. ``close`` refuses new work,
    waits for the statements in flight (each bounded by the pool, busy and
    command timeouts) and releases every connection.
    """

    def __init__(self, target: DatabaseTarget) -> None:
        self._target = target
        self._engine = create_engine_for(target)
        self._writer = writer(self._engine)
        self._upsert_subscribers = queries.upsert(subscribers, target.backend)
        self._upsert_settings = queries.upsert(settings, target.backend)
        self._upsert_memory = queries.upsert(memory_state, target.backend)
        self._upsert_transitions = queries.upsert(transitions, target.backend)
        self._delete_subscribers = queries.delete_subscribers()
        self._closed = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def open(self) -> StoredState:
        """Create or migrate the schema, then load what a restart needs."""
        async with self._guard("open"):
            await prepare_database(self._engine, self._target)
        async with self._transaction("open", write=True) as conn:
            await conn.run_sync(migrate, self._target.schema)
        async with self._transaction("open", write=False) as conn:
            return await _load(conn)

    async def write(self, batch: Batch) -> None:
        """Apply one batch in one transaction; an empty batch touches nothing."""
        with storage_errors("write"):
            planned = self._plan(batch)
        if not planned:
            return
        async with self._transaction("write", write=True) as conn:
            for statement, parameters in planned:
                await conn.execute(statement, parameters)

    async def get_transition(self, transition_id: str) -> JSON | None:
        """One transition record by id, or None."""
        async with self._transaction("read", write=False) as conn:
            data = await conn.scalar(queries.transition(transition_id))
            return None if data is None else decode(data)

    async def list_transitions(self, query: TransitionQuery) -> list[JSON]:
        """Transition records matching ``query``, newest (highest seq) first."""
        async with self._transaction("read", write=False) as conn:
            rows = await conn.scalars(queries.history(query))
            return [decode(data) for data in rows]

    async def prune_transitions(self, keep: int) -> int:
        """Delete finished transitions older than the newest ``keep``; return how many."""
        if keep < 0:
            raise ValueError(f"keep must be >= 0, not {keep}")
        async with self._transaction("prune", write=True) as conn:
            result = await conn.execute(queries.prune(keep))
            return result.rowcount

    async def close(self) -> None:
        """Refuse new work, let statements in flight finish, dispose the pool; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._idle.wait()
        with storage_errors("close"):
            await self._engine.dispose()

    def _plan(self, batch: Batch) -> list[Planned]:
        # Records are turned into rows (and checked) before the transaction
        # starts: a malformed record costs no lock and no rollback. The
        # order is the order of application: a subscriber both upserted and
        # deleted in one batch ends up deleted.
        planned: list[Planned] = [
            (self._upsert_subscribers, [subscriber_row(r) for r in batch.subscribers]),
            (self._delete_subscribers, {"ids": list(batch.deleted_subscribers)}),
            (self._upsert_settings, [setting_row(k, v) for k, v in batch.settings.items()]),
            (self._upsert_memory, [memory_row(batch.memory)] if batch.memory is not None else []),
            (self._upsert_transitions, [transition_row(r) for r in batch.transitions]),
        ]
        return [(statement, rows) for statement, rows in planned if _has_rows(rows)]

    @contextlib.asynccontextmanager
    async def _transaction(self, doing: str, *, write: bool) -> AsyncIterator[AsyncConnection]:
        async with self._guard(doing), (self._writer if write else self._engine).begin() as conn:
            yield conn

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


def _has_rows(parameters: list[dict[str, Any]] | dict[str, Any]) -> bool:
    if isinstance(parameters, list):
        return bool(parameters)
    return any(bool(value) for value in parameters.values())


async def _load(conn: AsyncConnection) -> StoredState:
    memory = await conn.scalar(queries.memory())
    subscriber_rows = await conn.scalars(queries.subscribers_in_order())
    setting_rows = await conn.execute(queries.all_settings())
    unfinished_rows = await conn.scalars(queries.unfinished_transitions())
    last_seq = await conn.scalar(queries.last_transition_seq())
    return StoredState(
        memory=None if memory is None else decode(memory),
        subscribers=[decode(data) for data in subscriber_rows],
        settings={key: decode(data) for key, data in setting_rows},
        unfinished=[decode(data) for data in unfinished_rows],
        last_transition_seq=int(last_seq or 0),
    )
