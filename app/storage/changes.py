"""``Changes``: what one or more batches do to the tables, as rows keyed by primary key.

A ``Batch`` is turned into ``Changes`` in the caller's task, before it is
queued (so a malformed record fails that caller alone, and costs no lock).
Batches committed together (see ``group_commit``) are merged into one
``Changes`` holding their net effect, exactly as if they had been applied one
after the other in order: a later upsert of a key replaces an earlier one, a
deletion removes an earlier upsert, an upsert revives an earlier deletion.
Every key then appears at most once, so the rows can be written in any order
(PostgreSQL's one-statement write needs that: a statement may not touch a row
twice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from app.engine.ports import Batch
from app.storage.records import Row, memory_row, setting_row, subscriber_row, transition_row


@dataclass(slots=True)
class Changes:
    """Net row changes per table; empty tables are left untouched."""

    subscribers: dict[str, Row] = field(default_factory=dict)
    # An ordered set: ids to delete (never also in ``subscribers``).
    deleted_subscribers: dict[str, None] = field(default_factory=dict)
    settings: dict[str, Row] = field(default_factory=dict)
    memory: Row | None = None
    transitions: dict[str, Row] = field(default_factory=dict)

    @classmethod
    def of(cls, batch: Batch) -> Changes:
        """The rows of ``batch``, checked (``StorageError`` for a malformed record).

        Within a batch the order of application is subscribers, deletions,
        settings, memory, transitions: a subscriber both upserted and deleted
        ends up deleted.
        """
        changes = cls()
        for record in batch.subscribers:
            changes._upsert_subscriber(subscriber_row(record))
        for subscriber_id in batch.deleted_subscribers:
            changes._delete_subscriber(subscriber_id)
        for key, value in batch.settings.items():
            changes.settings[key] = setting_row(key, value)
        if batch.memory is not None:
            changes.memory = memory_row(batch.memory)
        for record in batch.transitions:
            row = transition_row(record)
            changes.transitions[row["id"]] = row
        return changes

    @classmethod
    def merged(cls, in_order: Iterable[Changes]) -> Changes:
        """The net effect of applying each of ``in_order`` after the previous one."""
        net = cls()
        for changes in in_order:
            for row in changes.subscribers.values():
                net._upsert_subscriber(row)
            for subscriber_id in changes.deleted_subscribers:
                net._delete_subscriber(subscriber_id)
            net.settings.update(changes.settings)
            if changes.memory is not None:
                net.memory = changes.memory
            net.transitions.update(changes.transitions)
        return net

    def __bool__(self) -> bool:
        return bool(
            self.subscribers
            or self.deleted_subscribers
            or self.settings
            or self.memory is not None
            or self.transitions
        )

    def _upsert_subscriber(self, row: Row) -> None:
        self.deleted_subscribers.pop(row["id"], None)
        self.subscribers[row["id"]] = row

    def _delete_subscriber(self, subscriber_id: str) -> None:
        self.subscribers.pop(subscriber_id, None)
        self.deleted_subscribers[subscriber_id] = None
