"""SPEC §4 veto: the walk's result is the last callee's value; only GOING_* can veto."""

from __future__ import annotations

from typing import Any

from tests.support.hotplug import Service, answer_by_action, record_walk, walk_names

EPERM, ENOMEM, EBUSY = -1, -12, -16
BAD_ON_GOING_ONLINE = answer_by_action({"MEM_GOING_ONLINE": {"result": "NOTIFY_BAD"}})


def assert_problem(response: Any, status: int, errno: int, errno_name: str) -> dict[str, Any]:
    """A problem-details response with the errno; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["errno"] == errno
    assert body["errno_name"] == errno_name
    for key in ("type", "title", "detail"):
        assert body[key]
    return body


async def test_notify_bad_vetoes_online_with_eperm(service: Service) -> None:
    """NOTIFY_BAD on MEM_GOING_ONLINE: 409 -EPERM naming the vetoer, block stays offline."""
    await service.subscriber("first", priority=10)
    vetoer = await service.subscriber("vetoer", BAD_ON_GOING_ONLINE, priority=5)
    await service.subscriber("after", priority=0)
    body = assert_problem(await service.online(12), 409, EPERM, "EPERM")
    assert body["vetoed_by"]["subscriber"] == vetoer.id
    assert body["vetoed_by"]["name"] == "vetoer"
    assert body["vetoed_by"]["errno"] == EPERM
    record = body["transition"]
    assert record["outcome"] == "cancelled"
    assert record["errno"] == EPERM
    assert record["errno_name"] == "EPERM"
    assert record["vetoed_by"]["subscriber"] == vetoer.id
    assert walk_names(record, "MEM_GOING_ONLINE") == ["first", "vetoer"]
    going = record_walk(record, "MEM_GOING_ONLINE")
    assert going["calls"][1]["result"] == "NOTIFY_BAD"
    assert going["calls"][1]["value"] == 0x8002
    assert going["stopped_by"] == 1
    block = await service.block(12)
    assert block["state"] == "offline"
    assert block["zone"] is None
    assert block["transition"] is None


async def test_errno_reply_vetoes_with_that_errno(service: Service) -> None:
    """A reply carrying errno -12 vetoes with -ENOMEM, value notifier_from_errno(-12)."""
    await service.subscriber("ok", priority=1)
    vetoer = await service.subscriber(
        "oom",
        answer_by_action({"MEM_GOING_ONLINE": {"result": "NOTIFY_BAD", "errno": ENOMEM}}),
        priority=0,
    )
    body = assert_problem(await service.online(13), 409, ENOMEM, "ENOMEM")
    assert body["vetoed_by"]["subscriber"] == vetoer.id
    assert body["vetoed_by"]["errno"] == ENOMEM
    call = record_walk(body["transition"], "MEM_GOING_ONLINE")["calls"][1]
    assert call["value"] == 0x8000 | (1 - ENOMEM)
    assert call["errno"] == ENOMEM
    assert body["transition"]["outcome"] == "cancelled"
    assert (await service.block(13))["state"] == "offline"


async def test_veto_offline_keeps_block_online(service: Service) -> None:
    """An errno veto on MEM_GOING_OFFLINE: 409 with that errno, block back online in its zone."""
    vetoer = await service.subscriber(
        "busy",
        answer_by_action({"MEM_GOING_OFFLINE": {"result": "NOTIFY_BAD", "errno": EBUSY}}),
    )
    body = assert_problem(await service.offline(8), 409, EBUSY, "EBUSY")
    assert body["vetoed_by"]["subscriber"] == vetoer.id
    assert [w["action"] for w in body["transition"]["walks"]] == [
        "MEM_GOING_OFFLINE",
        "MEM_CANCEL_OFFLINE",
    ]
    block = await service.block(8)
    assert block["state"] == "online"
    assert block["zone"] == "Movable"
    assert block["transition"] is None
    assert vetoer.actions() == ["MEM_GOING_OFFLINE", "MEM_CANCEL_OFFLINE"]


async def test_veto_broadcasts_cancel_to_whole_chain(service: Service) -> None:
    """MEM_CANCEL_ONLINE goes to everyone from the top: vetoer and never-notified ones too."""
    await service.subscriber("top", priority=10)
    await service.subscriber("vetoer", BAD_ON_GOING_ONLINE, priority=5)
    await service.subscriber("low1", priority=0)
    await service.subscriber("low2", priority=-5)
    response = await service.online(12)
    assert response.status_code == 409, response.text
    record = response.json()["transition"]
    assert [w["action"] for w in record["walks"]] == ["MEM_GOING_ONLINE", "MEM_CANCEL_ONLINE"]
    everyone = ["top", "vetoer", "low1", "low2"]
    assert walk_names(record, "MEM_CANCEL_ONLINE") == everyone
    assert service.log == [
        ("top", "MEM_GOING_ONLINE", 12),
        ("vetoer", "MEM_GOING_ONLINE", 12),
        *[(name, "MEM_CANCEL_ONLINE", 12) for name in everyone],
    ]


async def test_notify_stop_on_going_stops_without_veto(service: Service) -> None:
    """NOTIFY_STOP on GOING_* stops the walk, the online completes, skipped ones get MEM_ONLINE."""
    stopper = await service.subscriber(
        "stopper", answer_by_action({"MEM_GOING_ONLINE": {"result": "NOTIFY_STOP"}}), priority=5
    )
    await service.subscriber("skipped", priority=0)
    response = await service.online(12)
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["outcome"] == "completed"
    assert record["errno"] is None
    assert record["vetoed_by"] is None
    going = record_walk(record, "MEM_GOING_ONLINE")
    assert [c["name"] for c in going["calls"]] == ["stopper"]
    assert going["stopped_by"] == 0
    assert going["stopped_by_subscriber"] == stopper.id
    assert going["value"] == 0x8001
    assert walk_names(record, "MEM_ONLINE") == ["stopper", "skipped"]
    assert service.log == [
        ("stopper", "MEM_GOING_ONLINE", 12),
        ("stopper", "MEM_ONLINE", 12),
        ("skipped", "MEM_ONLINE", 12),
    ]
    assert (await service.block(12))["state"] == "online"


async def test_notify_bad_on_mem_online_hides_event_only(service: Service) -> None:
    """NOTIFY_BAD on MEM_ONLINE changes nothing but hides the event from lower priorities."""
    bad = await service.subscriber(
        "bad", answer_by_action({"MEM_ONLINE": {"result": "NOTIFY_BAD"}}), priority=5
    )
    hidden = await service.subscriber("hidden", priority=0)
    response = await service.online(12)
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["outcome"] == "completed"
    assert record["errno"] is None
    online = record_walk(record, "MEM_ONLINE")
    assert [c["name"] for c in online["calls"]] == ["bad"]
    assert online["stopped_by_subscriber"] == bad.id
    assert hidden.actions() == ["MEM_GOING_ONLINE"]
    assert (await service.block(12))["state"] == "online"


async def test_notify_bad_on_mem_offline_hides_event_only(service: Service) -> None:
    """NOTIFY_BAD on MEM_OFFLINE does not undo the offline; lower priorities miss the event."""
    await service.subscriber(
        "bad", answer_by_action({"MEM_OFFLINE": {"result": "NOTIFY_BAD"}}), priority=5
    )
    hidden = await service.subscriber("hidden", priority=0)
    response = await service.offline(9)
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["outcome"] == "completed"
    assert walk_names(record, "MEM_OFFLINE") == ["bad"]
    assert hidden.actions() == ["MEM_GOING_OFFLINE"]
    assert (await service.block(9))["state"] == "offline"


async def test_raw_two_from_last_subscriber_vetoes_eperm(service: Service) -> None:
    """A raw 0x0002 (no stop bit) from the last subscriber is the walk result: -EPERM veto."""
    await service.subscriber("ok", priority=1)
    last = await service.subscriber(
        "last", answer_by_action({"MEM_GOING_ONLINE": {"result": 2}}), priority=0
    )
    body = assert_problem(await service.online(12), 409, EPERM, "EPERM")
    assert body["vetoed_by"]["subscriber"] == last.id
    going = record_walk(body["transition"], "MEM_GOING_ONLINE")
    assert [c["name"] for c in going["calls"]] == ["ok", "last"]
    assert going["value"] == 2
    assert going["stopped_by"] is None
    assert (await service.block(12))["state"] == "offline"


async def test_raw_two_not_last_does_not_veto(service: Service) -> None:
    """The result is the last callee's value, not an aggregate: 0x0002 early then OK completes."""
    await service.subscriber(
        "two", answer_by_action({"MEM_GOING_ONLINE": {"result": 2}}), priority=1
    )
    await service.subscriber("ok", priority=0)
    response = await service.online(12)
    assert response.status_code == 200, response.text
    going = record_walk(response.json(), "MEM_GOING_ONLINE")
    assert [c["name"] for c in going["calls"]] == ["two", "ok"]
    assert going["value"] == 1
    assert going["stopped_by"] is None


async def test_raw_negative_value_stops_without_veto(service: Service) -> None:
    """A raw negative integer has the stop bit set: it stops the walk but maps to errno 0."""
    stopper = await service.subscriber(
        "negative", answer_by_action({"MEM_GOING_ONLINE": {"result": -12}}), priority=1
    )
    await service.subscriber("skipped", priority=0)
    response = await service.online(12)
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["outcome"] == "completed"
    going = record_walk(record, "MEM_GOING_ONLINE")
    assert [c["name"] for c in going["calls"]] == ["negative"]
    assert going["calls"][0]["value"] == -12
    assert going["stopped_by"] == 0
    assert going["stopped_by_subscriber"] == stopper.id
    assert walk_names(record, "MEM_ONLINE") == ["negative", "skipped"]


async def test_veto_message_is_recorded(service: Service) -> None:
    """The vetoer's message shows in vetoed_by and in its call."""
    await service.subscriber(
        "cache",
        answer_by_action(
            {"MEM_GOING_OFFLINE": {"result": "NOTIFY_BAD", "message": "pinned pages"}}
        ),
    )
    body = assert_problem(await service.offline(8), 409, EPERM, "EPERM")
    assert body["vetoed_by"]["message"] == "pinned pages"
    call = record_walk(body["transition"], "MEM_GOING_OFFLINE")["calls"][0]
    assert call["message"] == "pinned pages"


async def test_errno_overrides_result_name(service: Service) -> None:
    """A reply with an errno is notifier_from_errno(errno) even if its result says NOTIFY_OK."""
    await service.subscriber(
        "busy",
        answer_by_action({"MEM_GOING_ONLINE": {"result": "NOTIFY_OK", "errno": EBUSY}}),
    )
    assert_problem(await service.online(12), 409, EBUSY, "EBUSY")
    assert (await service.block(12))["state"] == "offline"


async def test_raw_stop_mask_alone_stops_without_veto(service: Service) -> None:
    """A raw 0x8000 stops the walk (stop bit) but carries no errno: the online completes."""
    await service.subscriber(
        "mask", answer_by_action({"MEM_GOING_ONLINE": {"result": 0x8000}}), priority=1
    )
    skipped = await service.subscriber("skipped")
    response = await service.online(12)
    assert response.status_code == 200, response.text
    assert walk_names(response.json(), "MEM_GOING_ONLINE") == ["mask"]
    assert skipped.actions() == ["MEM_ONLINE"]


async def test_raw_three_from_last_vetoes_enoent(service: Service) -> None:
    """A raw 3 from the last subscriber maps to errno 1-3 = -ENOENT and vetoes."""
    await service.subscriber("three", answer_by_action({"MEM_GOING_OFFLINE": {"result": 3}}))
    assert_problem(await service.offline(8), 409, -2, "ENOENT")
    assert (await service.block(8))["state"] == "online"


async def test_notify_stop_on_going_offline_completes(service: Service) -> None:
    """NOTIFY_STOP on MEM_GOING_OFFLINE: no veto, the offline completes, all get MEM_OFFLINE."""
    await service.subscriber(
        "stopper", answer_by_action({"MEM_GOING_OFFLINE": {"result": "NOTIFY_STOP"}}), priority=1
    )
    skipped = await service.subscriber("skipped")
    response = await service.offline(8)
    assert response.status_code == 200, response.text
    assert walk_names(response.json(), "MEM_GOING_OFFLINE") == ["stopper"]
    assert walk_names(response.json(), "MEM_OFFLINE") == ["stopper", "skipped"]
    assert skipped.actions() == ["MEM_OFFLINE"]
    assert (await service.block(8))["state"] == "offline"
