"""Database URLs: which engine, which driver, which PostgreSQL schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

Backend = Literal["sqlite", "postgresql"]

# Every accepted spelling, and the driver it runs on: asyncpg for PostgreSQL;
# the standard sqlite3 module for SQLite, on the storage's own thread
# (``sqlite+aiosqlite`` is still accepted: URLs written for earlier versions).
_DRIVERS: dict[str, tuple[Backend, str]] = {
    "sqlite": ("sqlite", "sqlite+pysqlite"),
    "sqlite+aiosqlite": ("sqlite", "sqlite+pysqlite"),
    "postgres": ("postgresql", "postgresql+asyncpg"),
    "postgresql": ("postgresql", "postgresql+asyncpg"),
    "postgresql+asyncpg": ("postgresql", "postgresql+asyncpg"),
}
_ACCEPTED = "sqlite:///PATH, sqlite+aiosqlite:///PATH, postgresql://…, postgresql+asyncpg://…"


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """A parsed database URL: what SQLAlchemy connects to, and where the tables live."""

    url: URL
    backend: Backend
    schema: str | None = None
    # False: a commit returns before it is flushed to disk (SQLite synchronous
    # NORMAL in WAL mode, PostgreSQL synchronous_commit off): it still
    # survives a crash of hotplugd itself, not a power cut or an OS crash.
    sync_commit: bool = True


def parse_database_url(database_url: str) -> DatabaseTarget:
    """Normalise ``database_url`` to the driver used; raise ``ValueError`` if unsupported.

    A PostgreSQL URL may carry ``?schema=NAME``: the tables then live in that
    schema (created when missing), and the parameter is not passed to the
    driver.
    """
    url = _make_url(database_url)
    backend, drivername = _driver(url)
    url = url.set(drivername=drivername)
    schema = url.query.get("schema")
    if schema is None:
        return DatabaseTarget(url, backend)
    if backend != "postgresql" or not isinstance(schema, str) or not schema:
        raise ValueError(f"bad database URL: schema= takes one name, PostgreSQL only: {_safe(url)}")
    return DatabaseTarget(url.difference_update_query(["schema"]), backend, schema)


def _make_url(database_url: str) -> URL:
    try:
        return make_url(database_url)
    except ArgumentError as exc:
        raise ValueError(f"bad database URL {database_url!r}; expected one of {_ACCEPTED}") from exc


def _driver(url: URL) -> tuple[Backend, str]:
    try:
        return _DRIVERS[url.drivername]
    except KeyError:
        raise ValueError(
            f"unsupported database URL scheme {url.drivername!r}; expected one of {_ACCEPTED}"
        ) from None


def _safe(url: URL) -> str:
    # Never echo a password into logs or error messages.
    return url.render_as_string(hide_password=True)
