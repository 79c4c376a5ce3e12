"""Records to rows and back.

A row stores the whole record as orjson TEXT in ``data`` (read back as the
same JSON) plus typed copies of the fields the queries filter and order on.
The copies are taken from the record on every upsert, so they cannot drift,
and they are type-checked here because PostgreSQL would reject what SQLite
silently stores: both engines must accept and refuse the same records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from app.engine.ports import JSON
from app.storage.errors import StorageError
from app.storage.tables import MEMORY_ROW_ID

Row = dict[str, Any]


def encode(record: Mapping[str, Any]) -> str:
    """The record as compact JSON text."""
    return orjson.dumps(record).decode()


def decode(data: str) -> JSON:
    """A stored record; it must be a JSON object."""
    value = orjson.loads(data)
    if not isinstance(value, dict):
        raise StorageError(f"stored record is not a JSON object: {data[:80]!r}")
    return value


def transition_row(record: JSON) -> Row:
    """The ``transitions`` row for a transition record (see ``Batch``)."""
    return {
        "id": _text(record, "transition", "id"),
        "seq": _integer(record, "transition", "seq"),
        "operation": _text(record, "transition", "operation"),
        "block": _integer(record, "transition", "block"),
        "node": _integer(record, "transition", "node"),
        "outcome": _text(record, "transition", "outcome"),
        "created_at": _timestamp(record, "transition", "created_at"),
        "data": encode(record),
    }


def subscriber_row(record: JSON) -> Row:
    """The ``subscribers`` row for a subscriber record."""
    return {
        "id": _text(record, "subscriber", "id"),
        "seq": _integer(record, "subscriber", "seq"),
        "data": encode(record),
    }


def setting_row(key: str, value: JSON) -> Row:
    """The ``settings`` row for one named setting."""
    return {"key": key, "data": encode(value)}


def memory_row(state: JSON) -> Row:
    """The single ``memory_state`` row."""
    return {"id": MEMORY_ROW_ID, "data": encode(state)}


def _field(record: JSON, kind: str, name: str) -> Any:
    try:
        return record[name]
    except KeyError:
        raise StorageError(f"{kind} record has no {name!r}") from None


def _text(record: JSON, kind: str, name: str) -> str:
    value = _field(record, kind, name)
    if not isinstance(value, str):
        raise StorageError(f"{kind} record {name!r} must be a string, not {value!r}")
    return value


def _integer(record: JSON, kind: str, name: str) -> int:
    value = _field(record, kind, name)
    # bool is an int to Python but not to PostgreSQL.
    if not isinstance(value, int) or isinstance(value, bool):
        raise StorageError(f"{kind} record {name!r} must be an integer, not {value!r}")
    return value


def _timestamp(record: JSON, kind: str, name: str) -> str:
    # ISO 8601 text is expected; an epoch number is accepted and kept as its
    # decimal text. Only the column copy is converted, ``data`` is untouched.
    value = _field(record, kind, name)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise StorageError(f"{kind} record {name!r} must be a timestamp string, not {value!r}")
