"""Storage tests run against SQLite (a file under tmp_path) and PostgreSQL.

PostgreSQL cases use the server at ``HOTPLUG_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``), each test in a fresh
uuid-named schema that is dropped afterwards, so runs never collide.
Deselect them with ``-m "not postgres"`` where there is no server.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.engine.ports import Storage
from app.storage import create_storage, parse_database_url
from app.storage.postgresql import PostgresqlDatabase
from app.storage.sql import Database
from app.storage.sqlite import SqliteDatabase

POSTGRES_URL = os.environ.get(
    "HOTPLUG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

StorageFactory = Callable[[], Storage]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database nobody has used yet; the PostgreSQL schema is dropped at the end."""
    if request.param == "sqlite":
        # A missing parent directory: open() must create it.
        yield f"sqlite:///{tmp_path}/data/hotplugd.db"
        return
    schema = f"test_{uuid.uuid4().hex}"
    yield f"{POSTGRES_URL}?schema={schema}"
    await _drop_schema(schema)


@pytest.fixture
async def new_storage(database_url: str) -> AsyncIterator[StorageFactory]:
    """Makes storages on the test's database; closes every one at the end."""
    made: list[Storage] = []

    def make() -> Storage:
        made.append(create_storage(database_url))
        return made[-1]

    yield make
    for storage in made:
        await storage.close()


@pytest.fixture
async def storage(new_storage: StorageFactory) -> Storage:
    """An opened storage on a fresh database."""
    opened = new_storage()
    await opened.open()
    return opened


@pytest.fixture
async def raw_database(database_url: str) -> AsyncIterator[Database]:
    """The test's database (and schema) as the storage reaches it, to look behind the port.

    ``await raw_database.transaction(work, write=...)`` runs ``work(conn)``
    with a SQLAlchemy ``Connection`` in one committed transaction.
    """
    database = open_database(database_url)
    yield database
    await database.close()


def open_database(database_url: str, *, sync_commit: bool = True) -> Database:
    """A second connection to the database of ``database_url``, configured as the storage's."""
    target = dataclasses.replace(parse_database_url(database_url), sync_commit=sync_commit)
    if target.backend == "sqlite":
        return SqliteDatabase(target)
    return PostgresqlDatabase(target)


async def _drop_schema(schema: str) -> None:
    engine = create_async_engine(parse_database_url(POSTGRES_URL).url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
