"""Versioned migrations at open(): idempotent, safe when two processes start at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert, inspect, select, text

from app.engine.ports import Batch, StoredState
from app.storage import StorageError, create_storage, parse_database_url
from app.storage.engines import SQLITE_BUSY_TIMEOUT_MS
from app.storage.migrations import LATEST_VERSION
from app.storage.sql import Database
from app.storage.tables import metadata, schema_version
from tests.integration.storage.conftest import POSTGRES_URL, StorageFactory, open_database
from tests.integration.storage.samples import transition


async def applied_versions(database: Database) -> list[int]:
    """Every row of schema_version, in order."""

    def versions(conn: Connection) -> list[int]:
        return list(conn.scalars(select(schema_version.c.version).order_by("version")))

    return await database.transaction(versions, write=False)


async def test_open_twice_migrates_once_and_keeps_data(
    new_storage: StorageFactory, raw_database: Database
) -> None:
    first = new_storage()
    await first.open()
    await first.write(Batch(transitions=[transition(1)]))
    await first.close()

    state = await new_storage().open()

    assert state == StoredState(last_transition_seq=1)
    assert await applied_versions(raw_database) == list(range(1, LATEST_VERSION + 1))


async def test_concurrent_opens_migrate_once(
    new_storage: StorageFactory, raw_database: Database
) -> None:
    states = await asyncio.gather(*(new_storage().open() for _ in range(3)))

    assert states == [StoredState()] * 3
    assert await applied_versions(raw_database) == list(range(1, LATEST_VERSION + 1))


async def test_a_newer_schema_is_refused(
    new_storage: StorageFactory, raw_database: Database
) -> None:
    await new_storage().open()
    newer = insert(schema_version).values(version=LATEST_VERSION + 1, applied_at="")
    await raw_database.transaction(lambda conn: conn.execute(newer), write=True)

    with pytest.raises(StorageError, match="newer than this hotplugd"):
        await new_storage().open()


async def test_migrated_schema_matches_the_tables_the_queries_use(
    new_storage: StorageFactory, raw_database: Database, database_url: str
) -> None:
    await new_storage().open()
    schema = parse_database_url(database_url).schema

    found = await raw_database.transaction(lambda conn: describe(conn, schema), write=False)

    assert found["columns"] == found["expected_columns"]
    assert found["indexes"] == {
        ("subscribers", "ix_subscribers_seq", ("seq",), False),
        ("transitions", "ux_transitions_seq", ("seq",), True),
        ("transitions", "ix_transitions_operation_seq", ("operation", "seq"), False),
        ("transitions", "ix_transitions_block_seq", ("block", "seq"), False),
        ("transitions", "ix_transitions_node_seq", ("node", "seq"), False),
        ("transitions", "ix_transitions_outcome_seq", ("outcome", "seq"), False),
    }


def describe(conn: Connection, schema: str | None) -> dict[str, Any]:
    """Columns and indexes of every table, as reflected from the database."""
    inspector = inspect(conn)
    primary = {
        name: set(inspector.get_pk_constraint(name, schema)["constrained_columns"])
        for name in metadata.tables
    }
    columns = {
        name: sorted(
            (c["name"], str(c["type"]), c["nullable"], c["name"] in primary[name])
            for c in inspector.get_columns(name, schema)
        )
        for name in metadata.tables
    }
    indexes = {
        (name, ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
        for name in metadata.tables
        for ix in inspector.get_indexes(name, schema)
    }
    expected_columns = {
        table.name: sorted(
            (c.name, c.type.compile(conn.dialect), c.nullable, c.primary_key) for c in table.columns
        )
        for table in metadata.sorted_tables
    }
    return {"columns": columns, "indexes": indexes, "expected_columns": expected_columns}


async def test_sqlite_connections_are_durable_and_patient(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hotplugd.db"
    storage = create_storage(url)
    await storage.open()
    await storage.close()
    database = open_database(url)
    try:
        pragmas = await database.transaction(read_pragmas, write=False)
    finally:
        await database.close()

    # synchronous 2 is FULL: every commit is fsync'd.
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
    }


async def test_sqlite_without_sync_commit_uses_normal(tmp_path: Path) -> None:
    """sync_commit=False: WAL with synchronous NORMAL (no fsync per commit)."""
    database = open_database(f"sqlite:///{tmp_path}/hotplugd.db", sync_commit=False)
    try:
        pragmas = await database.transaction(read_pragmas, write=False)
    finally:
        await database.close()

    assert pragmas["synchronous"] == 1


def read_pragmas(conn: Connection) -> dict[str, Any]:
    """The SQLite settings a connection of the storage runs with."""
    names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    return {name: conn.scalar(text(f"PRAGMA {name}")) for name in names}


@pytest.mark.postgres
async def test_postgres_without_sync_commit_turns_synchronous_commit_off() -> None:
    """sync_commit=False on PostgreSQL: synchronous_commit is off for our sessions."""
    database = open_database(POSTGRES_URL, sync_commit=False)
    try:
        setting = await database.transaction(
            lambda conn: conn.scalar(text("SHOW synchronous_commit")), write=False
        )
    finally:
        await database.close()

    assert setting == "off"
