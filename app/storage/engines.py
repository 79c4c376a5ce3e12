"""Engines per backend: connection set-up, transactions and timeouts.

SQLite runs on the standard ``sqlite3`` module through a synchronous engine
whose single connection is owned by one thread (``sqlite.ConnectionThread``);
PostgreSQL runs on asyncpg through an ``AsyncEngine`` and its pool.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from app.storage.errors import StorageError
from app.storage.url import DatabaseTarget

# Execution option marking a connection that will write. On SQLite its
# transaction starts with BEGIN IMMEDIATE (the write lock up front, so a
# deferred reader never has to upgrade and fail with SQLITE_BUSY).
WRITE_OPTION = "hotplugd_write"

# How long SQLite waits for another process' lock (a second service or a
# tool on the same file) before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000

# PostgreSQL is a remote peer: bound the connect and every statement.
POSTGRES_CONNECT_TIMEOUT_S = 10.0
POSTGRES_COMMAND_TIMEOUT_S = 30.0

# Pause between attempts to switch a fresh file to WAL while another
# connection is switching it (see enable_wal).
_WAL_RETRY_S = 0.02

# Per-connection settings; the journal mode is a property of the file, set
# once by enable_wal.
_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys = ON",
)
# ``synchronous`` is FULL by default: in WAL mode NORMAL already survives a
# killed process (SIGKILL), but a power cut or kernel crash could lose the
# last commits, and the journal promises that a transition recorded before
# its first walk is never lost. ``sync_commit=False`` (HOTPLUG_SYNC_COMMIT)
# chooses NORMAL for speed, with that weaker promise.


def create_sqlite_engine(target: DatabaseTarget) -> Engine:
    """A synchronous engine of exactly one connection; it connects lazily.

    One connection for the whole storage: SQLite has a single writer anyway,
    and work queued in front of that connection (instead of contending for
    the file lock) is what keeps concurrent writes free of "database is
    locked". The connection is used by one thread only.
    """
    engine = create_engine(target.url, poolclass=StaticPool)
    synchronous = "FULL" if target.sync_commit else "NORMAL"

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        _sqlite_on_connect(dbapi_connection, record, f"PRAGMA synchronous = {synchronous}")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def create_postgresql_engine(target: DatabaseTarget) -> AsyncEngine:
    """A pooled asyncpg engine, every connect and statement bounded; it connects lazily."""
    options: dict[str, Any] = {}
    if target.schema is not None:
        # Tables are declared without a schema; this puts them in the named one.
        options["schema_translate_map"] = {None: target.schema}
    return create_async_engine(
        target.url,
        execution_options=options,
        connect_args={
            "timeout": POSTGRES_CONNECT_TIMEOUT_S,
            "command_timeout": POSTGRES_COMMAND_TIMEOUT_S,
            "server_settings": {"synchronous_commit": "on" if target.sync_commit else "off"},
        },
    )


def ensure_sqlite_directory(target: DatabaseTarget) -> None:
    """Create the SQLite file's parent directory when missing (a fresh data directory)."""
    database = target.url.database
    if not database or database == ":memory:":
        return
    if database.startswith("file:"):  # a URI filename: SQLite resolves it, not us
        return
    Path(database).parent.mkdir(parents=True, exist_ok=True)


def enable_wal(conn: Connection) -> None:
    """Put the SQLite file in WAL mode: readers never block the writer, a commit is one append.

    Switching a fresh file needs an exclusive lock, and SQLite answers
    "database is locked" at once, without its busy handler, when another
    connection (a second process starting too) is switching it at the same
    moment; so retry, bounded by the busy timeout. On a file already in
    WAL mode this is a no-op. Blocking: runs on the connection's thread.
    """
    # The driver's own connection: a journal mode cannot change inside
    # the transaction SQLAlchemy would begin.
    driver = sqlite_driver(conn)
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            driver.execute("PRAGMA journal_mode = WAL").close()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise StorageError(f"storage open failed: {exc}") from exc
        time.sleep(_WAL_RETRY_S)


def sqlite_driver(conn: Connection) -> sqlite3.Connection:
    """The ``sqlite3`` connection under ``conn``, for work outside SQLAlchemy's transactions."""
    driver = conn.connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        raise StorageError(f"not an SQLite connection: {driver!r}")
    return driver


def _sqlite_on_connect(dbapi_connection: Any, _record: Any, synchronous: str) -> None:
    # isolation_level None stops the sqlite3 module from issuing its own
    # implicit BEGIN (which skips DDL and SELECT); _sqlite_on_begin issues it
    # instead, so migrations and reads are transactional too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in (*_SQLITE_PRAGMAS, synchronous):
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
