"""SQLite: one connection, owned by one thread; every storage call is one job on it.

Why a thread of our own rather than an asyncio driver: aiosqlite hands every
step of a transaction (pool checkout, BEGIN, each execute, COMMIT, cursor
close) to its thread and back, a dozen round trips per write at tens to
hundreds of microseconds each under load, while the work itself (a commit in
WAL mode) costs tens of microseconds, or one fsync. Here a whole transaction
is one job: one hand-off to the thread and one wake-up of the event loop.
Jobs run in the order they were queued; blocking (the busy timeout, an
fsync, a WAL retry) happens on the thread, never on the event loop.

Writes bypass SQLAlchemy's execution layer: their statements are compiled
once from the same SQLAlchemy constructs and run with ``executemany`` on the
driver connection. Reads and migrations use the SQLAlchemy ``Connection``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

from app.storage import queries
from app.storage.changes import Changes
from app.storage.engines import (
    WRITE_OPTION,
    create_sqlite_engine,
    enable_wal,
    ensure_sqlite_directory,
    sqlite_driver,
)
from app.storage.errors import StorageError
from app.storage.records import Row
from app.storage.tables import memory_state, settings, subscribers, transitions
from app.storage.url import DatabaseTarget

T = TypeVar("T")

# Statements are compiled with named parameters: rows are dicts.
_DIALECT = sqlite_dialect.dialect(paramstyle="named")


class SqliteDatabase:
    """The storage's SQLite file (or ``:memory:`` database) behind one thread."""

    def __init__(self, target: DatabaseTarget) -> None:
        self._target = target
        self._thread = ConnectionThread(create_sqlite_engine(target))
        self._upsert_subscribers = _compiled(queries.upsert_sqlite(subscribers))
        self._delete_subscriber = _compiled(queries.delete_subscriber())
        self._upsert_settings = _compiled(queries.upsert_sqlite(settings))
        self._upsert_memory = _compiled(queries.upsert_sqlite(memory_state))
        self._upsert_transitions = _compiled(queries.upsert_sqlite(transitions))

    async def prepare(self) -> None:
        """The file's directory and WAL mode (what must exist before the first transaction)."""
        await self._thread.run(functools.partial(ensure_sqlite_directory, self._target))
        await self._thread.call(enable_wal)

    async def transaction(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """``work`` in one transaction (BEGIN IMMEDIATE when it writes), committed."""
        return await self._thread.call(functools.partial(_in_transaction, work, write))

    async def apply(self, changes: Changes) -> None:
        """Write ``changes`` in one transaction."""
        await self._thread.call(functools.partial(self._apply, changes))

    async def close(self) -> None:
        """Close the connection and stop the thread, after the jobs queued before."""
        await self._thread.close()

    def _apply(self, changes: Changes, conn: Connection) -> None:
        driver = sqlite_driver(conn)
        planned = self._plan(changes)
        sql = "BEGIN IMMEDIATE"
        try:
            driver.execute(sql)
            for sql, rows in planned:
                driver.executemany(sql, rows)
            sql = "COMMIT"
            driver.execute(sql)
        except sqlite3.Error as exc:
            if driver.in_transaction:
                driver.execute("ROLLBACK")
            # The same exception classes SQLAlchemy raises (IntegrityError, ...).
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc
        except BaseException:
            if driver.in_transaction:
                driver.execute("ROLLBACK")
            raise

    def _plan(self, changes: Changes) -> list[tuple[str, list[Row]]]:
        planned = [
            (self._upsert_subscribers, list(changes.subscribers.values())),
            (self._delete_subscriber, [{"id": key} for key in changes.deleted_subscribers]),
            (self._upsert_settings, list(changes.settings.values())),
            (self._upsert_memory, [] if changes.memory is None else [changes.memory]),
            (self._upsert_transitions, list(changes.transitions.values())),
        ]
        return [(sql, rows) for sql, rows in planned if rows]


class ConnectionThread:
    """A thread that owns one SQLAlchemy ``Connection`` and runs jobs on it in order.

    The connection is opened by the first job (a failure to connect fails
    that job; the next one tries again) and closed, with the engine, by
    ``close``. The thread is a daemon: a storage never closed cannot keep
    the process alive.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None  # the thread's only
        self._closed = False

    async def call(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on the thread with the connection; return or raise what it did."""
        return await self.run(lambda: work(self._connection()))

    async def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the thread, after the jobs queued before; return or raise what it did."""
        if self._closed:
            raise StorageError("storage refused: the connection is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hotplugd-sqlite", daemon=True)
            self._thread.start()
        return await self._queue(work)

    async def close(self) -> None:
        """Refuse new jobs, close the connection after the queued ones, end the thread."""
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            self._engine.dispose()  # it never connected
            return
        closed = self._queue(self._close)
        self._jobs.put(None)  # the thread's last job is the one before
        await closed

    def _queue(self, work: Callable[[], T]) -> asyncio.Future[T]:
        job = _Job(work, asyncio.get_running_loop())
        self._jobs.put(job)
        return job.done

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            job.run()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                conn.close()
        finally:
            self._engine.dispose()


class _Job(Generic[T]):
    """One call: the work, and the future its caller awaits on the event loop."""

    __slots__ = ("done", "loop", "work")

    def __init__(self, work: Callable[[], T], loop: asyncio.AbstractEventLoop) -> None:
        self.work = work
        self.loop = loop
        self.done: asyncio.Future[T] = loop.create_future()

    def run(self) -> None:
        """On the thread: do the work, then hand the outcome to the event loop."""
        try:
            result = self.work()
        except BaseException as exc:  # delivered to the caller, who re-raises it
            self._settle(_reject, exc)
        else:
            self._settle(_resolve, result)

    def _settle(self, settle: Callable[[asyncio.Future[T], Any], None], value: Any) -> None:
        # A loop already closed has nobody left to tell.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(settle, self.done, value)


def _resolve(done: asyncio.Future[Any], result: Any) -> None:
    if not done.done():  # the caller may have been cancelled
        done.set_result(result)


def _reject(done: asyncio.Future[Any], error: BaseException) -> None:
    if not done.done():
        done.set_exception(error)


def _in_transaction(work: Callable[[Connection], T], write: bool, conn: Connection) -> T:
    conn.execution_options(**{WRITE_OPTION: write})  # read by the "begin" hook
    with conn.begin():
        return work(conn)


def _compiled(statement: ClauseElement) -> str:
    return str(statement.compile(dialect=_DIALECT))
