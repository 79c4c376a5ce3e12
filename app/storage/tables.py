"""The tables as the queries see them (the schema the newest migration builds).

Each row keeps the whole record as orjson TEXT in ``data`` (portable across
SQLite and PostgreSQL, read back byte for byte), plus copies of the fields
the queries filter or order on. ``migrations.py`` builds these tables; a
test checks that a migrated database matches this metadata.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text

metadata = MetaData()

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Text, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
)

transitions = Table(
    "transitions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("operation", Text, nullable=False),
    Column("block", Integer, nullable=False),
    Column("node", Integer, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("data", Text, nullable=False),
)

settings = Table(
    "settings",
    metadata,
    Column("key", Text, primary_key=True),
    Column("data", Text, nullable=False),
)

memory_state = Table(
    "memory_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("data", Text, nullable=False),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", Text, nullable=False),
)

# The single row of ``memory_state``.
MEMORY_ROW_ID = 1
