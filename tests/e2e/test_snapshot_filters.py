"""SPEC §4 snapshot (chain changes wait for the next transition) and filters."""

from __future__ import annotations

from tests.support.hotplug import (
    Service,
    answer_by_action,
    chain_names,
    get_json,
    next_notify,
    record_walk,
    start_transition,
    wait_finished,
    walk_names,
)


async def test_registration_during_transition_waits_for_next(service: Service) -> None:
    """A subscriber registered mid-transition gets none of its events, only the next one's."""
    holder = await service.subscriber("holder", None, priority=0)
    started = await start_transition(service, "online", 12)
    notify_id = await next_notify(holder, "MEM_GOING_ONLINE")
    newcomer = await service.subscriber("newcomer", priority=100)
    assert await chain_names(service) == ["newcomer", "holder"]
    await holder.reply(notify_id)
    await holder.reply(await next_notify(holder, "MEM_ONLINE"))
    record = await wait_finished(service, started["id"])
    assert record["outcome"] == "completed"
    assert walk_names(record, "MEM_ONLINE") == ["holder"]
    assert newcomer.notifications == []

    second = await start_transition(service, "online", 13)
    await holder.reply(await next_notify(holder, "MEM_GOING_ONLINE"))
    await holder.reply(await next_notify(holder, "MEM_ONLINE"))
    record = await wait_finished(service, second["id"])
    assert walk_names(record, "MEM_GOING_ONLINE") == ["newcomer", "holder"]
    assert newcomer.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]


async def test_priority_change_during_transition_keeps_order(service: Service) -> None:
    """A priority change mid-transition keeps this transition's order and recorded priorities."""
    holder = await service.subscriber("holder", None, priority=10)
    other = await service.subscriber("other", priority=5)
    started = await start_transition(service, "offline", 8)
    notify_id = await next_notify(holder, "MEM_GOING_OFFLINE")
    response = await service.admin.patch(f"/api/v1/subscribers/{other.id}", json={"priority": 50})
    assert response.status_code == 200, response.text
    assert await chain_names(service) == ["other", "holder"]
    await holder.reply(notify_id)
    await holder.reply(await next_notify(holder, "MEM_OFFLINE"))
    record = await wait_finished(service, started["id"])
    assert record["outcome"] == "completed"
    for action in ("MEM_GOING_OFFLINE", "MEM_OFFLINE"):
        calls = record_walk(record, action)["calls"]
        assert [(c["name"], c["priority"]) for c in calls] == [("holder", 10), ("other", 5)]
    assert service.log == [
        ("holder", "MEM_GOING_OFFLINE", 8),
        ("other", "MEM_GOING_OFFLINE", 8),
        ("holder", "MEM_OFFLINE", 8),
        ("other", "MEM_OFFLINE", 8),
    ]

    second = await start_transition(service, "offline", 9)
    await holder.reply(await next_notify(holder, "MEM_GOING_OFFLINE"))
    await holder.reply(await next_notify(holder, "MEM_OFFLINE"))
    record = await wait_finished(service, second["id"])
    calls = record_walk(record, "MEM_GOING_OFFLINE")["calls"]
    assert [(c["name"], c["priority"]) for c in calls] == [("other", 50), ("holder", 10)]


async def test_removed_subscriber_recorded_unregistered_in_later_walk(service: Service) -> None:
    """A subscriber removed after GOING_* is skipped in the completion walk, recorded so."""
    holder = await service.subscriber("holder", None, priority=10)
    removed = await service.subscriber("removed", priority=5)
    after = await service.subscriber("after", priority=0)
    started = await start_transition(service, "online", 12)
    await holder.reply(await next_notify(holder, "MEM_GOING_ONLINE"))
    notify_id = await next_notify(holder, "MEM_ONLINE")
    response = await service.admin.delete(f"/api/v1/subscribers/{removed.id}")
    assert response.status_code == 204, response.text
    await holder.reply(notify_id)
    record = await wait_finished(service, started["id"])
    assert record["outcome"] == "completed"
    assert walk_names(record, "MEM_GOING_ONLINE") == ["holder", "removed", "after"]
    online = record_walk(record, "MEM_ONLINE")["calls"]
    assert [(c["name"], c["delivery"]) for c in online] == [
        ("holder", "replied"),
        ("removed", "unregistered"),
        ("after", "replied"),
    ]
    assert online[1]["subscriber"] == removed.id
    assert removed.actions() == ["MEM_GOING_ONLINE"]
    assert after.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]


async def test_removed_subscriber_recorded_unregistered_in_cancel(service: Service) -> None:
    """A subscriber removed while the GOING walk runs is recorded unregistered in the cancel."""
    holder = await service.subscriber("holder", None, priority=10)  # vetoes by hand
    removed = await service.subscriber("removed", priority=5)
    started = await start_transition(service, "online", 12)
    notify_id = await next_notify(holder, "MEM_GOING_ONLINE")
    await service.admin.delete(f"/api/v1/subscribers/{removed.id}")
    await holder.reply(notify_id, "NOTIFY_BAD")
    await holder.reply(await next_notify(holder, "MEM_CANCEL_ONLINE"))
    record = await wait_finished(service, started["id"])
    assert record["outcome"] == "cancelled"
    cancel = record_walk(record, "MEM_CANCEL_ONLINE")["calls"]
    assert [(c["name"], c["delivery"]) for c in cancel] == [
        ("holder", "replied"),
        ("removed", "unregistered"),
    ]
    assert removed.notifications == []


async def test_action_filter_limits_events(service: Service) -> None:
    """An actions filter: other events are not sent and not recorded as calls."""
    going_only = await service.subscriber("going-only", actions=["MEM_GOING_ONLINE"], priority=1)
    everything = await service.subscriber("everything")
    response = await service.online(12)
    assert response.status_code == 200, response.text
    record = response.json()
    assert walk_names(record, "MEM_GOING_ONLINE") == ["going-only", "everything"]
    assert walk_names(record, "MEM_ONLINE") == ["everything"]
    assert going_only.actions() == ["MEM_GOING_ONLINE"]
    assert everything.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]


async def test_node_filter_limits_events(service: Service) -> None:
    """A nodes filter: transitions on other nodes send it nothing and record no call."""
    node2 = await service.subscriber("node2", nodes=[2], priority=1)
    await service.subscriber("all")
    response = await service.online(12)
    assert response.status_code == 200, response.text
    for walk in response.json()["walks"]:
        assert [c["name"] for c in walk["calls"]] == ["all"]
    assert node2.notifications == []
    response = await service.online(20)
    assert response.status_code == 200, response.text
    assert walk_names(response.json(), "MEM_GOING_ONLINE") == ["node2", "all"]
    assert [(f["action"], f["node"]) for f in node2.notifications] == [
        ("MEM_GOING_ONLINE", 2),
        ("MEM_ONLINE", 2),
    ]


async def test_filtered_out_subscriber_is_not_the_last_callee(service: Service) -> None:
    """A filtered-out subscriber is no call: the last callee's 0x0002 still vetoes -EPERM."""
    two = await service.subscriber(
        "two", answer_by_action({"MEM_GOING_ONLINE": {"result": 2}}), priority=1
    )
    await service.subscriber("elsewhere", nodes=[2])
    response = await service.online(12)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["errno"] == -1
    assert body["vetoed_by"]["subscriber"] == two.id
    assert walk_names(body["transition"], "MEM_GOING_ONLINE") == ["two"]
    assert walk_names(body["transition"], "MEM_CANCEL_ONLINE") == ["two"]


async def test_cancel_only_filter_gets_cancel_without_going(service: Service) -> None:
    """A subscriber filtered to MEM_CANCEL_ONLINE gets the cancel although it never saw GOING."""
    await service.subscriber(
        "vetoer", answer_by_action({"MEM_GOING_ONLINE": {"result": "NOTIFY_BAD"}}), priority=1
    )
    cancel_only = await service.subscriber("cancel-only", actions=["MEM_CANCEL_ONLINE"])
    response = await service.online(12)
    assert response.status_code == 409, response.text
    assert cancel_only.actions() == ["MEM_CANCEL_ONLINE"]
    assert walk_names(response.json()["transition"], "MEM_GOING_ONLINE") == ["vetoer"]


async def test_filter_change_takes_effect_next_transition(service: Service) -> None:
    """PATCHing filters changes what the next transition sends; null filters mean all."""
    sub = await service.subscriber("sub", actions=["MEM_ONLINE"], nodes=[1])
    response = await service.admin.patch(
        f"/api/v1/subscribers/{sub.id}", json={"actions": None, "nodes": [2]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["actions"] is None
    assert response.json()["nodes"] == [2]
    await service.online(12)
    assert sub.notifications == []
    await service.online(20)
    assert sub.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    chain = await get_json(service, "/api/v1/chain")
    assert chain[0]["nodes"] == [2]


async def test_filter_change_mid_transition_keeps_completion(service: Service) -> None:
    """A subscriber that saw GOING_* gets the completion even if its filters change meanwhile."""
    watcher = await service.subscriber("watcher", priority=5)
    holder = await service.subscriber("holder", None, priority=0)
    started = await start_transition(service, "online", 12)
    notify_id = await next_notify(holder, "MEM_GOING_ONLINE")
    assert watcher.actions() == ["MEM_GOING_ONLINE"]
    response = await service.admin.patch(
        f"/api/v1/subscribers/{watcher.id}", json={"actions": ["MEM_GOING_OFFLINE"]}
    )
    assert response.status_code == 200, response.text
    await holder.reply(notify_id)
    await holder.reply(await next_notify(holder, "MEM_ONLINE"))
    record = await wait_finished(service, started["id"])
    assert walk_names(record, "MEM_ONLINE") == ["watcher", "holder"]
    assert watcher.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
