"""SPEC §4 timeouts and absence: failure_policy fail/ignore, completion walks, request deadline."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.hotplug import (
    Service,
    answer_by_action,
    record_walk,
    start_transition,
    wait_finished,
    walk_names,
)
from tests.support.server import seconds, wait_for

ETIMEDOUT, ENOTCONN = -110, -107
SHORT = 200  # ms: a subscriber timeout where the timeout is the point


def scaled_ms(value: float) -> int:
    """A duration in ms scaled like test deadlines (HOTPLUG_TEST_TIMEOUT_FACTOR)."""
    return round(seconds(value) * 1000)


def silent(_frame: dict[str, Any]) -> None:
    """Never answer."""
    return


def silent_on(*actions: str) -> Any:
    """Answer NOTIFY_OK except to these actions."""
    return answer_by_action(dict.fromkeys(actions))


async def test_timeout_with_fail_policy_vetoes_etimedout(service: Service) -> None:
    """A silent subscriber with failure_policy=fail vetoes GOING_* with -ETIMEDOUT, named."""
    sleeper = await service.subscriber("sleeper", silent_on("MEM_GOING_ONLINE"), timeout_ms=SHORT)
    after = await service.subscriber("after", priority=-1)
    response = await service.online(12)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["errno"] == ETIMEDOUT
    assert body["errno_name"] == "ETIMEDOUT"
    assert body["vetoed_by"]["subscriber"] == sleeper.id
    assert body["vetoed_by"]["name"] == "sleeper"
    record = body["transition"]
    assert record["outcome"] == "cancelled"
    [call] = record_walk(record, "MEM_GOING_ONLINE")["calls"]
    assert call["delivery"] == "timeout"
    assert call["errno"] == ETIMEDOUT
    assert call["value"] == 0x8000 | (1 - ETIMEDOUT)
    assert after.actions() == ["MEM_CANCEL_ONLINE"]
    assert (await service.block(12))["state"] == "offline"


async def test_timeout_with_ignore_policy_counts_as_done(service: Service) -> None:
    """A silent subscriber with failure_policy=ignore counts as NOTIFY_DONE: the walk goes on."""
    await service.subscriber(
        "sleeper", silent_on("MEM_GOING_ONLINE"), timeout_ms=SHORT, failure_policy="ignore"
    )
    after = await service.subscriber("after", priority=-1)
    response = await service.online(12)
    assert response.status_code == 200, response.text
    record = response.json()
    going = record_walk(record, "MEM_GOING_ONLINE")
    assert [(c["name"], c["delivery"], c["value"]) for c in going["calls"]] == [
        ("sleeper", "timeout", 0),
        ("after", "replied", 1),
    ]
    assert after.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    assert (await service.block(12))["state"] == "online"


async def test_timeout_of_last_ignore_subscriber_is_done_result(service: Service) -> None:
    """An ignored timeout by the last subscriber makes the walk result NOTIFY_DONE: no veto."""
    await service.subscriber("ok", priority=1)
    await service.subscriber("sleeper", silent, timeout_ms=SHORT, failure_policy="ignore")
    response = await service.offline(8)
    assert response.status_code == 200, response.text
    going = record_walk(response.json(), "MEM_GOING_OFFLINE")
    assert going["value"] == 0
    assert going["calls"][-1]["delivery"] == "timeout"


async def test_not_connected_with_fail_policy_vetoes_enotconn(service: Service) -> None:
    """A registered but unconnected subscriber with fail: delivery disconnected, -ENOTCONN veto."""
    await service.subscriber("up", priority=1)
    absent = await service.subscriber("absent", connect=False)
    response = await service.online(12)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["errno"] == ENOTCONN
    assert body["errno_name"] == "ENOTCONN"
    assert body["vetoed_by"]["subscriber"] == absent.id
    calls = record_walk(body["transition"], "MEM_GOING_ONLINE")["calls"]
    assert [(c["name"], c["delivery"]) for c in calls] == [
        ("up", "replied"),
        ("absent", "disconnected"),
    ]
    assert calls[1]["errno"] == ENOTCONN
    cancel = record_walk(body["transition"], "MEM_CANCEL_ONLINE")["calls"]
    assert [(c["name"], c["delivery"], c["value"]) for c in cancel] == [
        ("up", "replied", 1),
        ("absent", "disconnected", 0),
    ]


async def test_not_connected_with_ignore_policy_is_skipped(service: Service) -> None:
    """An unconnected subscriber with ignore counts as NOTIFY_DONE and the online completes."""
    await service.subscriber("absent", connect=False, failure_policy="ignore", priority=1)
    after = await service.subscriber("after")
    response = await service.online(12)
    assert response.status_code == 200, response.text
    record = response.json()
    for action in ("MEM_GOING_ONLINE", "MEM_ONLINE"):
        calls = record_walk(record, action)["calls"]
        assert [(c["name"], c["delivery"]) for c in calls] == [
            ("absent", "disconnected"),
            ("after", "replied"),
        ]
    assert after.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]


async def test_timeout_on_completion_walk_goes_on(service: Service) -> None:
    """On MEM_ONLINE a timeout (even with fail) counts as NOTIFY_DONE and the walk continues."""
    await service.subscriber("sleeper", silent_on("MEM_ONLINE"), timeout_ms=SHORT, priority=1)
    after = await service.subscriber("after")
    response = await service.online(12)
    assert response.status_code == 200, response.text
    online = record_walk(response.json(), "MEM_ONLINE")
    assert [(c["name"], c["delivery"], c["value"]) for c in online["calls"]] == [
        ("sleeper", "timeout", 0),
        ("after", "replied", 1),
    ]
    assert online["stopped_by"] is None
    assert after.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]


async def test_timeout_on_cancel_walk_goes_on(service: Service) -> None:
    """On MEM_CANCEL_* a timeout with fail counts as NOTIFY_DONE and later subscribers get it."""
    await service.subscriber(
        "vetoer", answer_by_action({"MEM_GOING_OFFLINE": {"result": "NOTIFY_BAD"}}), priority=2
    )
    await service.subscriber("sleeper", silent, timeout_ms=SHORT, priority=1)
    after = await service.subscriber("after")
    response = await service.offline(8)
    assert response.status_code == 409, response.text
    assert response.json()["errno"] == -1
    cancel = record_walk(response.json()["transition"], "MEM_CANCEL_OFFLINE")
    assert [(c["name"], c["delivery"], c["value"]) for c in cancel["calls"]] == [
        ("vetoer", "replied", 1),
        ("sleeper", "timeout", 0),
        ("after", "replied", 1),
    ]
    assert after.actions() == ["MEM_CANCEL_OFFLINE"]


async def test_disconnected_on_completion_walk_goes_on(service: Service) -> None:
    """An unconnected fail-policy subscriber on MEM_OFFLINE is NOTIFY_DONE; the walk goes on."""
    await service.subscriber("up", priority=2)
    absent = await service.subscriber("absent", connect=False, priority=1, actions=["MEM_OFFLINE"])
    after = await service.subscriber("after")
    response = await service.offline(8)
    assert response.status_code == 200, response.text
    offline = record_walk(response.json(), "MEM_OFFLINE")
    assert [(c["name"], c["delivery"]) for c in offline["calls"]] == [
        ("up", "replied"),
        ("absent", "disconnected"),
        ("after", "replied"),
    ]
    assert offline["calls"][1]["subscriber"] == absent.id
    assert after.actions() == ["MEM_GOING_OFFLINE", "MEM_OFFLINE"]


async def test_request_timeout_bounds_the_going_walk(service: Service) -> None:
    """The request's timeout_ms bounds GOING_*: once spent, later subscribers time out at once."""
    await service.subscriber(
        "slow",
        silent_on("MEM_GOING_ONLINE"),
        timeout_ms=60_000,
        failure_policy="ignore",
        priority=3,
    )
    middle = await service.subscriber("middle", failure_policy="ignore", priority=2)
    last = await service.subscriber("last", priority=1)
    response = await asyncio.wait_for(service.online(12, timeout_ms=SHORT), seconds(10))
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["errno"] == ETIMEDOUT
    assert body["vetoed_by"]["subscriber"] == last.id
    going = record_walk(body["transition"], "MEM_GOING_ONLINE")
    assert [(c["name"], c["delivery"]) for c in going["calls"]] == [
        ("slow", "timeout"),
        ("middle", "timeout"),
        ("last", "timeout"),
    ]
    # The later subscribers were never sent GOING_ONLINE: their deadline had passed.
    assert middle.actions() == ["MEM_CANCEL_ONLINE"]
    assert last.actions() == ["MEM_CANCEL_ONLINE"]
    assert walk_names(body["transition"], "MEM_CANCEL_ONLINE") == ["slow", "middle", "last"]


async def test_request_timeout_does_not_bound_completion_walk(service: Service) -> None:
    """After the deadline, MEM_ONLINE still reaches everyone, bounded only by own timeouts."""
    # Both ignore failures, so a slow GOING walk cannot veto; "sleeper" holds MEM_ONLINE
    # past the request's deadline, and "after" must still be asked (and answer).
    await service.subscriber(
        "sleeper", silent_on("MEM_ONLINE"), timeout_ms=400, failure_policy="ignore", priority=1
    )
    after = await service.subscriber("after", failure_policy="ignore")
    response = await service.online(12, timeout_ms=100)
    assert response.status_code == 200, response.text
    online = record_walk(response.json(), "MEM_ONLINE")
    assert [(c["name"], c["delivery"]) for c in online["calls"]] == [
        ("sleeper", "timeout"),
        ("after", "replied"),
    ]
    assert after.actions()[-1] == "MEM_ONLINE"


async def test_request_timeout_does_not_count_queue_time(service: Service) -> None:
    """A request's timeout_ms starts with its transition, not while it waits in the queue."""
    hold_ms, deadline_ms = scaled_ms(0.8), scaled_ms(0.6)
    holder = await service.subscriber(
        "holder", silent, timeout_ms=hold_ms, failure_policy="ignore", nodes=[1], priority=1
    )
    await service.subscriber("quick")
    first = await start_transition(service, "online", 12)
    await wait_for(lambda: bool(holder.notifications))
    # The first transition still waits hold_ms on "holder": queue one with a shorter deadline.
    second = await start_transition(service, "online", 20, timeout_ms=deadline_ms)
    assert (await wait_finished(service, first["id"]))["outcome"] == "completed"
    record = await wait_finished(service, second["id"])
    assert record["outcome"] == "completed", record
    going = record_walk(record, "MEM_GOING_ONLINE")
    assert [(c["name"], c["delivery"]) for c in going["calls"]] == [("quick", "replied")]


async def test_frame_timeout_is_the_smaller_of_own_and_request_left(service: Service) -> None:
    """GOING_* frames carry min(own timeout, request time left); MEM_ONLINE the own timeout."""
    sub = await service.subscriber("sub", timeout_ms=30_000)
    response = await service.online(12, timeout_ms=2000)
    assert response.status_code == 200, response.text
    going, online = sub.notifications
    assert going["action"] == "MEM_GOING_ONLINE"
    assert 0 < going["timeout_ms"] <= 2000
    assert online["timeout_ms"] == 30_000


async def test_drop_while_awaited_is_disconnected_enotconn(service: Service) -> None:
    """A subscriber that drops while its reply is awaited and stays away: -ENOTCONN veto."""
    dropper = await service.subscriber("dropper", None, timeout_ms=SHORT)
    started = await start_transition(service, "online", 12)
    frame = await dropper.next_frame()
    assert frame["action"] == "MEM_GOING_ONLINE"
    await dropper.close()
    record = await wait_finished(service, started["id"])
    assert record["outcome"] == "cancelled"
    assert record["errno"] == ENOTCONN
    assert record["vetoed_by"]["subscriber"] == dropper.id
    [call] = record_walk(record, "MEM_GOING_ONLINE")["calls"]
    assert call["delivery"] == "disconnected"
    assert (await service.block(12))["state"] == "offline"
