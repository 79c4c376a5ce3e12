"""The statements, built once per storage (the engine caches their compiled SQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Delete, Select, Table, Text, any_, bindparam, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import KeyedColumnElement

from app.engine.ports import TransitionQuery
from app.storage.tables import MEMORY_ROW_ID, memory_state, settings, subscribers, transitions

# Transitions with these outcomes are still in flight: recovery finishes
# them after a restart, and pruning never deletes them.
UNFINISHED_OUTCOMES = ("pending", "running")

# Defensive bounds for a history page; the API validates the real ones.
MIN_PAGE, MAX_PAGE = 1, 1000


def upsert_sqlite(table: Table) -> Insert:
    """SQLite: INSERT … ON CONFLICT (primary key) DO UPDATE every other column, one row."""
    statement = sqlite.insert(table)
    key, updates = _key_and_updates(table, statement.excluded)
    return statement.on_conflict_do_update(index_elements=key, set_=updates)


def delete_subscriber() -> Delete:
    """Delete the subscriber whose id is bound as ``id``."""
    return delete(subscribers).where(subscribers.c.id == bindparam("id"))


def write_all_postgresql() -> Select[int]:
    """Every table's changes in ONE statement (PostgreSQL): one round trip, atomic on its own.

    Rows are bound column by column as arrays named ``<table>_<column>``
    (``unnest`` turns them back into rows), the subscribers to delete as
    ``deleted_subscribers``; an empty array changes nothing. The
    data-modifying CTEs all see the same snapshot and may not touch a row
    twice, so the bound rows must be net changes (``Changes``): each key at
    most once, deleted ids disjoint from upserted ones.
    """
    changes = [
        upsert_from_arrays(subscribers).cte("upsert_subscribers"),
        delete(subscribers)
        .where(
            subscribers.c.id == any_(bindparam("deleted_subscribers", type_=postgresql.ARRAY(Text)))
        )
        .cte("delete_subscribers"),
        upsert_from_arrays(settings).cte("upsert_settings"),
        upsert_from_arrays(memory_state).cte("upsert_memory_state"),
        upsert_from_arrays(transitions).cte("upsert_transitions"),
    ]
    return select(literal(1)).add_cte(*changes)


def upsert_from_arrays(table: Table) -> Insert:
    """PostgreSQL upsert of the rows bound as one array per column (``<table>_<column>``)."""
    columns = list(table.columns)
    arrays = [
        bindparam(f"{table.name}_{column.name}", type_=postgresql.ARRAY(column.type))
        for column in columns
    ]
    rows = func.unnest(*arrays).table_valued(*(column.name for column in columns))
    statement = postgresql.insert(table).from_select(
        [column.name for column in columns], select(*rows.render_derived().c)
    )
    key, updates = _key_and_updates(table, statement.excluded)
    return statement.on_conflict_do_update(index_elements=key, set_=updates)


def _key_and_updates(
    table: Table, excluded: ReadOnlyColumnCollection[str, KeyedColumnElement[Any]]
) -> tuple[list[str], dict[str, KeyedColumnElement[Any]]]:
    # The primary key decides the conflict; every other column takes the new value.
    key = [column.name for column in table.primary_key.columns]
    updates = {c.name: excluded[c.name] for c in table.columns if c.name not in key}
    return key, updates


def memory() -> Select[str]:
    """The memory state's JSON, if ever written."""
    return select(memory_state.c.data).where(memory_state.c.id == MEMORY_ROW_ID)


def subscribers_in_order() -> Select[str]:
    """Subscriber records in registration order."""
    return select(subscribers.c.data).order_by(subscribers.c.seq, subscribers.c.id)


def all_settings() -> Select[str, str]:
    """Every setting as (key, JSON)."""
    return select(settings.c.key, settings.c.data)


def unfinished_transitions() -> Select[str]:
    """Transitions still pending or running, oldest first (the order to finish them)."""
    return (
        select(transitions.c.data)
        .where(transitions.c.outcome.in_(UNFINISHED_OUTCOMES))
        .order_by(transitions.c.seq)
    )


def last_transition_seq() -> Select[int]:
    """The highest transition seq, 0 when there is none."""
    return select(func.coalesce(func.max(transitions.c.seq), 0))


def transition(transition_id: str) -> Select[str]:
    """One transition's JSON by id."""
    return select(transitions.c.data).where(transitions.c.id == transition_id)


def history(query: TransitionQuery) -> Select[str]:
    """A page of transitions, newest first, ``before_seq`` exclusive."""
    page = min(max(query.limit, MIN_PAGE), MAX_PAGE)
    statement = select(transitions.c.data).order_by(transitions.c.seq.desc()).limit(page)
    if query.before_seq is not None:
        statement = statement.where(transitions.c.seq < query.before_seq)
    filters = (
        (transitions.c.operation, query.operation),
        (transitions.c.block, query.block),
        (transitions.c.node, query.node),
        (transitions.c.outcome, query.outcome),
    )
    for column, value in filters:
        if value is not None:
            statement = statement.where(column == value)
    return statement


def prune(keep: int) -> Delete:
    """Delete finished transitions older than the newest ``keep`` (of any outcome)."""
    statement = delete(transitions).where(transitions.c.outcome.not_in(UNFINISHED_OUTCOMES))
    if keep == 0:
        return statement
    # The seq of the keep-th newest transition; NULL (nothing deleted) when
    # there are fewer than ``keep``.
    cutoff = (
        select(transitions.c.seq)
        .order_by(transitions.c.seq.desc())
        .offset(keep - 1)
        .limit(1)
        .scalar_subquery()
    )
    return statement.where(transitions.c.seq < cutoff)
