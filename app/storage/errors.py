"""The one exception the storage lets out, and the boundary that maps to it.

Callers (the engine, the API's readiness check) handle storage failures
without knowing which database or driver is behind the port, so every error
from SQLAlchemy, a driver, the filesystem or the JSON codec leaves
``app.storage`` as::

    StorageError         the database could not do what was asked; the
                         original exception is chained as ``__cause__``

Malformed records handed to ``Storage.write`` are reported the same way
(before any statement runs), so one ``except StorageError`` covers a batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import orjson
from sqlalchemy.exc import SQLAlchemyError

from app.engine.ports import StorageFailure


class StorageError(StorageFailure):
    """Durable state could not be read or written."""


@contextlib.contextmanager
def storage_errors(doing: str) -> Iterator[None]:
    """Re-raise database, filesystem and codec failures as ``StorageError``.

    ``doing`` names the operation ("write", "open", …) so the one-line
    message says what failed without the caller adding context.
    """
    try:
        yield
    except (SQLAlchemyError, OSError, orjson.JSONEncodeError, orjson.JSONDecodeError) as exc:
        raise StorageError(f"storage {doing} failed: {_summary(exc)}") from exc


def _summary(exc: BaseException) -> str:
    # SQLAlchemy messages carry the SQL and a link on further lines; the
    # first line is what an operator needs, the cause keeps the rest.
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
