"""PostgreSQL: asyncpg through SQLAlchemy's ``AsyncEngine`` and its pool.

A write is ONE statement in autocommit mode (``queries.write_all_postgresql``):
a statement is atomic on its own, so it needs no BEGIN and no COMMIT round
trip, and it carries every table's rows as arrays: one round trip per write
(or per group of writes, see ``group_commit``) instead of one per statement
plus two. ``synchronous_commit`` is the session's setting (``engines``), so
the statement's commit is as durable as ``sync_commit`` says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from app.storage import queries
from app.storage.changes import Changes
from app.storage.engines import create_postgresql_engine
from app.storage.records import Row
from app.storage.tables import memory_state, settings, subscribers, transitions
from app.storage.url import DatabaseTarget

T = TypeVar("T")


class PostgresqlDatabase:
    """The storage's PostgreSQL database (and schema) behind a connection pool."""

    def __init__(self, target: DatabaseTarget) -> None:
        self._engine = create_postgresql_engine(target)
        self._autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._write_all = queries.write_all_postgresql()
        self._writer: AsyncConnection | None = None

    async def prepare(self) -> None:
        """Nothing: the schema is created by the migration, under its lock."""

    async def transaction(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """``work`` in one transaction, committed (``write`` makes no difference here)."""
        async with self._engine.begin() as conn:
            return await conn.run_sync(work)

    async def apply(self, changes: Changes) -> None:
        """Write ``changes`` in one statement (its own transaction).

        The writer (the group commit's flusher) keeps its connection between
        writes: a pool checkout and return cost more than the statement's own
        client-side work. A kept connection the server has closed meanwhile
        is replaced before use; after any failure the connection is given
        back (a broken one is discarded by the pool) and the next write takes
        another.
        """
        conn = self._take_writer()
        if conn is not None and _lost(conn):
            await conn.invalidate()  # out of the pool for good
            await conn.close()
            conn = None
        if conn is None:
            conn = await self._autocommit.connect()
        try:
            await conn.execute(self._write_all, _arrays(changes))
            await conn.commit()  # ends SQLAlchemy's transaction; autocommit: no round trip
        except BaseException:
            await conn.close()
            raise
        if self._writer is None:
            self._writer = conn
        else:  # another caller kept one meanwhile (the group commit never does that)
            await conn.close()

    async def close(self) -> None:
        """Close every connection (the writer's first)."""
        conn = self._take_writer()
        try:
            if conn is not None:
                await conn.close()
        finally:
            await self._engine.dispose()

    def _take_writer(self) -> AsyncConnection | None:
        conn, self._writer = self._writer, None
        return conn


def _lost(conn: AsyncConnection) -> bool:
    # asyncpg notices a connection closed by the server (a restart,
    # pg_terminate_backend, an idle timeout) as soon as the socket says so.
    if conn.invalidated or conn.closed:
        return True
    driver = conn.sync_connection.connection.driver_connection if conn.sync_connection else None
    return driver is None or bool(driver.is_closed())


# (parameter name, column name) of each array ``write_all_postgresql`` binds, per table.
_ARRAYS = {
    table.name: [(f"{table.name}_{column.name}", column.name) for column in table.columns]
    for table in (subscribers, settings, memory_state, transitions)
}


def _arrays(changes: Changes) -> dict[str, Any]:
    memory = [] if changes.memory is None else [changes.memory]
    parameters: dict[str, Any] = {"deleted_subscribers": list(changes.deleted_subscribers)}
    for table, rows in (
        ("subscribers", changes.subscribers.values()),
        ("settings", changes.settings.values()),
        ("memory_state", memory),
        ("transitions", changes.transitions.values()),
    ):
        parameters.update(_columns(table, list(rows)))
    return parameters


def _columns(table: str, rows: list[Row]) -> dict[str, list[Any]]:
    return {parameter: [row[name] for row in rows] for parameter, name in _ARRAYS[table]}
