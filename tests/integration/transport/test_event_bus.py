"""EventBus without a server: ids, CloudEvents fields, replay, gaps, overflow, close."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from app.engine.events import EventBus, Observer, ObserverEnd, rfc3339_ms
from app.engine.ports import JSON, EventPublisher
from tests.support.server import seconds


def drain(observer: Observer) -> list[JSON]:
    """Everything the observer holds now, without waiting."""

    async def take_all() -> list[JSON]:
        return [await anext(observer) for _ in range(observer.pending)]

    return asyncio.run(take_all())


def ids(events: list[JSON]) -> list[int]:
    return [int(event["id"]) for event in events]


def publish_blocks(bus: EventBus, count: int) -> None:
    for block in range(count):
        bus.publish("hotplug.block.added", {"id": block})


def test_it_is_an_event_publisher() -> None:
    publisher: EventPublisher = EventBus()
    publisher.publish("hotplug.block.added", {"id": 0})  # no event loop needed


def test_events_are_cloudevents() -> None:
    bus = EventBus("/hotplugd")
    observer = bus.subscribe()
    bus.publish("hotplug.block.changed", {"id": 3}, subject="blocks/3")
    bus.publish("hotplug.block.changed", {"id": 4})
    first, second = drain(observer)
    assert first == {
        "specversion": "1.0",
        "id": "1",
        "source": "/hotplugd",
        "type": "hotplug.block.changed",
        "time": first["time"],
        "datacontenttype": "application/json",
        "subject": "blocks/3",
        "data": {"id": 3},
    }
    assert first["time"].endswith("Z")
    assert datetime.fromisoformat(first["time"]).utcoffset() is not None
    assert "subject" not in second
    assert second["id"] == "2"


def test_ids_start_at_first_id_and_keep_increasing() -> None:
    bus = EventBus(first_id=1000)
    assert bus.last_id == 999
    observer = bus.subscribe()
    publish_blocks(bus, 3)
    assert ids(drain(observer)) == [1000, 1001, 1002]
    assert bus.last_id == 1002


def test_data_is_copied_at_publish() -> None:
    bus = EventBus()
    observer = bus.subscribe()
    data: JSON = {"id": 1}
    bus.publish("hotplug.block.added", data)
    data["id"] = 2
    assert drain(observer)[0]["data"] == {"id": 1}


def test_since_replays_retained_events_after_it() -> None:
    bus = EventBus()
    publish_blocks(bus, 5)
    assert ids(drain(bus.subscribe(since=0))) == [1, 2, 3, 4, 5]
    assert ids(drain(bus.subscribe(since=3))) == [4, 5]
    assert drain(bus.subscribe(since=5)) == []
    assert drain(bus.subscribe(since=99)) == []
    assert drain(bus.subscribe()) == []


def test_replay_comes_before_live_events() -> None:
    bus = EventBus()
    publish_blocks(bus, 2)
    observer = bus.subscribe(since=0)
    publish_blocks(bus, 1)
    assert ids(drain(observer)) == [1, 2, 3]


def test_a_gap_event_comes_first_when_events_after_since_are_gone() -> None:
    bus = EventBus(retain=3)
    publish_blocks(bus, 6)  # ids 1..6, 4..6 retained
    gap, *rest = drain(bus.subscribe(since=1))
    assert gap["type"] == "hotplug.stream.gap"
    assert gap["data"] == {"since": 1, "oldest_retained": 4, "missed": 2}
    assert gap["id"] == "3"  # the last id no longer retained: a resume point...
    assert ids(rest) == [4, 5, 6]
    # ...from which a reconnecting observer gets every retained event.
    assert ids(drain(bus.subscribe(since=int(gap["id"])))) == [4, 5, 6]
    publish_blocks(bus, 1)
    assert ids(drain(bus.subscribe(since=5))) == [6, 7]


def test_a_gap_event_after_a_restart() -> None:
    bus = EventBus(first_id=101)  # ids up to 100 were handed out before the restart
    gap, *rest = drain(bus.subscribe(since=40))
    assert gap["data"] == {"since": 40, "oldest_retained": None, "missed": 60}
    assert rest == []
    assert drain(bus.subscribe(since=100)) == []


def test_an_observer_whose_queue_is_full_overflows_and_publish_goes_on() -> None:
    bus = EventBus(queue_size=2)
    slow, fast = bus.subscribe(), bus.subscribe()
    publish_blocks(bus, 2)
    assert ids(drain(fast)) == [1, 2]
    publish_blocks(bus, 1)  # the third does not fit in slow's queue
    assert slow.end is ObserverEnd.OVERFLOWED
    assert slow.overflowed
    assert bus.observer_count == 1
    assert slow.pending == 0  # ended: nothing more, not even what it held
    publish_blocks(bus, 1)
    assert ids(drain(fast)) == [3, 4]
    assert not fast.overflowed


def test_a_replay_longer_than_the_queue_does_not_overflow() -> None:
    bus = EventBus(queue_size=2)
    publish_blocks(bus, 10)
    observer = bus.subscribe(since=0)
    publish_blocks(bus, 2)
    assert ids(drain(observer)) == list(range(1, 13))
    assert observer.end is None


def test_close_ends_every_observer() -> None:
    bus = EventBus()
    observers = [bus.subscribe(), bus.subscribe()]
    bus.close()
    bus.close()
    assert bus.closed
    assert bus.observer_count == 0
    assert all(observer.end is ObserverEnd.BUS_CLOSED for observer in observers)
    assert bus.subscribe().end is ObserverEnd.BUS_CLOSED


def test_observer_close_is_idempotent_and_forgets_it() -> None:
    bus = EventBus()
    observer = bus.subscribe()
    observer.close()
    observer.close()
    assert observer.end is ObserverEnd.CLOSED
    assert bus.observer_count == 0
    publish_blocks(bus, 1)
    assert observer.pending == 0


async def test_a_waiting_observer_wakes_on_publish_and_on_close() -> None:
    bus = EventBus()
    observer = bus.subscribe()
    waiting = asyncio.create_task(anext(observer))
    # One loop turn: the task runs until it parks on its future (deterministic,
    # not a timing guess); waking a parked reader is what this test is about.
    await asyncio.sleep(0)
    bus.publish("hotplug.block.added", {"id": 0})
    assert (await asyncio.wait_for(waiting, seconds(1)))["id"] == "1"
    ended = asyncio.create_task(anext(observer))
    await asyncio.sleep(0)
    bus.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(ended, seconds(1))


async def test_an_observer_has_one_consumer() -> None:
    observer = EventBus().subscribe()
    first = asyncio.create_task(anext(observer))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="single consumer"):
        await anext(observer)
    observer.close()
    with pytest.raises(StopAsyncIteration):
        await first


@pytest.mark.parametrize("bound", ["retain", "queue_size", "first_id"])
def test_bounds_must_be_positive(bound: str) -> None:
    bounds = {"retain": 1, "queue_size": 1, "first_id": 1, bound: 0}
    with pytest.raises(ValueError, match="at least 1"):
        EventBus(
            retain=bounds["retain"], queue_size=bounds["queue_size"], first_id=bounds["first_id"]
        )


async def test_fan_out_is_batched_per_window() -> None:
    bus = EventBus(batch_window=60)  # only flush() ends this window
    observer = bus.subscribe()
    publish_blocks(bus, 3)
    assert observer.pending == 0  # published, retained, not yet handed out
    assert ids(await bus.subscribe(since=0).batch()) == [1, 2, 3]  # replay sees them at once
    bus.flush()
    assert ids(await observer.batch()) == [1, 2, 3]  # one wake-up for the batch
    bus.flush()  # nothing open: nothing happens
    assert observer.pending == 0


async def test_the_window_ends_by_itself() -> None:
    bus = EventBus(batch_window=0.001)
    observer = bus.subscribe()
    publish_blocks(bus, 2)
    assert ids(await asyncio.wait_for(observer.batch(), seconds(1))) == [1, 2]


async def test_observers_joining_during_a_batch_get_each_event_once() -> None:
    bus = EventBus(batch_window=60)
    early = bus.subscribe()
    publish_blocks(bus, 2)  # batch open: 1, 2
    resuming = bus.subscribe(since=1)  # replays 2
    live_only = bus.subscribe()  # from 3 on
    early.close()
    publish_blocks(bus, 1)  # 3: no observer from before, the batch still takes it
    assert bus.observer_count == 2
    bus.flush()
    assert ids(await early.batch()) == []
    assert ids(await resuming.batch()) == [2, 3]
    assert ids(await live_only.batch()) == [3]


async def test_a_batch_too_big_for_the_queue_overflows_at_hand_out() -> None:
    bus = EventBus(queue_size=3, batch_window=60)
    observer = bus.subscribe()
    publish_blocks(bus, 4)
    assert observer.end is None
    bus.flush()
    assert observer.overflowed
    assert await observer.batch() == []


async def test_close_drops_an_open_batch() -> None:
    bus = EventBus(batch_window=60)
    observer = bus.subscribe()
    publish_blocks(bus, 2)
    bus.close()
    assert await observer.batch() == []
    bus.flush()
    assert observer.pending == 0


def test_the_batch_window_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="batch_window"):
        EventBus(batch_window=-1)


@pytest.mark.parametrize("epoch_ms", [0, 999, 1_000, 1_764_150_000_123, 4_102_444_799_999])
def test_event_times_are_rfc3339_with_milliseconds(epoch_ms: int) -> None:
    expected = datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")
    assert rfc3339_ms(epoch_ms) == expected.replace("+00:00", "Z")


async def test_a_sink_takes_batches_while_nothing_is_queued() -> None:
    bus = EventBus(batch_window=60)
    observer = bus.subscribe(since=0)  # nothing to replay yet
    taken: list[list[int]] = []
    accept = True

    def sink(events: list[JSON]) -> bool:
        if accept:
            taken.append(ids(events))
        return accept

    observer.set_sink(sink)
    publish_blocks(bus, 2)
    bus.flush()
    assert taken == [[1, 2]]
    assert observer.pending == 0
    accept = False  # e.g. the socket has no room: the batch queues
    publish_blocks(bus, 1)
    bus.flush()
    accept = True  # room again, but an older batch is queued: order first
    publish_blocks(bus, 1)
    bus.flush()
    assert taken == [[1, 2]]
    assert ids(await observer.batch()) == [3, 4]


async def test_a_failing_sink_is_dropped_and_its_batch_queued(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus(batch_window=60)
    observer = bus.subscribe()
    calls = 0

    def broken(events: list[JSON]) -> bool:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    observer.set_sink(broken)
    publish_blocks(bus, 1)
    bus.flush()
    publish_blocks(bus, 1)
    bus.flush()
    assert calls == 1
    assert ids(await observer.batch()) == [1, 2]
    assert "sink failed" in caplog.text
