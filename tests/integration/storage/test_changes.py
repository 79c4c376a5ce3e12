"""Changes: a batch as rows, and several batches as their net effect in order."""

from __future__ import annotations

import pytest

from app.engine.ports import Batch
from app.storage import StorageError
from app.storage.changes import Changes
from tests.integration.storage.samples import subscriber, transition


def ids(rows: dict[str, object]) -> list[str]:
    """The keys of a table's rows, in order."""
    return list(rows)


def test_a_batch_deletes_after_it_upserts() -> None:
    changes = Changes.of(
        Batch(subscribers=[subscriber(1), subscriber(2)], deleted_subscribers=["sub-2"])
    )

    assert ids(changes.subscribers) == ["sub-1"]
    assert ids(changes.deleted_subscribers) == ["sub-2"]


def test_an_empty_batch_has_no_changes() -> None:
    assert not Changes.of(Batch())
    assert Changes.of(Batch(deleted_subscribers=["sub-1"]))
    assert Changes.of(Batch(memory={}))


def test_a_malformed_record_is_refused_before_anything_runs() -> None:
    with pytest.raises(StorageError, match="'seq' must be an integer"):
        Changes.of(Batch(transitions=[transition(1, seq="1")]))


def test_merged_keeps_the_last_value_of_every_key() -> None:
    first = Changes.of(
        Batch(
            transitions=[transition(1, outcome="running"), transition(2)],
            memory={"version": 1},
            settings={"a": {"v": 1}, "b": {"v": 1}},
        )
    )
    second = Changes.of(
        Batch(transitions=[transition(1, outcome="completed")], settings={"a": {"v": 2}})
    )
    third = Changes.of(Batch(memory={"version": 3}))

    net = Changes.merged([first, second, third])

    assert net.transitions["tr-1"]["outcome"] == "completed"
    assert ids(net.transitions) == ["tr-1", "tr-2"]
    assert net.settings["a"] == second.settings["a"]
    assert net.settings["b"] == first.settings["b"]
    assert net.memory == third.memory


def test_merged_applies_deletions_and_upserts_in_the_order_asked() -> None:
    registered = Changes.of(Batch(subscribers=[subscriber(1), subscriber(2)]))
    removed = Changes.of(Batch(deleted_subscribers=["sub-1", "sub-3"]))
    revived = Changes.of(Batch(subscribers=[subscriber(3, priority=9)]))

    net = Changes.merged([registered, removed, revived])

    assert net.subscribers == {
        "sub-2": registered.subscribers["sub-2"],
        "sub-3": revived.subscribers["sub-3"],
    }
    assert ids(net.deleted_subscribers) == ["sub-1"]


def test_merged_leaves_its_parts_unchanged() -> None:
    first = Changes.of(Batch(subscribers=[subscriber(1)]))
    second = Changes.of(Batch(deleted_subscribers=["sub-1"]))

    Changes.merged([first, second])

    assert ids(first.subscribers) == ["sub-1"]
    assert ids(second.deleted_subscribers) == ["sub-1"]
