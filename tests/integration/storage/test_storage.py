"""The Storage port's behaviour, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.engine.ports import Batch, Storage, StoredState, TransitionQuery
from app.storage import StorageError, create_storage, parse_database_url
from app.storage.sql import Database
from tests.integration.storage.conftest import StorageFactory
from tests.integration.storage.samples import subscriber, transition


async def reopen(new_storage: StorageFactory) -> StoredState:
    """What a restarted service would load."""
    return await new_storage().open()


async def test_fresh_open_gives_empty_state(new_storage: StorageFactory) -> None:
    state = await new_storage().open()

    assert state == StoredState()


async def test_write_then_reopen_round_trips_everything(
    storage: Storage, new_storage: StorageFactory
) -> None:
    memory = {"block_size_bytes": 134217728, "blocks": [{"id": 0, "state": "online"}], "x": 1.5}
    batch = Batch(
        transitions=[transition(1, outcome="running"), transition(2), transition(3)],
        memory=memory,
        subscribers=[subscriber(2), subscriber(1)],
        settings={"error_inject": {"enabled": True, "priority": -5}, "empty": {}},
    )
    await storage.write(batch)
    await storage.close()

    state = await reopen(new_storage)

    assert state.memory == memory
    assert state.subscribers == [subscriber(1), subscriber(2)]
    assert state.settings == {"error_inject": {"enabled": True, "priority": -5}, "empty": {}}
    assert state.unfinished == [transition(1, outcome="running")]
    assert state.last_transition_seq == 3


async def test_upsert_replaces_every_kind_of_record(
    storage: Storage, new_storage: StorageFactory
) -> None:
    await storage.write(
        Batch(
            transitions=[transition(1, outcome="running")],
            memory={"version": 1},
            subscribers=[subscriber(1), subscriber(2)],
            settings={"cancel": {"scope": "chain"}},
        )
    )
    finished = transition(1, outcome="cancelled", errno=-1, walks=[])
    await storage.write(
        Batch(
            transitions=[finished],
            memory={"version": 2},
            # A priority change re-registers: the subscriber moves to the end.
            subscribers=[subscriber(1, seq=3, priority=7)],
            settings={"cancel": {"scope": "notified"}},
        )
    )

    state = await reopen(new_storage)
    assert state.memory == {"version": 2}
    assert state.subscribers == [subscriber(2), subscriber(1, seq=3, priority=7)]
    assert state.settings == {"cancel": {"scope": "notified"}}
    assert state.unfinished == []
    assert await storage.get_transition("tr-1") == finished
    # The filter columns follow the record.
    assert await storage.list_transitions(TransitionQuery(outcome="running")) == []
    assert await storage.list_transitions(TransitionQuery(outcome="cancelled")) == [finished]


async def test_deleted_subscribers_are_gone(storage: Storage, new_storage: StorageFactory) -> None:
    await storage.write(Batch(subscribers=[subscriber(1), subscriber(2), subscriber(3)]))

    await storage.write(Batch(deleted_subscribers=["sub-2", "never-registered"]))
    # Upserted and deleted in one batch: the deletion is applied last.
    await storage.write(Batch(subscribers=[subscriber(4)], deleted_subscribers=["sub-4"]))

    assert (await reopen(new_storage)).subscribers == [subscriber(1), subscriber(3)]


async def test_empty_batch_changes_nothing(storage: Storage, new_storage: StorageFactory) -> None:
    await storage.write(Batch(memory={"kept": True}))

    await storage.write(Batch())

    assert await reopen(new_storage) == StoredState(memory={"kept": True})


async def test_batch_with_a_malformed_record_writes_nothing(
    storage: Storage, new_storage: StorageFactory
) -> None:
    incomplete = transition(2)
    del incomplete["seq"]
    batch = Batch(
        transitions=[transition(1), incomplete],
        memory={"lost": True},
        subscribers=[subscriber(1)],
        settings={"lost": {}},
    )

    with pytest.raises(StorageError, match="'seq'"):
        await storage.write(batch)

    assert await reopen(new_storage) == StoredState()


async def test_batch_failing_mid_way_is_rolled_back(
    storage: Storage, new_storage: StorageFactory
) -> None:
    await storage.write(Batch(transitions=[transition(1)]))
    # Everything before the transitions is applied first; then a second
    # transition claims seq 1, which the database refuses.
    batch = Batch(
        transitions=[transition(2), transition(1, id="tr-duplicate-seq")],
        memory={"lost": True},
        subscribers=[subscriber(1)],
        deleted_subscribers=["sub-1"],
        settings={"lost": {}},
    )

    with pytest.raises(StorageError) as caught:
        await storage.write(batch)

    assert isinstance(caught.value.__cause__, IntegrityError)
    assert await reopen(new_storage) == StoredState(last_transition_seq=1)
    # The storage is still usable after the rollback.
    await storage.write(Batch(transitions=[transition(2)]))
    assert (await storage.get_transition("tr-2")) == transition(2)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"seq": "7"}, "'seq' must be an integer"),
        ({"block": True}, "'block' must be an integer"),
        ({"outcome": None}, "'outcome' must be a string"),
        ({"created_at": ["today"]}, "'created_at' must be a timestamp"),
    ],
)
async def test_mistyped_transition_fields_are_refused(
    storage: Storage, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(StorageError, match=message):
        await storage.write(Batch(transitions=[transition(1, **fields)]))


async def test_epoch_created_at_is_accepted(storage: Storage) -> None:
    record = transition(1, created_at=1714564800.5)

    await storage.write(Batch(transitions=[record]))

    assert await storage.get_transition("tr-1") == record


async def test_unencodable_record_is_a_storage_error(storage: Storage) -> None:
    with pytest.raises(StorageError, match="write failed"):
        await storage.write(Batch(memory={"nodes": {0: "int keys are not JSON"}}))


async def test_concurrent_writes_all_land(storage: Storage, new_storage: StorageFactory) -> None:
    writes = [storage.write(Batch(transitions=[transition(seq)])) for seq in range(1, 51)]

    await asyncio.gather(*writes)

    history = await storage.list_transitions(TransitionQuery(limit=100))
    assert [record["seq"] for record in history] == list(range(50, 0, -1))
    assert (await reopen(new_storage)).last_transition_seq == 50


async def test_get_transition(storage: Storage) -> None:
    await storage.write(Batch(transitions=[transition(1), transition(2)]))

    assert await storage.get_transition("tr-2") == transition(2)
    assert await storage.get_transition("tr-404") is None


async def test_unfinished_are_pending_and_running_in_seq_order(
    storage: Storage, new_storage: StorageFactory
) -> None:
    outcomes = ["completed", "running", "cancelled", "failed", "pending", "aborted", "completed"]
    records = [transition(seq, outcome=o) for seq, o in enumerate(outcomes, start=1)]
    await storage.write(Batch(transitions=list(reversed(records))))

    state = await reopen(new_storage)

    assert state.unfinished == [records[1], records[4]]
    assert state.last_transition_seq == 7


async def test_prune_keeps_the_newest_and_everything_unfinished(storage: Storage) -> None:
    records = [transition(seq) for seq in range(1, 11)]
    records[1]["outcome"] = "running"  # seq 2
    records[8]["outcome"] = "pending"  # seq 9
    await storage.write(Batch(transitions=records))

    assert await storage.prune_transitions(3) == 6
    assert await seqs(storage, TransitionQuery()) == [10, 9, 8, 2]
    assert await storage.prune_transitions(10) == 0
    assert await storage.prune_transitions(0) == 2
    assert await seqs(storage, TransitionQuery()) == [9, 2]


async def test_prune_refuses_a_negative_keep(storage: Storage) -> None:
    with pytest.raises(ValueError, match="keep"):
        await storage.prune_transitions(-1)


async def seqs(storage: Storage, query: TransitionQuery) -> list[int]:
    """The seqs of one history page, in the order returned."""
    return [record["seq"] for record in await storage.list_transitions(query)]


@pytest.fixture
async def history(storage: Storage) -> Storage:
    """Twelve transitions: operations alternate, blocks cycle 0..3, nodes 0..2."""
    records = [
        transition(
            seq,
            operation="online" if seq % 2 else "offline",
            block=seq % 4,
            node=seq % 3,
            outcome="cancelled" if seq % 5 == 0 else "completed",
        )
        for seq in range(1, 13)
    ]
    await storage.write(Batch(transitions=records))
    return storage


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TransitionQuery(), list(range(12, 0, -1))),
        (TransitionQuery(limit=3), [12, 11, 10]),
        (TransitionQuery(limit=3, before_seq=10), [9, 8, 7]),
        (TransitionQuery(before_seq=1), []),
        (TransitionQuery(operation="offline", limit=4), [12, 10, 8, 6]),
        (TransitionQuery(block=3), [11, 7, 3]),
        (TransitionQuery(node=0), [12, 9, 6, 3]),
        (TransitionQuery(outcome="cancelled"), [10, 5]),
        (TransitionQuery(operation="online", node=2, before_seq=11), [5]),
        (TransitionQuery(block=0, node=0, outcome="completed", operation="offline"), [12]),
        (TransitionQuery(node=99), []),
    ],
)
async def test_list_transitions_pages_and_filters(
    history: Storage, query: TransitionQuery, expected: list[int]
) -> None:
    assert await seqs(history, query) == expected


@pytest.mark.parametrize(("limit", "returned"), [(0, 1), (-5, 1), (5000, 1000)])
async def test_list_transitions_clamps_the_limit(
    storage: Storage, limit: int, returned: int
) -> None:
    await storage.write(Batch(transitions=[transition(seq) for seq in range(1, 1002)]))

    page = await storage.list_transitions(TransitionQuery(limit=limit))

    assert len(page) == returned
    assert page[0]["seq"] == 1001


async def test_in_memory_sqlite_lives_as_long_as_the_storage() -> None:
    storage = create_storage("sqlite:///:memory:")
    try:
        assert await storage.open() == StoredState()
        await storage.write(Batch(transitions=[transition(1, outcome="pending")]))

        assert (await storage.open()).unfinished == [transition(1, outcome="pending")]
    finally:
        await storage.close()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_postgresql_writes_go_on_after_the_writer_lost_its_connection(
    database_url: str, storage: Storage, raw_database: Database, new_storage: StorageFactory
) -> None:
    await storage.write(Batch(memory={"version": 1}))
    # The storage keeps one connection for writes; the server drops it (and
    # pg_terminate_backend waits until it is gone). The next write notices
    # and takes another connection instead of failing.
    terminate = text(
        "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
        " WHERE pid <> pg_backend_pid() AND query LIKE :marker"
    )
    marker = {"marker": f"%INTO {parse_database_url(database_url).schema}.memory_state%"}
    killed = await raw_database.transaction(lambda conn: conn.scalar(terminate, marker), write=True)
    assert killed == 1

    await storage.write(Batch(memory={"version": 2}))

    assert (await reopen(new_storage)).memory == {"version": 2}
