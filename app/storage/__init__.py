"""Durable state behind the engine's ``Storage`` port.

SQLite by default (the standard ``sqlite3`` module on the storage's own
thread), PostgreSQL (asyncpg) when the URL says so; SQLAlchemy Core
underneath, writes merged by a group commit, versioned migrations applied
at ``open()``. Everything that goes wrong surfaces as ``StorageError``.
"""

from __future__ import annotations

import dataclasses

from app.engine.ports import Storage
from app.storage.errors import StorageError
from app.storage.sql import SqlStorage
from app.storage.url import DatabaseTarget, parse_database_url

__all__ = ["DatabaseTarget", "SqlStorage", "StorageError", "create_storage", "parse_database_url"]


def create_storage(database_url: str, *, sync_commit: bool = True) -> Storage:
    """The storage for ``database_url``; nothing connects before ``open()``.

    Accepts ``sqlite:///PATH``, ``sqlite+aiosqlite:///PATH``,
    ``postgresql://…`` and ``postgresql+asyncpg://…`` (with an optional
    ``?schema=NAME``); anything else raises ``ValueError``.
    """
    target = parse_database_url(database_url)
    return SqlStorage(dataclasses.replace(target, sync_commit=sync_commit))
