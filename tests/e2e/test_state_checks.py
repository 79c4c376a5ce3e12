"""SPEC §2 request checks: already in state, unknown block, 202, serialised FIFO queue."""

from __future__ import annotations

from pathlib import Path

from tests.support.hotplug import (
    Service,
    get_json,
    next_notify,
    running_service,
    start_transition,
    wait_finished,
)

EINVAL = -22


async def test_online_of_online_block_is_einval_without_events(service: Service) -> None:
    """Onlining an online block fails like a sysfs state write: 409 -EINVAL, no events."""
    sub = await service.subscriber("sub")
    response = await service.online(8)
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["errno"] == EINVAL
    assert body["errno_name"] == "EINVAL"
    assert body["transition"]["walks"] == []
    assert sub.notifications == []
    assert (await service.block(8))["zone"] == "Movable"


async def test_offline_of_offline_block_is_einval_without_events(service: Service) -> None:
    """Offlining an offline block: 409 -EINVAL and no events."""
    sub = await service.subscriber("sub")
    response = await service.offline(12)
    assert response.status_code == 409, response.text
    assert response.json()["errno"] == EINVAL
    assert sub.notifications == []
    assert (await service.block(12))["state"] == "offline"


async def test_unknown_block_is_404(service: Service) -> None:
    """Online, offline or GET of a block that does not exist is a 404 problem."""
    for response in (
        await service.online(4242),
        await service.offline(4242),
        await service.admin.get("/api/v1/memory/blocks/4242"),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_bad_online_type_is_422(service: Service) -> None:
    """An unknown online_type is a 422 and starts nothing."""
    sub = await service.subscriber("sub")
    response = await service.online(12, online_type="online_dma")
    assert response.status_code == 422, response.text
    assert sub.notifications == []


async def test_wait_false_returns_202_with_location(service: Service) -> None:
    """?wait=false answers 202 with a Location to the transition, which then completes."""
    response = await service.admin.post(
        "/api/v1/memory/blocks/12/online?wait=false", json={"online_type": "online"}
    )
    assert response.status_code == 202, response.text
    record = response.json()
    location = response.headers["location"]
    assert location.endswith(f"/api/v1/transitions/{record['id']}")
    assert record["operation"] == "online"
    assert record["block"] == 12
    assert record["outcome"] in ("pending", "running", "completed")
    final = await wait_finished(service, record["id"])
    assert final["outcome"] == "completed"
    assert (await get_json(service, location))["outcome"] == "completed"


async def test_request_checked_when_its_turn_comes(service: Service) -> None:
    """Two queued onlines of one block: the second is checked after the first, -EINVAL."""
    holder = await service.subscriber("holder", None)
    first = await start_transition(service, "online", 12)
    notify_id = await next_notify(holder, "MEM_GOING_ONLINE")
    second = await start_transition(service, "online", 12)
    assert (await get_json(service, f"/api/v1/transitions/{second['id']}"))["outcome"] == "pending"
    await holder.reply(notify_id)
    await holder.reply(await next_notify(holder, "MEM_ONLINE"))
    assert (await wait_finished(service, first["id"]))["outcome"] == "completed"
    record = await wait_finished(service, second["id"])
    assert record["outcome"] == "failed"
    assert record["errno"] == EINVAL
    assert record["walks"] == []
    assert holder.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]


async def test_transitions_are_serialised_in_fifo_order(service: Service) -> None:
    """One transition at a time: queued ones start in order after the running one ends."""
    holder = await service.subscriber("holder", None)
    first = await start_transition(service, "online", 12)
    notify_id = await next_notify(holder, "MEM_GOING_ONLINE")
    second = await start_transition(service, "offline", 8)
    third = await start_transition(service, "online", 20)
    await holder.reply(notify_id)
    await holder.reply(await next_notify(holder, "MEM_ONLINE"))
    for action in ("MEM_GOING_OFFLINE", "MEM_OFFLINE", "MEM_GOING_ONLINE", "MEM_ONLINE"):
        await holder.reply(await next_notify(holder, action))
    for started in (first, second, third):
        assert (await wait_finished(service, started["id"]))["outcome"] == "completed"
    assert [(action, block) for _, action, block in service.log] == [
        ("MEM_GOING_ONLINE", 12),
        ("MEM_ONLINE", 12),
        ("MEM_GOING_OFFLINE", 8),
        ("MEM_OFFLINE", 8),
        ("MEM_GOING_ONLINE", 20),
        ("MEM_ONLINE", 20),
    ]


async def test_full_queue_is_503(tmp_path: Path) -> None:
    """When the bounded queue is full a new request gets 503."""
    async with running_service(tmp_path, max_queue=1) as service:
        holder = await service.subscriber("holder", None)
        await start_transition(service, "online", 12)
        notify_id = await next_notify(holder, "MEM_GOING_ONLINE")
        queued = await start_transition(service, "online", 13)
        response = await service.admin.post(
            "/api/v1/memory/blocks/14/online?wait=false", json={"online_type": "online"}
        )
        assert response.status_code == 503, response.text
        await holder.reply(notify_id)
        await holder.reply(await next_notify(holder, "MEM_ONLINE"))
        await holder.reply(await next_notify(holder, "MEM_GOING_ONLINE"))
        await holder.reply(await next_notify(holder, "MEM_ONLINE"))
        assert (await wait_finished(service, queued["id"]))["outcome"] == "completed"
        assert (await service.block(14))["state"] == "offline"
