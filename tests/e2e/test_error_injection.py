"""SPEC §4 error injection: the built-in notifier-error-inject subscriber."""

from __future__ import annotations

from typing import Any

from tests.support.hotplug import Service, chain_names, get_json, record_walk, walk_names

INJECT = "notifier-error-inject"
PATH = "/api/v1/debug/notifier-error-inject"
ENOMEM, EBUSY = -12, -16


async def inject(
    service: Service, *, enabled: bool = True, priority: int = 0, online: int = 0, offline: int = 0
) -> dict[str, Any]:
    """PUT the module's settings; the response body."""
    body = {
        "enabled": enabled,
        "priority": priority,
        "actions": {"MEM_GOING_ONLINE": online, "MEM_GOING_OFFLINE": offline},
    }
    response = await service.admin.put(PATH, json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_injected_errno_vetoes_online(service: Service) -> None:
    """MEM_GOING_ONLINE errno -12: the online fails with exactly -ENOMEM, vetoed by the module."""
    await service.subscriber("before", priority=0)
    settings = await inject(service, online=ENOMEM)
    assert settings["enabled"] is True
    assert settings["actions"]["MEM_GOING_ONLINE"] == ENOMEM
    after = await service.subscriber("after", priority=0)
    assert await chain_names(service) == ["before", INJECT, "after"]

    response = await service.online(12)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["errno"] == ENOMEM
    assert body["errno_name"] == "ENOMEM"
    assert body["vetoed_by"]["name"] == INJECT
    record = body["transition"]
    assert record["outcome"] == "cancelled"
    going = record_walk(record, "MEM_GOING_ONLINE")["calls"]
    assert [c["name"] for c in going] == ["before", INJECT]
    assert going[1]["value"] == 0x8000 | (1 - ENOMEM)
    cancel = record_walk(record, "MEM_CANCEL_ONLINE")["calls"]
    assert [(c["name"], c["result"]) for c in cancel] == [
        ("before", "NOTIFY_OK"),
        (INJECT, "NOTIFY_OK"),
        ("after", "NOTIFY_OK"),
    ]
    assert after.actions() == ["MEM_CANCEL_ONLINE"]
    assert (await service.block(12))["state"] == "offline"


async def test_injector_in_chain_with_its_priority(service: Service) -> None:
    """/chain shows the module at its priority; a new priority re-places it; GET shows settings."""
    await service.subscriber("high", priority=10)
    await service.subscriber("low", priority=-10)
    await inject(service, priority=0, offline=EBUSY)
    assert await chain_names(service) == ["high", INJECT, "low"]
    [entry] = [e for e in await get_json(service, "/api/v1/chain") if e["name"] == INJECT]
    assert entry["priority"] == 0
    await inject(service, priority=10, offline=EBUSY)
    assert await chain_names(service) == ["high", INJECT, "low"]
    await inject(service, priority=20, offline=EBUSY)
    assert await chain_names(service) == [INJECT, "high", "low"]
    settings = await get_json(service, PATH)
    assert settings == {
        "enabled": True,
        "priority": 20,
        "actions": {"MEM_GOING_ONLINE": 0, "MEM_GOING_OFFLINE": EBUSY},
    }


async def test_injector_answers_ok_to_other_events(service: Service) -> None:
    """With an offline errno set, onlining passes: NOTIFY_OK for GOING_ONLINE and MEM_ONLINE."""
    await inject(service, offline=EBUSY)
    response = await service.online(12)
    assert response.status_code == 200, response.text
    record = response.json()
    for action in ("MEM_GOING_ONLINE", "MEM_ONLINE"):
        calls = record_walk(record, action)["calls"]
        assert [(c["name"], c["value"]) for c in calls] == [(INJECT, 1)]


async def test_injected_errno_vetoes_offline(service: Service) -> None:
    """MEM_GOING_OFFLINE errno: the offline fails with it and the block stays online."""
    watcher = await service.subscriber("watcher", priority=-1)
    await inject(service, offline=EBUSY)
    response = await service.offline(8)
    assert response.status_code == 409, response.text
    assert response.json()["errno"] == EBUSY
    assert response.json()["vetoed_by"]["name"] == INJECT
    assert walk_names(response.json()["transition"], "MEM_CANCEL_OFFLINE") == [INJECT, "watcher"]
    assert watcher.actions() == ["MEM_CANCEL_OFFLINE"]
    assert (await service.block(8))["state"] == "online"


async def test_disabling_removes_the_injector(service: Service) -> None:
    """PUT enabled=false takes the module out of /chain and out of transitions."""
    await service.subscriber("sub")
    await inject(service, online=ENOMEM)
    assert await chain_names(service) == ["sub", INJECT]
    settings = await inject(service, enabled=False)
    assert settings["enabled"] is False
    assert await chain_names(service) == ["sub"]
    response = await service.online(12)
    assert response.status_code == 200, response.text
    for walk in response.json()["walks"]:
        assert [c["name"] for c in walk["calls"]] == ["sub"]


async def test_injected_errno_out_of_range_is_rejected(service: Service) -> None:
    """An errno outside [-4095, 0] is a 422 and the settings stay as they were."""
    for errno in (-4096, 1):
        response = await service.admin.put(
            PATH, json={"enabled": True, "actions": {"MEM_GOING_ONLINE": errno}}
        )
        assert response.status_code == 422, response.text
    assert (await get_json(service, PATH))["enabled"] is False
    assert await chain_names(service) == []


async def test_injected_max_errno_vetoes_with_it(service: Service) -> None:
    """The largest errno, -4095, round-trips through notifier_from_errno unchanged."""
    await inject(service, online=-4095)
    response = await service.online(12)
    assert response.status_code == 409, response.text
    assert response.json()["errno"] == -4095


async def test_kernel_selftest_error_injection_flow(service: Service) -> None:
    """mem-on-off-test.sh steps 5-7: injected errors fail every online/offline, state kept."""
    blocks = await get_json(service, "/api/v1/memory/blocks")
    hotpluggable = [b["id"] for b in blocks if b["removable"]]
    offline = [b["id"] for b in blocks if b["removable"] and b["state"] == "offline"]
    assert offline
    # Step 5: MEM_GOING_ONLINE error = -12; every offline block's online must fail.
    await inject(service, online=ENOMEM)
    for block in offline:
        response = await service.online(block)
        assert response.status_code == 409, response.text
        assert response.json()["errno"] == ENOMEM
        assert (await service.block(block))["state"] == "offline"
    # Step 6: MEM_GOING_ONLINE error = 0; online all, expecting success.
    await inject(service, online=0)
    for block in offline:
        response = await service.online(block)
        assert response.status_code == 200, response.text
        assert (await service.block(block))["state"] == "online"
    # Step 7: MEM_GOING_OFFLINE error = -12; every online block's offline must fail.
    await inject(service, offline=ENOMEM)
    for block in hotpluggable:
        response = await service.offline(block)
        assert response.status_code == 409, response.text
        assert response.json()["errno"] == ENOMEM
        assert (await service.block(block))["state"] == "online"
    # Step 8: reset and remove the module.
    await inject(service, enabled=False)
    assert await chain_names(service) == []


async def test_changing_errno_at_same_priority_keeps_place(service: Service) -> None:
    """Re-PUTting the module at its current priority (new errno) does not move it."""
    await inject(service, online=ENOMEM)
    await service.subscriber("later")
    await inject(service, online=EBUSY)
    assert await chain_names(service) == [INJECT, "later"]
    response = await service.online(12)
    assert response.status_code == 409, response.text
    assert response.json()["errno"] == EBUSY
