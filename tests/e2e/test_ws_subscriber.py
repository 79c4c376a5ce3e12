"""SPEC §6 through the full service: the subscriber websocket, with real websockets clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.hotplug import ADMIN_TOKEN, VIEWER_TOKEN, ScriptedSubscriber, Service
from tests.support.server import seconds, wait_for
from tests.support.ws import refused_status

ACTION_VALUES = {
    "MEM_ONLINE": 1,
    "MEM_GOING_OFFLINE": 2,
    "MEM_OFFLINE": 4,
    "MEM_GOING_ONLINE": 8,
    "MEM_CANCEL_ONLINE": 16,
    "MEM_CANCEL_OFFLINE": 32,
}
NOTIFY_FIELDS = {"type", "id", "transition", "action", "action_value", "arg", "block", "node"}


async def ended(sub: ScriptedSubscriber, timeout: float = 5) -> int | None:
    """Wait until the server closed the subscriber's connection; the close code."""
    assert sub._task is not None
    await asyncio.wait_for(asyncio.shield(sub._task), seconds(timeout))
    return sub.close_code


async def frames_until(sub: ScriptedSubscriber, count: int) -> list[dict[str, Any]]:
    """The next ``count`` unanswered frames of a manual subscriber."""
    return [await sub.next_frame() for _ in range(count)]


async def test_missing_or_bad_token_refuses_the_handshake(service: Service) -> None:
    """No token, an unknown token, another subscriber's, the admin's or viewer's: refused."""
    mine = await service.register("mine")
    other = await service.register("other")
    url = mine["ws_url"]
    assert await refused_status(url) == 401
    assert await refused_status(url, {"Authorization": "Bearer nope-nope-nope-nope"}) == 401
    for token in (other["token"], ADMIN_TOKEN, VIEWER_TOKEN):
        status = await refused_status(url, {"Authorization": f"Bearer {token}"})
        assert status in (401, 403), status
    assert await refused_status(f"{url}?access_token=wrong-wrong-wrong") == 401
    unknown = url.replace(mine["id"], "sub-ffffffffffff")
    status = await refused_status(unknown, {"Authorization": f"Bearer {mine['token']}"})
    assert status in (401, 403, 404)
    read = (await service.viewer.get(f"/api/v1/subscribers/{mine['id']}")).json()
    assert read["connected"] is False


async def test_refused_peer_gets_no_notification(service: Service) -> None:
    """A refused subscriber is not connected: the chain counts it absent and sends it nothing."""
    info = await service.register("shut-out", failure_policy="ignore")
    assert await refused_status(info["ws_url"]) == 401
    response = await service.online(12)
    assert response.status_code == 200
    calls = [c for w in response.json()["walks"] for c in w["calls"]]
    assert {c["delivery"] for c in calls} == {"disconnected"}


async def test_access_token_query_parameter_is_accepted(service: Service) -> None:
    """?access_token= works where a browser cannot set headers."""
    info = await service.register("browser")
    async with connect(
        f"{info['ws_url']}?access_token={info['token']}", open_timeout=seconds(5)
    ) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), seconds(5)))
        assert hello["type"] == "hello"


async def test_hello_comes_first(service: Service) -> None:
    """The first frame is hello with protocol 1 and the subscriber's public form."""
    sub = await service.subscriber("greeted", priority=3)
    assert sub.hello is not None
    assert sub.hello["type"] == "hello"
    assert sub.hello["protocol"] == 1
    assert sub.hello["subscriber"]["id"] == sub.id
    assert sub.hello["subscriber"]["name"] == "greeted"
    assert "token" not in sub.hello["subscriber"]


async def test_notify_frames_carry_every_field_and_the_bit_values(service: Service) -> None:
    """Every action arrives with the SPEC's bit value, arg, block, node, timeout; ids increase."""
    observer = await service.subscriber("observer", priority=10, timeout_ms=4000)
    vetoing = {"on": False}
    await service.subscriber(
        "vetoer",
        answer=lambda f: (
            {"result": "NOTIFY_BAD"}
            if vetoing["on"] and f["action"].startswith("MEM_GOING")
            else {"result": "NOTIFY_OK"}
        ),
    )
    records = [(await service.online(12)).json(), (await service.offline(12)).json()]
    vetoing["on"] = True
    records.append((await service.online(13)).json()["transition"])
    records.append((await service.offline(9)).json()["transition"])
    assert [r["outcome"] for r in records] == ["completed", "completed", "cancelled", "cancelled"]
    frames = observer.notifications
    assert [f["action"] for f in frames] == [
        "MEM_GOING_ONLINE",
        "MEM_ONLINE",
        "MEM_GOING_OFFLINE",
        "MEM_OFFLINE",
        "MEM_GOING_ONLINE",
        "MEM_CANCEL_ONLINE",
        "MEM_GOING_OFFLINE",
        "MEM_CANCEL_OFFLINE",
    ]
    for frame, record in zip(frames, [r for r in records for _ in range(2)], strict=True):
        assert set(frame) >= NOTIFY_FIELDS
        assert frame["type"] == "notify"
        assert frame["action_value"] == ACTION_VALUES[frame["action"]]
        assert frame["transition"] == record["id"]
        assert frame["arg"] == record["arg"]
        assert (frame["block"], frame["node"]) == (record["block"], record["node"])
        assert isinstance(frame["timeout_ms"], int)
        assert 0 < frame["timeout_ms"] <= 4000
    ids = [f["id"] for f in frames]
    assert all(isinstance(i, int) for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


async def test_ids_increase_across_subscribers(service: Service) -> None:
    """Notification ids increase across the whole service, not per subscriber."""
    a = await service.subscriber("a", priority=1)
    b = await service.subscriber("b", priority=0)
    assert (await service.online(12)).status_code == 200
    ordered = [a.notifications[0], b.notifications[0], a.notifications[1], b.notifications[1]]
    ids = [f["id"] for f in ordered]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4


async def test_reply_by_name_int_errno_and_message(service: Service) -> None:
    """Replies by name, by integer, and with errno + message are used as the SPEC says."""
    sub = await service.subscriber("manual", answer=None)

    async def transition(block: int, operation: str) -> asyncio.Task[Any]:
        path = f"/api/v1/memory/blocks/{block}/{operation}"
        return asyncio.create_task(service.admin.post(path, json={}))

    # by integer: NOTIFY_OK is 1
    task = await transition(12, "online")
    await sub.reply((await sub.next_frame())["id"], 1)
    await sub.reply((await sub.next_frame())["id"], "NOTIFY_DONE")
    record = (await task).json()
    assert record["outcome"] == "completed"
    going, online = record["walks"]
    assert (going["calls"][0]["result"], going["calls"][0]["value"]) == ("NOTIFY_OK", 1)
    assert (online["calls"][0]["result"], online["calls"][0]["value"]) == ("NOTIFY_DONE", 0)

    # with errno and message: a veto with that errno, the message in the record
    task = await transition(13, "online")
    await sub.reply((await sub.next_frame())["id"], errno=-16, message="pinned pages")
    cancel = await sub.next_frame()
    assert cancel["action"] == "MEM_CANCEL_ONLINE"
    await sub.reply(cancel["id"], "NOTIFY_OK")
    body = (await task).json()
    assert (body["errno"], body["errno_name"]) == (-16, "EBUSY")
    call = body["transition"]["walks"][0]["calls"][0]
    assert call["value"] == 0x8000 | 17
    assert (call["errno"], call["message"]) == (-16, "pinned pages")
    assert body["transition"]["vetoed_by"]["message"] == "pinned pages"

    # an integer carrying an errno vetoes with that errno (-ENOMEM)
    task = await transition(14, "online")
    await sub.reply((await sub.next_frame())["id"], 0x8000 | 13)
    await sub.reply((await sub.next_frame())["id"])
    body = (await task).json()
    assert (body["errno"], body["errno_name"]) == (-12, "ENOMEM")

    # NOTIFY_STOP by name stops the walk but does not veto
    task = await transition(15, "online")
    await sub.reply((await sub.next_frame())["id"], "NOTIFY_STOP")
    await sub.reply((await sub.next_frame())["id"])
    record = (await task).json()
    assert record["outcome"] == "completed"
    assert record["walks"][0]["calls"][0]["result"] == "NOTIFY_STOP"


async def test_error_frames_and_the_connection_stays_open(service: Service) -> None:
    """Unknown ids, duplicates, malformed JSON, wrong types, unknown types: error frames only."""
    sub = await service.subscriber("clumsy", answer=None)
    bad: list[tuple[dict[str, Any] | str, int | None]] = [
        ({"type": "reply", "id": 123456789, "result": "NOTIFY_OK"}, 123456789),
        ("{not json", None),
        ("[1, 2, 3]", None),
        ({"type": "reply", "id": "7", "result": "NOTIFY_OK"}, None),
        ({"type": "reply", "id": 77, "result": "NOTIFY_MAYBE"}, 77),
        ({"type": "reply", "id": 78, "result": [1]}, 78),
        ({"type": "reply", "id": 79, "result": "NOTIFY_OK", "errno": 5}, 79),
        ({"type": "reply", "id": 80, "result": "NOTIFY_OK", "message": 5}, 80),
        ({"type": "subscribe", "id": 81}, 81),
        ({"id": 82, "result": "NOTIFY_OK"}, 82),
    ]
    for frame, expected_id in bad:
        await sub.send(frame)
        error = await sub.next_frame()
        assert error["type"] == "error", (frame, error)
        assert error["id"] == expected_id, (frame, error)
        assert isinstance(error["message"], str)
        assert error["message"]
    # the connection is still open and still works
    task = asyncio.create_task(service.online(12))
    frame = await sub.next_frame()
    await sub.reply(frame["id"])
    await sub.reply(frame["id"])  # already answered
    seen = await frames_until(sub, 2)
    errors = [f for f in seen if f["type"] == "error"]
    notifies = [f for f in seen if f["type"] == "notify"]
    assert [e["id"] for e in errors] == [frame["id"]]
    assert [n["action"] for n in notifies] == ["MEM_ONLINE"]
    await sub.reply(notifies[0]["id"])
    assert (await task).status_code == 200
    assert sub.close_code is None


async def test_bad_reply_for_the_pending_id_keeps_it_pending(service: Service) -> None:
    """An unusable reply to the pending notification gets an error; a good one still counts."""
    sub = await service.subscriber("second-try", answer=None)
    task = asyncio.create_task(service.online(12))
    frame = await sub.next_frame()
    await sub.reply(frame["id"], "NOTIFY_PERHAPS")
    error = await sub.next_frame()
    assert (error["type"], error["id"]) == ("error", frame["id"])
    await sub.reply(frame["id"], message="m" * 1025)  # message over 1 KiB
    error = await sub.next_frame()
    assert (error["type"], error["id"]) == ("error", frame["id"])
    await sub.reply(frame["id"], "NOTIFY_OK", message="m" * 1024)
    online = await sub.next_frame()
    assert online["action"] == "MEM_ONLINE"
    await sub.reply(online["id"])
    record = (await task).json()
    assert record["outcome"] == "completed"
    assert record["walks"][0]["calls"][0]["message"] == "m" * 1024


async def test_second_connection_replaces_the_first(service: Service) -> None:
    """A newer connection of the same subscriber closes the older one with 4001."""
    first = await service.subscriber("twin")
    second = ScriptedSubscriber(service, first.info, log=[])
    service.subscribers.append(second)
    await second.connect()
    assert await ended(first) == 4001
    assert second.hello is not None
    assert second.hello["type"] == "hello"
    assert (await service.online(12)).status_code == 200
    assert second.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    assert first.actions() == []
    read = (await service.viewer.get(f"/api/v1/subscribers/{first.id}")).json()
    assert read["connected"] is True


async def test_unregister_closes_with_4004(service: Service) -> None:
    """DELETE of the subscriber closes its connection with 4004; its token opens nothing more."""
    sub = await service.subscriber("leaving")
    assert (await service.admin.delete(f"/api/v1/subscribers/{sub.id}")).status_code == 204
    assert await ended(sub) == 4004
    headers = {"Authorization": f"Bearer {sub.info['token']}"}
    assert await refused_status(sub.info["ws_url"], headers) in (401, 403, 404)


async def test_reconnect_gets_the_same_notification_again(service: Service) -> None:
    """Drop while a notification awaits its reply, reconnect in time: same id after hello."""
    sub = await service.subscriber("bouncy", answer=None, timeout_ms=10_000)
    task = asyncio.create_task(service.online(12))
    going = await sub.next_frame()
    assert going["action"] == "MEM_GOING_ONLINE"
    await sub.close()
    await wait_for(lambda: not service.app.state.hub.is_connected(sub.id))
    await sub.connect()  # reads hello first
    again = await sub.next_frame()
    assert again == going  # the same notification, same id, right after hello
    assert sub.frames[-1] == going
    await sub.reply(again["id"], "NOTIFY_OK", message="after reconnect")
    online = await sub.next_frame()
    assert online["action"] == "MEM_ONLINE"
    assert online["id"] > going["id"]
    await sub.reply(online["id"])
    record = (await asyncio.wait_for(task, seconds(10))).json()
    assert record["outcome"] == "completed"
    call = record["walks"][0]["calls"][0]
    assert (call["delivery"], call["message"]) == ("replied", "after reconnect")


async def test_frame_over_64_kib_closes_with_1009(service: Service) -> None:
    """A frame larger than 64 KiB closes the connection with 1009."""
    sub = await service.subscriber("verbose")
    with contextlib.suppress(ConnectionClosed):
        await sub.send("x" * (64 * 1024 + 1))
    assert await ended(sub) == 1009


async def test_large_frame_under_the_limit_is_an_error_not_a_close(service: Service) -> None:
    """A 60 KB frame is within the limit: an error frame (message too long), still open."""
    sub = await service.subscriber("wordy", answer=None)
    await sub.send({"type": "reply", "id": 1, "result": "NOTIFY_OK", "message": "y" * 60_000})
    error = await sub.next_frame()
    assert error["type"] == "error"
    assert sub.close_code is None


async def test_flooding_closes_with_1008(service: Service) -> None:
    """Hundreds of frames at once close the connection with 1008."""
    sub = await service.subscriber("flooder")
    frame = json.dumps({"type": "reply", "id": 1, "result": "NOTIFY_OK"})
    with contextlib.suppress(ConnectionClosed):
        for _ in range(500):
            await sub.send(frame)
    assert await ended(sub) == 1008


async def test_repeated_protocol_abuse_closes_with_1008(service: Service) -> None:
    """A long run of unusable frames, even slowly, ends with 1008."""
    sub = await service.subscriber("abuser", answer=None)
    with contextlib.suppress(ConnectionClosed, TimeoutError):
        for _ in range(60):
            await sub.send("garbage")
            await sub.next_frame(timeout=1)  # the error frame, so this is no flood
    assert await ended(sub) == 1008
