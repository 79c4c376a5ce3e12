"""SPEC §4 cancel broadcast: MEM_CANCEL_* from the top of the chain, or the notified prefix."""

from __future__ import annotations

from pathlib import Path

from tests.support.hotplug import (
    Service,
    answer_by_action,
    record_walk,
    running_service,
    walk_names,
)

BAD_ON_GOING_ONLINE = answer_by_action({"MEM_GOING_ONLINE": {"result": "NOTIFY_BAD"}})
BAD_ON_GOING_OFFLINE = answer_by_action({"MEM_GOING_OFFLINE": {"result": "NOTIFY_BAD"}})


async def test_cancel_offline_reaches_vetoer_and_those_after(service: Service) -> None:
    """MEM_CANCEL_OFFLINE goes to the whole chain, including subscribers that never saw GOING."""
    top = await service.subscriber("top", priority=3)
    vetoer = await service.subscriber("vetoer", BAD_ON_GOING_OFFLINE, priority=2)
    after = await service.subscriber("after", priority=1)
    response = await service.offline(10)
    assert response.status_code == 409, response.text
    record = response.json()["transition"]
    assert walk_names(record, "MEM_GOING_OFFLINE") == ["top", "vetoer"]
    assert walk_names(record, "MEM_CANCEL_OFFLINE") == ["top", "vetoer", "after"]
    assert top.actions() == ["MEM_GOING_OFFLINE", "MEM_CANCEL_OFFLINE"]
    assert vetoer.actions() == ["MEM_GOING_OFFLINE", "MEM_CANCEL_OFFLINE"]
    assert after.actions() == ["MEM_CANCEL_OFFLINE"]
    assert (await service.block(10))["state"] == "online"


async def test_cancel_when_first_subscriber_vetoes(service: Service) -> None:
    """When the top subscriber vetoes, everyone still gets MEM_CANCEL_ONLINE."""
    await service.subscriber("vetoer", BAD_ON_GOING_ONLINE, priority=9)
    others = [await service.subscriber(f"s{i}", priority=-i) for i in range(3)]
    response = await service.online(14)
    assert response.status_code == 409, response.text
    record = response.json()["transition"]
    assert walk_names(record, "MEM_GOING_ONLINE") == ["vetoer"]
    assert walk_names(record, "MEM_CANCEL_ONLINE") == ["vetoer", "s0", "s1", "s2"]
    for sub in others:
        assert sub.actions() == ["MEM_CANCEL_ONLINE"]


async def test_cancel_carries_the_transition_arg_and_snapshot_priorities(
    service: Service,
) -> None:
    """The cancel frames carry the same arg and block; the record shows snapshot priorities."""
    await service.subscriber("vetoer", BAD_ON_GOING_ONLINE, priority=7)
    late = await service.subscriber("late", priority=-7)
    response = await service.online(15)
    record = response.json()["transition"]
    cancel = record_walk(record, "MEM_CANCEL_ONLINE")
    assert [(c["name"], c["priority"]) for c in cancel["calls"]] == [("vetoer", 7), ("late", -7)]
    assert [c["delivery"] for c in cancel["calls"]] == ["replied", "replied"]
    frame = late.notifications[0]
    assert frame["action"] == "MEM_CANCEL_ONLINE"
    assert frame["action_value"] == 16
    assert frame["arg"] == record["arg"]
    assert frame["block"] == 15
    assert frame["node"] == 1


async def test_stop_bit_on_cancel_hides_cancel_from_lower(service: Service) -> None:
    """A stop-bit reply on MEM_CANCEL_* ends that walk; the outcome stays cancelled."""
    await service.subscriber("vetoer", BAD_ON_GOING_ONLINE, priority=5)
    await service.subscriber(
        "stopper", answer_by_action({"MEM_CANCEL_ONLINE": {"result": "NOTIFY_STOP"}}), priority=3
    )
    hidden = await service.subscriber("hidden", priority=1)
    response = await service.online(12)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["errno"] == -1
    assert body["transition"]["outcome"] == "cancelled"
    assert walk_names(body["transition"], "MEM_CANCEL_ONLINE") == ["vetoer", "stopper"]
    assert hidden.notifications == []
    assert (await service.block(12))["state"] == "offline"


async def test_cancel_scope_notified_only_reaches_those_before_vetoer(tmp_path: Path) -> None:
    """cancel_scope=notified: only those that got GOING_* and did not veto get the cancel."""
    async with running_service(tmp_path, cancel_scope="notified") as service:
        first = await service.subscriber("first", priority=10)
        second = await service.subscriber("second", priority=5)
        vetoer = await service.subscriber("vetoer", BAD_ON_GOING_ONLINE, priority=0)
        after = await service.subscriber("after", priority=-5)
        response = await service.online(12)
        assert response.status_code == 409, response.text
        record = response.json()["transition"]
        assert record["outcome"] == "cancelled"
        assert walk_names(record, "MEM_CANCEL_ONLINE") == ["first", "second"]
        assert first.actions() == ["MEM_GOING_ONLINE", "MEM_CANCEL_ONLINE"]
        assert second.actions() == ["MEM_GOING_ONLINE", "MEM_CANCEL_ONLINE"]
        assert vetoer.actions() == ["MEM_GOING_ONLINE"]
        assert after.actions() == []
        assert (await service.block(12))["state"] == "offline"


async def test_cancel_scope_notified_first_vetoer_cancels_nobody(tmp_path: Path) -> None:
    """With cancel_scope=notified, a veto by the first subscriber sends no cancel at all."""
    async with running_service(tmp_path, cancel_scope="notified") as service:
        vetoer = await service.subscriber("vetoer", BAD_ON_GOING_OFFLINE, priority=1)
        after = await service.subscriber("after", priority=0)
        response = await service.offline(11)
        assert response.status_code == 409, response.text
        record = response.json()["transition"]
        cancels = [w for w in record["walks"] if w["action"] == "MEM_CANCEL_OFFLINE"]
        assert all(walk["calls"] == [] for walk in cancels)
        assert record["outcome"] == "cancelled"
        assert vetoer.actions() == ["MEM_GOING_OFFLINE"]
        assert after.actions() == []
        assert (await service.block(11))["state"] == "online"


async def test_cancel_scope_notified_after_stop_and_unmovable(tmp_path: Path) -> None:
    """cancel_scope=notified: after NOTIFY_STOP and a later failure, only those that got GOING."""
    async with running_service(tmp_path, cancel_scope="notified") as service:
        await service.subscriber(
            "stopper",
            answer_by_action({"MEM_GOING_OFFLINE": {"result": "NOTIFY_STOP"}}),
            priority=1,
        )
        skipped = await service.subscriber("skipped")
        response = await service.admin.patch(
            "/api/v1/memory/blocks/10", json={"unmovable_pages": True}
        )
        assert response.status_code == 200, response.text
        response = await service.offline(10)
        assert response.status_code == 409, response.text
        assert response.json()["errno"] == -16
        assert walk_names(response.json()["transition"], "MEM_CANCEL_OFFLINE") == ["stopper"]
        assert skipped.notifications == []


async def test_chain_scope_after_stop_and_unmovable(service: Service) -> None:
    """Default chain scope: after NOTIFY_STOP and a later failure everyone gets the cancel."""
    await service.subscriber(
        "stopper",
        answer_by_action({"MEM_GOING_OFFLINE": {"result": "NOTIFY_STOP"}}),
        priority=1,
    )
    skipped = await service.subscriber("skipped")
    response = await service.admin.patch("/api/v1/memory/blocks/10", json={"unmovable_pages": True})
    assert response.status_code == 200, response.text
    response = await service.offline(10)
    assert response.status_code == 409, response.text
    assert walk_names(response.json()["transition"], "MEM_CANCEL_OFFLINE") == ["stopper", "skipped"]
    assert skipped.actions() == ["MEM_CANCEL_OFFLINE"]


async def test_cancel_scope_notified_skips_those_never_sent_going(tmp_path: Path) -> None:
    """cancel_scope=notified: subscribers whose GOING_* was never delivered get no cancel."""
    # "middle" times out at once (the request deadline is spent) and "absent" is not
    # connected: neither received MEM_GOING_ONLINE, so neither belongs in the cancel walk.
    async with running_service(tmp_path, cancel_scope="notified") as service:
        await service.subscriber(
            "slow",
            answer_by_action({"MEM_GOING_ONLINE": None}),
            timeout_ms=60_000,
            failure_policy="ignore",
            priority=3,
        )
        await service.subscriber("absent", connect=False, failure_policy="ignore", priority=2)
        middle = await service.subscriber("middle", failure_policy="ignore", priority=1)
        await service.subscriber("last", priority=0)
        response = await service.online(12, timeout_ms=200)
        assert response.status_code == 409, response.text
        record = response.json()["transition"]
        assert record["errno"] == -110
        assert walk_names(record, "MEM_GOING_ONLINE") == ["slow", "absent", "middle", "last"]
        assert walk_names(record, "MEM_CANCEL_ONLINE") == ["slow"]
        assert middle.notifications == []
