"""SPEC §4 order: higher priority first, FIFO among equals, re-registration on a change."""

from __future__ import annotations

from tests.support.hotplug import (
    Service,
    chain_names,
    get_json,
    record_walk,
    walk_names,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


async def test_ties_run_in_registration_order(service: Service) -> None:
    """Higher priority first; equal priorities are called in registration order."""
    for name, priority in [("a0", 0), ("b5", 5), ("c0", 0), ("d5", 5), ("e0", 0)]:
        await service.subscriber(name, priority=priority)
    expected = ["b5", "d5", "a0", "c0", "e0"]
    assert await chain_names(service) == expected
    response = await service.online(12)
    assert response.status_code == 200, response.text
    record = response.json()
    assert walk_names(record, "MEM_GOING_ONLINE") == expected
    assert walk_names(record, "MEM_ONLINE") == expected
    assert [c["priority"] for c in record_walk(record, "MEM_GOING_ONLINE")["calls"]] == [
        5, 5, 0, 0, 0,
    ]  # fmt: skip
    assert service.log == [(n, "MEM_GOING_ONLINE", 12) for n in expected] + [
        (n, "MEM_ONLINE", 12) for n in expected
    ]


async def test_negative_and_extreme_priorities(service: Service) -> None:
    """Negative priorities run after the default 0; the full 32-bit range orders correctly."""
    await service.subscriber("minus1", priority=-1)
    await service.subscriber("min", priority=INT32_MIN)
    await service.subscriber("zero")
    await service.subscriber("max", priority=INT32_MAX)
    await service.subscriber("minus100", priority=-100)
    await service.subscriber("minus1-later", priority=-1)
    expected = ["max", "zero", "minus1", "minus1-later", "minus100", "min"]
    chain = await get_json(service, "/api/v1/chain")
    assert [(e["name"], e["priority"]) for e in chain] == [
        ("max", INT32_MAX),
        ("zero", 0),  # the default priority
        ("minus1", -1),
        ("minus1-later", -1),
        ("minus100", -100),
        ("min", INT32_MIN),
    ]
    response = await service.offline(8)
    assert response.status_code == 200, response.text
    assert walk_names(response.json(), "MEM_GOING_OFFLINE") == expected
    assert walk_names(response.json(), "MEM_OFFLINE") == expected


async def test_priority_out_of_int32_range_is_rejected(service: Service) -> None:
    """A priority outside the 32-bit signed range is a 422 and nothing is registered."""
    for priority in (INT32_MAX + 1, INT32_MIN - 1):
        response = await service.admin.post(
            "/api/v1/subscribers", json={"name": "big", "priority": priority}
        )
        assert response.status_code == 422, response.text
    assert await chain_names(service) == []


async def test_priority_change_lands_after_existing_equals(service: Service) -> None:
    """A new priority re-registers the subscriber after those already at that priority."""
    first = await service.subscriber("first", priority=5)
    await service.subscriber("second", priority=5)
    third = await service.subscriber("third", priority=0)
    assert await chain_names(service) == ["first", "second", "third"]

    response = await service.admin.patch(f"/api/v1/subscribers/{third.id}", json={"priority": 5})
    assert response.status_code == 200, response.text
    assert response.json()["priority"] == 5
    assert await chain_names(service) == ["first", "second", "third"]

    response = await service.admin.patch(f"/api/v1/subscribers/{first.id}", json={"priority": 0})
    assert response.status_code == 200, response.text
    response = await service.admin.patch(f"/api/v1/subscribers/{first.id}", json={"priority": 5})
    assert response.status_code == 200, response.text
    assert await chain_names(service) == ["second", "third", "first"]

    response = await service.online(12)
    assert response.status_code == 200, response.text
    assert walk_names(response.json(), "MEM_GOING_ONLINE") == ["second", "third", "first"]


async def test_setting_the_same_priority_changes_nothing(service: Service) -> None:
    """PATCHing the priority a subscriber already has keeps its place among equals."""
    first = await service.subscriber("first", priority=3)
    await service.subscriber("second", priority=3)
    await service.subscriber("third", priority=3)
    before = await get_json(service, "/api/v1/chain")
    response = await service.admin.patch(f"/api/v1/subscribers/{first.id}", json={"priority": 3})
    assert response.status_code == 200, response.text
    assert await get_json(service, "/api/v1/chain") == before
    assert await chain_names(service) == ["first", "second", "third"]
    response = await service.online(12)
    assert walk_names(response.json(), "MEM_GOING_ONLINE") == ["first", "second", "third"]


async def test_priority_change_to_higher_moves_to_front(service: Service) -> None:
    """Raising the priority moves a subscriber ahead; lowering moves it behind."""
    await service.subscriber("a", priority=10)
    b = await service.subscriber("b", priority=0)
    c = await service.subscriber("c", priority=-10)
    await service.admin.patch(f"/api/v1/subscribers/{c.id}", json={"priority": 11})
    await service.admin.patch(f"/api/v1/subscribers/{b.id}", json={"priority": -11})
    chain = await get_json(service, "/api/v1/chain")
    assert [(e["name"], e["priority"]) for e in chain] == [("c", 11), ("a", 10), ("b", -11)]
    response = await service.online(12)
    assert walk_names(response.json(), "MEM_GOING_ONLINE") == ["c", "a", "b"]


async def test_empty_chain_walks_return_notify_done(service: Service) -> None:
    """With no subscribers every walk is empty, its result NOTIFY_DONE, the online completes."""
    response = await service.online(12)
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["outcome"] == "completed"
    assert [w["action"] for w in record["walks"]] == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    for walk in record["walks"]:
        assert walk["calls"] == []
        assert walk["value"] == 0
        assert walk["result"] == "NOTIFY_DONE"
    assert (await service.block(12))["state"] == "online"


async def test_unregistered_subscriber_leaves_the_chain(service: Service) -> None:
    """DELETE removes a subscriber from /chain and from the next transition."""
    await service.subscriber("stays", priority=1)
    gone = await service.subscriber("gone", priority=2)
    response = await service.admin.delete(f"/api/v1/subscribers/{gone.id}")
    assert response.status_code == 204, response.text
    assert await chain_names(service) == ["stays"]
    response = await service.online(12)
    assert walk_names(response.json(), "MEM_GOING_ONLINE") == ["stays"]
    assert gone.notifications == []


async def test_changing_other_fields_keeps_place(service: Service) -> None:
    """PATCHing filters, timeout or policy (not priority) keeps the place among equals."""
    first = await service.subscriber("first")
    await service.subscriber("second")
    response = await service.admin.patch(
        f"/api/v1/subscribers/{first.id}",
        json={"timeout_ms": 1000, "failure_policy": "ignore", "actions": None, "nodes": [1]},
    )
    assert response.status_code == 200, response.text
    assert await chain_names(service) == ["first", "second"]
