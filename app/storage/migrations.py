"""Versioned schema migrations, applied in-process by ``Storage.open``.

Why not Alembic: it would be one more dependency and a second way to run
the service (a CLI step before start-up), while these migrations must run
inside the service at start-up, on SQLite and PostgreSQL alike, and only
ever forward. An ordered tuple of plain SQLAlchemy DDL functions and a
``schema_version`` table do that in a few lines.

How it runs: ``migrate`` executes in one transaction that also holds a lock,
so two processes starting at once apply each step exactly once (the second
waits, then finds nothing to do). On PostgreSQL the lock is
``pg_advisory_xact_lock``; on SQLite the caller's transaction is
``BEGIN IMMEDIATE``, which already excludes every other writer. DDL is
transactional on both, so a failed step leaves the previous version intact.
A database newer than this code is refused rather than guessed at.

Adding a step: append a function to ``MIGRATIONS`` and update ``tables.py``
to match. Never edit a released step: it describes databases that exist.
Each step declares the tables it touches as they are at that version (its
own ``MetaData``), so later edits to ``tables.py`` cannot change history.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.schema import CreateSchema

from app.storage.errors import StorageError
from app.storage.tables import schema_version

Step = Callable[[Connection], None]


def _v1_initial_schema(conn: Connection) -> None:
    """Subscribers, transitions (with an index per history filter), settings, memory."""
    v1 = MetaData()
    Table(
        "subscribers",
        v1,
        Column("id", Text, primary_key=True),
        Column("seq", BigInteger, nullable=False),
        Column("data", Text, nullable=False),
        Index("ix_subscribers_seq", "seq"),
    )
    Table(
        "transitions",
        v1,
        Column("id", Text, primary_key=True),
        Column("seq", BigInteger, nullable=False),
        Column("operation", Text, nullable=False),
        Column("block", Integer, nullable=False),
        Column("node", Integer, nullable=False),
        Column("outcome", Text, nullable=False),
        Column("created_at", Text, nullable=False),
        Column("data", Text, nullable=False),
        Index("ux_transitions_seq", "seq", unique=True),
        # (filter, seq): each history filter is answered newest-first from
        # the index alone; the outcome one also serves recovery and pruning.
        Index("ix_transitions_operation_seq", "operation", "seq"),
        Index("ix_transitions_block_seq", "block", "seq"),
        Index("ix_transitions_node_seq", "node", "seq"),
        Index("ix_transitions_outcome_seq", "outcome", "seq"),
    )
    Table(
        "settings",
        v1,
        Column("key", Text, primary_key=True),
        Column("data", Text, nullable=False),
    )
    Table(
        "memory_state",
        v1,
        Column("id", Integer, primary_key=True),
        Column("data", Text, nullable=False),
        CheckConstraint("id = 1", name="ck_memory_state_single_row"),
    )
    v1.create_all(conn, checkfirst=False)


MIGRATIONS: tuple[Step, ...] = (_v1_initial_schema,)
LATEST_VERSION = len(MIGRATIONS)


def migrate(conn: Connection, schema: str | None = None) -> int:
    """Bring the database to ``LATEST_VERSION`` inside the caller's transaction.

    Creates ``schema`` first (PostgreSQL) when one is given. Returns the
    version the database had before, 0 for a fresh one.
    """
    _lock(conn, schema)
    if schema is not None:
        conn.execute(CreateSchema(schema, if_not_exists=True))
    schema_version.create(conn, checkfirst=True)
    found = current_version(conn)
    if found > LATEST_VERSION:
        raise StorageError(
            f"database schema version {found} is newer than this hotplugd ({LATEST_VERSION})"
        )
    for version in range(found + 1, LATEST_VERSION + 1):
        MIGRATIONS[version - 1](conn)
        conn.execute(insert(schema_version).values(version=version, applied_at=_now()))
    return found


def current_version(conn: Connection) -> int:
    """The highest applied migration, 0 when none."""
    highest = select(func.coalesce(func.max(schema_version.c.version), 0))
    return int(conn.execute(highest).scalar_one())


def _lock(conn: Connection, schema: str | None) -> None:
    # SQLite: the caller's BEGIN IMMEDIATE is the lock (see module docstring).
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(schema)})


def _lock_key(schema: str | None) -> int:
    # One advisory lock per schema: migrations of different schemas (one per
    # test) do not wait for each other, two starters of the same one do.
    digest = hashlib.blake2b(f"hotplugd.migrate:{schema or ''}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _now() -> str:
    return datetime.now(UTC).isoformat()
