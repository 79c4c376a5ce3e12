"""Group commit: writes asked during a commit share the next one; each caller gets its own outcome.

The first tests drive ``GroupCommit`` with a commit function the test holds
and fails at will; the last ones run it on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy.exc import IntegrityError

from app.engine.ports import Batch, Storage, StoredState, TransitionQuery
from app.storage import StorageError
from app.storage.changes import Changes
from app.storage.group_commit import GroupCommit
from app.storage.sql import Database
from tests.integration.storage.conftest import StorageFactory
from tests.integration.storage.samples import transition
from tests.support.server import wait_for


def write(number: int, **fields: object) -> Changes:
    """The changes of one caller: transition ``number``."""
    return Changes.of(Batch(transitions=[transition(number, **fields)]))


class HeldDatabase:
    """A commit function that records each transaction, can be held, and fails on request."""

    def __init__(self) -> None:
        self.attempts: list[list[str]] = []  # transition ids of every transaction tried
        self.committed: list[list[str]] = []
        self.rows: dict[str, object] = {}  # what a reader would see
        self.open = asyncio.Event()
        self.open.set()
        self.fails: Callable[[list[str]], bool] = lambda _ids: False

    async def __call__(self, changes: Changes) -> None:
        ids = list(changes.transitions)
        self.attempts.append(ids)
        await self.open.wait()
        if self.fails(ids):
            raise StorageError(f"refused {ids}")
        self.committed.append(ids)
        self.rows.update(changes.transitions)

    async def in_flight(self, count: int) -> None:
        """Wait until ``count`` transactions have been started."""
        await wait_for(lambda: len(self.attempts) >= count)


async def asked(group: GroupCommit, *changes: Changes) -> list[asyncio.Task[None]]:
    """Ask each write in its own task, in this order; return once all of them are queued."""
    before = group.queued
    tasks = [asyncio.create_task(group.write(c)) for c in changes]
    await wait_for(lambda: group.queued >= before + len(changes))
    return tasks


async def outcomes(tasks: Sequence[asyncio.Task[None]]) -> list[BaseException | None]:
    """None for each write committed, else what its caller got."""
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_lone_write_is_a_transaction_of_its_own() -> None:
    database = HeldDatabase()
    group = GroupCommit(database)

    await group.write(write(1))

    assert database.committed == [["tr-1"]]
    await group.close()


async def test_writes_asked_during_a_commit_share_the_next_transaction() -> None:
    database = HeldDatabase()
    group = GroupCommit(database)
    database.open.clear()
    first = asyncio.create_task(group.write(write(1)))
    await database.in_flight(1)

    waiting = await asked(group, write(2), write(3), write(4))
    database.open.set()

    assert await outcomes([first, *waiting]) == [None] * 4
    assert database.committed == [["tr-1"], ["tr-2", "tr-3", "tr-4"]]
    await group.close()


async def test_writes_are_applied_in_the_order_asked() -> None:
    database = HeldDatabase()
    group = GroupCommit(database, max_group=3)
    database.open.clear()
    first = asyncio.create_task(group.write(write(1, outcome="running")))
    await database.in_flight(1)
    outcomes_asked = ["pending", "running", "failed", "cancelled", "completed"]

    waiting = await asked(group, *(write(1, outcome=outcome) for outcome in outcomes_asked))
    database.open.set()

    assert await outcomes([first, *waiting]) == [None] * 6
    assert database.committed == [["tr-1"], ["tr-1"], ["tr-1"]]  # 1, then 3 merged, then 2
    assert database.rows["tr-1"]["outcome"] == "completed"  # type: ignore[index]
    await group.close()


async def test_a_group_is_bounded() -> None:
    database = HeldDatabase()
    group = GroupCommit(database, max_group=2)
    database.open.clear()
    first = asyncio.create_task(group.write(write(1)))
    await database.in_flight(1)

    waiting = await asked(group, write(2), write(3), write(4), write(5), write(6))
    database.open.set()

    assert await outcomes([first, *waiting]) == [None] * 6
    assert database.committed == [["tr-1"], ["tr-2", "tr-3"], ["tr-4", "tr-5"], ["tr-6"]]
    await group.close()


async def test_a_failed_group_is_retried_write_by_write_and_only_the_bad_one_fails() -> None:
    database = HeldDatabase()
    group = GroupCommit(database)
    database.fails = lambda ids: "tr-3" in ids
    database.open.clear()
    first = asyncio.create_task(group.write(write(1)))
    await database.in_flight(1)

    waiting = await asked(group, write(2), write(3), write(4))
    database.open.set()
    results = await outcomes([first, *waiting])

    assert results[:2] == [None, None]
    assert isinstance(results[2], StorageError)
    assert results[3] is None
    assert database.attempts == [["tr-1"], ["tr-2", "tr-3", "tr-4"], ["tr-2"], ["tr-3"], ["tr-4"]]
    assert database.committed == [["tr-1"], ["tr-2"], ["tr-4"]]
    await group.close()


async def test_when_the_database_refuses_everything_every_caller_is_told() -> None:
    database = HeldDatabase()
    group = GroupCommit(database)
    database.fails = lambda ids: True
    database.open.clear()
    first = asyncio.create_task(group.write(write(1)))
    await database.in_flight(1)

    waiting = await asked(group, write(2), write(3))
    database.open.set()
    results = await outcomes([first, *waiting])

    assert all(isinstance(result, StorageError) for result in results)
    assert database.committed == []
    # Still usable once the database is back.
    database.fails = lambda ids: False
    await group.write(write(4))
    assert database.committed == [["tr-4"]]
    await group.close()


async def test_a_cancelled_caller_does_not_withdraw_its_write_or_disturb_the_order() -> None:
    database = HeldDatabase()
    group = GroupCommit(database)
    database.open.clear()
    first = asyncio.create_task(group.write(write(1)))
    await database.in_flight(1)
    cancelled, later = await asked(group, write(2), write(3))

    cancelled.cancel()
    first.cancel()
    database.open.set()

    assert await outcomes([later]) == [None]
    assert cancelled.cancelled()
    assert first.cancelled()
    assert database.committed == [["tr-1"], ["tr-2", "tr-3"]]
    await group.close()


async def test_close_commits_what_is_queued_then_refuses() -> None:
    database = HeldDatabase()
    group = GroupCommit(database)
    database.open.clear()
    first = asyncio.create_task(group.write(write(1)))
    await database.in_flight(1)
    waiting = await asked(group, write(2))

    closing = asyncio.create_task(group.close())
    database.open.set()
    await closing

    assert await outcomes([first, *waiting]) == [None, None]
    assert database.committed == [["tr-1"], ["tr-2"]]
    with pytest.raises(StorageError, match="closed"):
        await group.write(write(3))
    await group.close()


async def test_close_without_writes() -> None:
    await GroupCommit(HeldDatabase()).close()


# -- on the real databases --------------------------------------------------------


class Counting:
    """Counts the transactions a database's ``apply`` runs."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.transactions = 0

    async def __call__(self, changes: Changes) -> None:
        self.transactions += 1
        await self.database.apply(changes)


async def test_writes_asked_together_commit_as_one_transaction(
    storage: Storage, raw_database: Database
) -> None:
    counting = Counting(raw_database)
    group = GroupCommit(counting)

    await asyncio.gather(*(group.write(write(n)) for n in range(1, 6)))
    await group.close()

    assert counting.transactions == 1
    history = await storage.list_transitions(TransitionQuery())
    assert [record["seq"] for record in history] == [5, 4, 3, 2, 1]


async def test_a_bad_write_among_others_fails_alone(
    storage: Storage, raw_database: Database
) -> None:
    await storage.write(Batch(transitions=[transition(1)]))
    counting = Counting(raw_database)
    group = GroupCommit(counting)

    results = await asyncio.gather(
        group.write(write(2)),
        group.write(write(1, id="tr-duplicate-seq")),  # seq 1 is taken
        group.write(write(3)),
        return_exceptions=True,
    )
    await group.close()

    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], IntegrityError)
    assert counting.transactions == 1 + 3  # the group, then each write alone
    history = await storage.list_transitions(TransitionQuery())
    assert [record["id"] for record in history] == ["tr-3", "tr-2", "tr-1"]


async def test_concurrent_writes_through_the_port_each_get_their_own_outcome(
    storage: Storage, new_storage: StorageFactory
) -> None:
    await storage.write(Batch(transitions=[transition(1)]))

    results = await asyncio.gather(
        storage.write(Batch(transitions=[transition(2)], memory={"version": 2})),
        storage.write(Batch(transitions=[transition(1, id="tr-bad")], memory={"version": -1})),
        storage.write(Batch(transitions=[transition(3)], memory={"version": 3})),
        return_exceptions=True,
    )

    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], StorageError)
    assert isinstance(results[1].__cause__, IntegrityError)
    assert await new_storage().open() == StoredState(memory={"version": 3}, last_transition_seq=3)
