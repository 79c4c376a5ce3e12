"""SPEC §2 offline failures: isolation, unmovable pages, abort (-EINTR), going-offline state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.support.hotplug import (
    Service,
    get_json,
    next_notify,
    running_service,
    start_transition,
    wait_finished,
    walk_names,
)
from tests.support.server import seconds, wait_for

EBUSY, EINTR = -16, -4


async def set_flags(service: Service, block: int, **flags: Any) -> None:
    """PATCH a block's simulation flags."""
    response = await service.admin.patch(f"/api/v1/memory/blocks/{block}", json=flags)
    assert response.status_code == 200, response.text
    for name, value in flags.items():
        assert response.json()[name] == value


async def abort(service: Service, transition_id: str) -> None:
    """POST the abort of a transition (accepted)."""
    response = await service.admin.post(f"/api/v1/transitions/{transition_id}/abort")
    assert response.status_code == 200, response.text


async def test_isolation_failure_is_ebusy_with_no_events(service: Service) -> None:
    """isolation_fails: 409 -EBUSY before any event; the block stays online."""
    sub = await service.subscriber("sub")
    await set_flags(service, 9, isolation_fails=True)
    response = await service.offline(9)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["errno"] == EBUSY
    assert body["errno_name"] == "EBUSY"
    assert body["transition"]["outcome"] == "failed"
    assert body["transition"]["walks"] == []
    assert body["transition"]["vetoed_by"] is None
    assert sub.notifications == []
    block = await service.block(9)
    assert block["state"] == "online"
    assert block["zone"] == "Movable"


async def test_unmovable_pages_fail_after_going_offline(service: Service) -> None:
    """unmovable_pages: GOING_OFFLINE accepted, then MEM_CANCEL_OFFLINE, failed -EBUSY."""
    first = await service.subscriber("first", priority=1)
    second = await service.subscriber("second")
    await set_flags(service, 10, unmovable_pages=True)
    response = await service.offline(10)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["errno"] == EBUSY
    record = body["transition"]
    assert record["outcome"] == "failed"
    assert record["vetoed_by"] is None
    assert [w["action"] for w in record["walks"]] == ["MEM_GOING_OFFLINE", "MEM_CANCEL_OFFLINE"]
    assert walk_names(record, "MEM_CANCEL_OFFLINE") == ["first", "second"]
    for sub in (first, second):
        assert sub.actions() == ["MEM_GOING_OFFLINE", "MEM_CANCEL_OFFLINE"]
    block = await service.block(10)
    assert block["state"] == "online"
    assert block["zone"] == "Movable"


async def test_unmovable_pages_with_notified_scope_cancels_everyone_notified(
    tmp_path: Path,
) -> None:
    """cancel_scope=notified after a failure with no vetoer: all who got GOING_* are cancelled."""
    async with running_service(tmp_path, cancel_scope="notified") as service:
        await service.subscriber("first", priority=1)
        await service.subscriber("second")
        cancel_only = await service.subscriber("cancel-only", actions=["MEM_CANCEL_OFFLINE"])
        await set_flags(service, 10, unmovable_pages=True)
        response = await service.offline(10)
        assert response.status_code == 409, response.text
        assert response.json()["errno"] == EBUSY
        assert walk_names(response.json()["transition"], "MEM_CANCEL_OFFLINE") == [
            "first",
            "second",
        ]
        assert cancel_only.notifications == []


async def test_abort_during_migration_is_eintr(service: Service) -> None:
    """An abort during migration_ms ends it at once: MEM_CANCEL_OFFLINE, failed -EINTR."""
    sub = await service.subscriber("sub")
    await set_flags(service, 11, migration_ms=600_000)
    started = await start_transition(service, "offline", 11)
    await wait_for(lambda: _going_walk_answered(service, started["id"]))
    await abort(service, started["id"])
    record = await wait_finished(service, started["id"])
    assert record["outcome"] == "failed"
    assert record["errno"] == EINTR
    assert record["errno_name"] == "EINTR"
    assert [w["action"] for w in record["walks"]] == ["MEM_GOING_OFFLINE", "MEM_CANCEL_OFFLINE"]
    assert sub.actions() == ["MEM_GOING_OFFLINE", "MEM_CANCEL_OFFLINE"]
    block = await service.block(11)
    assert block["state"] == "online"
    assert block["transition"] is None


async def test_abort_during_going_walk_waits_for_walk_end(service: Service) -> None:
    """An abort during the GOING walk does not interrupt it; it takes effect when it ends."""
    holder = await service.subscriber("holder", None, priority=1)
    later = await service.subscriber("later")
    started = await start_transition(service, "offline", 9)
    notify_id = await next_notify(holder, "MEM_GOING_OFFLINE")
    await abort(service, started["id"])
    assert later.notifications == []
    await holder.reply(notify_id)
    await holder.reply(await next_notify(holder, "MEM_CANCEL_OFFLINE"))
    record = await wait_finished(service, started["id"])
    assert record["outcome"] == "failed"
    assert record["errno"] == EINTR
    assert walk_names(record, "MEM_GOING_OFFLINE") == ["holder", "later"]
    assert walk_names(record, "MEM_CANCEL_OFFLINE") == ["holder", "later"]
    assert later.actions() == ["MEM_GOING_OFFLINE", "MEM_CANCEL_OFFLINE"]
    assert (await service.block(9))["state"] == "online"


async def test_abort_wait_true_request_gets_409(service: Service) -> None:
    """The waiting offline request answers 409 -EINTR when an abort fails it."""
    await set_flags(service, 11, migration_ms=600_000)
    request = asyncio.create_task(service.offline(11))
    await wait_for(lambda: _is_going_offline(service, 11))
    block = await service.block(11)
    await abort(service, block["transition"])
    response = await asyncio.wait_for(request, seconds(5))
    assert response.status_code == 409, response.text
    assert response.json()["errno"] == EINTR
    assert response.json()["transition"]["outcome"] == "failed"


async def _going_walk_answered(service: Service, transition_id: str) -> bool:
    record = await get_json(service, f"/api/v1/transitions/{transition_id}")
    walks = record["walks"]
    return bool(walks) and len(walks[0]["calls"]) == 1


async def _is_going_offline(service: Service, block: int) -> bool:
    return (await service.block(block))["state"] == "going-offline"


async def test_abort_of_online_or_finished_transition_is_refused(service: Service) -> None:
    """Only an offline in flight can be aborted: a finished one gives 409, unknown ids 404."""
    response = await service.offline(8)
    assert response.status_code == 200, response.text
    response = await service.admin.post(f"/api/v1/transitions/{response.json()['id']}/abort")
    assert response.status_code == 409, response.text
    response = await service.admin.post("/api/v1/transitions/tr-999999/abort")
    assert response.status_code == 404, response.text
    holder = await service.subscriber("holder", None)
    started = await start_transition(service, "online", 12)
    notify_id = await next_notify(holder, "MEM_GOING_ONLINE")
    response = await service.admin.post(f"/api/v1/transitions/{started['id']}/abort")
    assert response.status_code == 409, response.text
    await holder.reply(notify_id)
    await holder.reply(await next_notify(holder, "MEM_ONLINE"))
    assert (await wait_finished(service, started["id"]))["outcome"] == "completed"


async def test_going_offline_state_visible_while_waiting(service: Service) -> None:
    """While an offline waits on a subscriber, the block reads going-offline with its transition."""
    holder = await service.subscriber("holder", None)
    started = await start_transition(service, "offline", 8)
    notify_id = await next_notify(holder, "MEM_GOING_OFFLINE")
    block = await service.block(8)
    assert block["state"] == "going-offline"
    assert block["transition"] == started["id"]
    going = await get_json(service, "/api/v1/memory/blocks?state=going-offline")
    assert [b["id"] for b in going] == [8]
    running = await get_json(service, f"/api/v1/transitions/{started['id']}")
    assert running["outcome"] == "running"
    await holder.reply(notify_id)
    notify_id = await next_notify(holder, "MEM_OFFLINE")
    assert (await service.block(8))["state"] == "offline"
    await holder.reply(notify_id)
    record = await wait_finished(service, started["id"])
    assert record["outcome"] == "completed"
    block = await service.block(8)
    assert block["state"] == "offline"
    assert block["transition"] is None


async def test_onlining_block_stays_offline_until_commit(service: Service) -> None:
    """There is no going-online: a block being onlined reads offline until MEM_ONLINE."""
    holder = await service.subscriber("holder", None)
    started = await start_transition(service, "online", 12)
    notify_id = await next_notify(holder, "MEM_GOING_ONLINE")
    block = await service.block(12)
    assert block["state"] == "offline"
    assert block["transition"] == started["id"]
    await holder.reply(notify_id)
    notify_id = await next_notify(holder, "MEM_ONLINE")
    assert (await service.block(12))["state"] == "online"
    await holder.reply(notify_id)
    assert (await wait_finished(service, started["id"]))["outcome"] == "completed"
