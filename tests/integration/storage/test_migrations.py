"""Versioned migrations at open(): idempotent, safe when two processes start at once."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.engine.ports import Batch, StoredState
from app.storage import StorageError, create_storage, parse_database_url
from app.storage.engines import SQLITE_BUSY_TIMEOUT_MS, create_engine_for
from app.storage.migrations import LATEST_VERSION
from app.storage.tables import metadata, schema_version
from tests.integration.storage.conftest import POSTGRES_URL, StorageFactory
from tests.integration.storage.samples import transition


async def applied_versions(engine: AsyncEngine) -> list[int]:
    """Every row of schema_version, in order."""
    async with engine.connect() as conn:
        rows = await conn.scalars(select(schema_version.c.version).order_by("version"))
        return list(rows)


async def test_open_twice_migrates_once_and_keeps_data(
    new_storage: StorageFactory, raw_engine: AsyncEngine
) -> None:
    first = new_storage()
    await first.open()
    await first.write(Batch(transitions=[transition(1)]))
    await first.close()

    state = await new_storage().open()

    assert state == StoredState(last_transition_seq=1)
    assert await applied_versions(raw_engine) == list(range(1, LATEST_VERSION + 1))


async def test_concurrent_opens_migrate_once(
    new_storage: StorageFactory, raw_engine: AsyncEngine
) -> None:
    states = await asyncio.gather(*(new_storage().open() for _ in range(3)))

    assert states == [StoredState()] * 3
    assert await applied_versions(raw_engine) == list(range(1, LATEST_VERSION + 1))


async def test_a_newer_schema_is_refused(
    new_storage: StorageFactory, raw_engine: AsyncEngine
) -> None:
    await new_storage().open()
    async with raw_engine.begin() as conn:
        await conn.execute(insert(schema_version).values(version=LATEST_VERSION + 1, applied_at=""))

    with pytest.raises(StorageError, match="newer than this hotplugd"):
        await new_storage().open()


async def test_migrated_schema_matches_the_tables_the_queries_use(
    new_storage: StorageFactory, raw_engine: AsyncEngine, database_url: str
) -> None:
    await new_storage().open()
    schema = parse_database_url(database_url).schema

    async with raw_engine.connect() as conn:
        found = await conn.run_sync(describe, schema)

    expected = {
        table.name: sorted(
            (c.name, c.type.compile(raw_engine.dialect), c.nullable, c.primary_key)
            for c in table.columns
        )
        for table in metadata.sorted_tables
    }
    assert found["columns"] == expected
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
    return {"columns": columns, "indexes": indexes}


async def test_sqlite_connections_are_durable_and_patient(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hotplugd.db"
    storage = create_storage(url)
    await storage.open()
    await storage.close()
    engine = create_engine_for(parse_database_url(url))
    try:
        async with engine.connect() as conn:
            pragmas = {
                name: await conn.scalar(text(f"PRAGMA {name}"))
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()

    # synchronous 2 is FULL: every commit is fsync'd.
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
    }


async def test_sqlite_without_sync_commit_uses_normal(tmp_path: Path) -> None:
    """sync_commit=False: WAL with synchronous NORMAL (no fsync per commit)."""
    url = f"sqlite:///{tmp_path}/hotplugd.db"
    target = dataclasses.replace(parse_database_url(url), sync_commit=False)
    engine = create_engine_for(target)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA synchronous")) == 1
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_without_sync_commit_turns_synchronous_commit_off() -> None:
    """sync_commit=False on PostgreSQL: synchronous_commit is off for our sessions."""
    target = dataclasses.replace(parse_database_url(POSTGRES_URL), sync_commit=False)
    engine = create_engine_for(target)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SHOW synchronous_commit")) == "off"
    finally:
        await engine.dispose()
