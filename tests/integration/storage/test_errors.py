"""Database URLs, and failures surfacing as StorageError with their cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.ports import Batch, Storage, TransitionQuery
from app.storage import StorageError, create_storage, parse_database_url


@pytest.mark.parametrize(
    ("database_url", "drivername", "database", "schema"),
    [
        ("sqlite:///data/hotplugd.db", "sqlite+pysqlite", "data/hotplugd.db", None),
        ("sqlite+aiosqlite:////var/lib/h.db", "sqlite+pysqlite", "/var/lib/h.db", None),
        ("postgresql://u@db:5432/hp", "postgresql+asyncpg", "hp", None),
        ("postgresql+asyncpg://u@db/hp?schema=run_1", "postgresql+asyncpg", "hp", "run_1"),
        ("postgres://u@db/hp", "postgresql+asyncpg", "hp", None),
    ],
)
def test_urls_are_normalised_to_the_drivers_used(
    database_url: str, drivername: str, database: str, schema: str | None
) -> None:
    target = parse_database_url(database_url)

    assert (target.url.drivername, target.url.database, target.schema) == (
        drivername,
        database,
        schema,
    )


def test_schema_parameter_is_not_passed_to_the_driver() -> None:
    target = parse_database_url("postgresql://u@db/hp?schema=s1&ssl=disable")

    assert dict(target.url.query) == {"ssl": "disable"}


@pytest.mark.parametrize(
    ("database_url", "message"),
    [
        ("mysql://u@db/hp", "unsupported database URL scheme 'mysql'"),
        ("postgresql+psycopg2://u@db/hp", "unsupported database URL scheme"),
        ("sqlite+pysqlite:///x.db", "unsupported database URL scheme"),
        ("not a url", "bad database URL"),
        ("", "bad database URL"),
        ("sqlite:///x.db?schema=s", "PostgreSQL only"),
        ("postgresql://u@db/hp?schema=a&schema=b", "schema= takes one name"),
    ],
)
def test_bad_urls_raise_value_error(database_url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_storage(database_url)


async def test_unreachable_postgresql_is_a_storage_error() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    storage = create_storage("postgresql://postgres@127.0.0.1:1/test")
    try:
        with pytest.raises(StorageError, match="storage open failed") as caught:
            await storage.open()
    finally:
        await storage.close()

    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


async def test_unopenable_sqlite_file_is_a_storage_error(tmp_path: Path) -> None:
    storage = create_storage(f"sqlite:///{tmp_path}")  # a directory, not a file
    try:
        with pytest.raises(StorageError, match="unable to open database file") as caught:
            await storage.open()
    finally:
        await storage.close()

    assert caught.value.__cause__ is not None


async def test_uncreatable_sqlite_directory_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    storage = create_storage(f"sqlite:///{tmp_path}/file/data/hotplugd.db")
    try:
        with pytest.raises(StorageError, match="storage open failed") as caught:
            await storage.open()
    finally:
        await storage.close()

    assert isinstance(caught.value.__cause__, OSError)


async def test_close_is_idempotent_and_final(storage: Storage) -> None:
    await storage.close()
    await storage.close()

    with pytest.raises(StorageError, match="closed"):
        await storage.write(Batch(memory={}))
    with pytest.raises(StorageError, match="closed"):
        await storage.list_transitions(TransitionQuery())


async def test_close_without_open(database_url: str) -> None:
    await create_storage(database_url).close()
