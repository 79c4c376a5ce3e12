"""The statements, built once per storage (the engine caches their compiled SQL)."""

from __future__ import annotations

from sqlalchemy import Delete, Select, Table, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from app.engine.ports import TransitionQuery
from app.storage.tables import MEMORY_ROW_ID, memory_state, settings, subscribers, transitions
from app.storage.url import Backend

# Transitions with these outcomes are still in flight: recovery finishes
# them after a restart, and pruning never deletes them.
UNFINISHED_OUTCOMES = ("pending", "running")

# Defensive bounds for a history page; the API validates the real ones.
MIN_PAGE, MAX_PAGE = 1, 1000


def upsert(table: Table, backend: Backend) -> Insert:
    """INSERT … ON CONFLICT (primary key) DO UPDATE every other column."""
    insert = sqlite.insert if backend == "sqlite" else postgresql.insert
    statement = insert(table)
    key = [column.name for column in table.primary_key.columns]
    updates = {column.name: statement.excluded[column.name] for column in table.columns}
    for name in key:
        del updates[name]
    return statement.on_conflict_do_update(index_elements=key, set_=updates)


def delete_subscribers() -> Delete:
    """Delete the subscribers whose ids are bound as the list ``ids``."""
    return delete(subscribers).where(subscribers.c.id.in_(bindparam("ids", expanding=True)))


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
