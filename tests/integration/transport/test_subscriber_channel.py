"""The subscriber websocket (SPEC §6) against a real uvicorn server."""

from __future__ import annotations

import os
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from app.engine.events import EventBus
from app.engine.ports import Disconnected, NotConnected, Reply
from app.transport.hub import Hub
from app.transport.limits import FloodLimits
from tests.support.server import RunningServer, seconds, serve, wait_for

from .conftest import (
    SUBSCRIBERS,
    Hooks,
    closed_with,
    make_app,
    next_event,
    notification,
    open_subscriber,
    open_ws,
    read_until_closed,
    recv_json,
    send_json,
    start,
    subscriber_url,
)

PUBLIC_S1 = SUBSCRIBERS["s1"][1]


# -- handshake ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subscriber_id", "token"),
    [
        ("s1", None),  # no token
        ("s1", "wrong"),  # unknown token
        ("s1", "token-s2"),  # another subscriber's token
        ("nobody", "token-s1"),  # unknown subscriber
    ],
)
async def test_handshake_without_the_right_token_is_refused_with_401(
    server: RunningServer, hub: Hub, bus: EventBus, subscriber_id: str, token: str | None
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with open_ws(subscriber_url(server, subscriber_id), token):
            pytest.fail("the handshake should have been refused")
    response = refused.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["Content-Type"] == "application/problem+json"
    assert not hub.connected_ids()
    assert bus.last_id == 0  # not even a connected event


async def test_access_token_query_parameter_is_accepted(server: RunningServer) -> None:
    async with open_ws(subscriber_url(server, "s1", "?access_token=token-s1")) as ws:
        assert (await recv_json(ws))["type"] == "hello"


async def test_without_the_denial_extension_the_refusal_is_a_403(hub: Hub, bus: EventBus) -> None:
    inner = make_app(hub, bus)

    async def without_denial_extension(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope = {**scope, "extensions": {}}
        await inner(scope, receive, send)

    async with serve(without_denial_extension) as server:
        with pytest.raises(InvalidStatus) as refused:
            async with open_ws(subscriber_url(server), "wrong"):
                pytest.fail("the handshake should have been refused")
    assert refused.value.response.status_code == 403


# -- hello and delivery -----------------------------------------------------------


async def test_hello_is_the_first_frame(server: RunningServer, hub: Hub) -> None:
    async with open_subscriber(server) as ws:
        assert await recv_json(ws) == {"type": "hello", "subscriber": PUBLIC_S1, "protocol": 1}
        assert hub.is_connected("s1")
        assert hub.connected_ids() == ["s1"]
        assert hub.connected_since("s1") is not None
    await wait_for(lambda: not hub.is_connected("s1"))
    assert hub.connected_since("s1") is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ({"result": "NOTIFY_DONE"}, Reply(0x0000)),
        ({"result": "NOTIFY_OK"}, Reply(0x0001)),
        ({"result": "NOTIFY_BAD"}, Reply(0x8002)),
        ({"result": "NOTIFY_STOP"}, Reply(0x8001)),
        ({"result": 0x8010}, Reply(0x8010)),
        ({"result": -(2**31)}, Reply(-(2**31))),
        ({"result": 2**31 - 1}, Reply(2**31 - 1)),
        (
            {"result": "NOTIFY_BAD", "errno": -16, "message": "pinned pages"},
            Reply(0x8000 | 17, errno=-16, message="pinned pages"),
        ),
        ({"errno": -4095}, Reply(0x8000 | 4096, errno=-4095)),
        ({"result": "NOTIFY_OK", "errno": None, "message": None}, Reply(1)),
    ],
)
async def test_deliver_returns_the_reply(
    server: RunningServer, hub: Hub, reply: dict[str, Any], expected: Reply
) -> None:
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        delivery = start(hub.deliver("s1", notification(7), timeout=seconds(5)))
        frame = await recv_json(ws)
        assert frame == notification(7).to_wire()
        await send_json(ws, {"type": "reply", "id": 7, **reply})
        assert await delivery == expected


async def test_deliver_without_a_connection_raises_not_connected(hub: Hub) -> None:
    with pytest.raises(NotConnected):
        await hub.deliver("s1", notification(), timeout=seconds(5))


async def test_deliver_without_a_reply_times_out(server: RunningServer, hub: Hub) -> None:
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        with pytest.raises(TimeoutError):
            await hub.deliver("s1", notification(3), timeout=0.2)
        # The notify frame was sent; a reply after the deadline is no longer awaited.
        assert (await recv_json(ws))["id"] == 3
        await send_json(ws, {"type": "reply", "id": 3, "result": "NOTIFY_OK"})
        error = await recv_json(ws)
        assert error["type"] == "error"
        assert error["id"] == 3
        assert hub.is_connected("s1")


async def test_one_outstanding_notification_per_subscriber(server: RunningServer, hub: Hub) -> None:
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        first = start(hub.deliver("s1", notification(1), timeout=seconds(5)))
        await recv_json(ws)
        with pytest.raises(RuntimeError, match="outstanding"):
            await hub.deliver("s1", notification(2), timeout=seconds(5))
        await send_json(ws, {"type": "reply", "id": 1, "result": "NOTIFY_OK"})
        assert await first == Reply(1)


# -- unusable frames --------------------------------------------------------------

LONG_MESSAGE = "m" * 1025

BAD_FRAMES: list[tuple[str | bytes, int | None]] = [
    ("{not json", None),
    (b'{"type": "reply", "id": 5, "result": "NOTIFY_OK"}', None),  # binary frame
    ("[1, 2, 3]", None),
    ('"NOTIFY_OK"', None),
    ('{"type": "bye", "id": 5}', 5),
    ('{"id": 5, "result": "NOTIFY_OK"}', 5),  # no type
    ('{"type": "reply", "id": "5", "result": "NOTIFY_OK"}', None),
    ('{"type": "reply", "id": true, "result": "NOTIFY_OK"}', None),
    ('{"type": "reply", "id": 5}', 5),  # no result, no errno
    ('{"type": "reply", "id": 5, "result": "NOTIFY_MAYBE"}', 5),
    ('{"type": "reply", "id": 5, "result": 2147483648}', 5),
    ('{"type": "reply", "id": 5, "result": -2147483649}', 5),
    ('{"type": "reply", "id": 5, "result": 1.0}', 5),
    ('{"type": "reply", "id": 5, "result": true}', 5),
    ('{"type": "reply", "id": 5, "result": "NOTIFY_BAD", "errno": 0}', 5),
    ('{"type": "reply", "id": 5, "result": "NOTIFY_BAD", "errno": -4096}', 5),
    ('{"type": "reply", "id": 5, "result": "NOTIFY_BAD", "errno": "-16"}', 5),
    ('{"type": "reply", "id": 5, "result": "NOTIFY_OK", "message": 42}', 5),
    (f'{{"type": "reply", "id": 5, "result": "NOTIFY_OK", "message": "{LONG_MESSAGE}"}}', 5),
    ('{"type": "reply", "id": 6, "result": "NOTIFY_OK"}', 6),  # unknown id
]


async def test_unusable_frames_get_an_error_frame_and_the_connection_stays_open(
    server: RunningServer, hub: Hub
) -> None:
    assert len(BAD_FRAMES) <= FloodLimits().max_unusable
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        delivery = start(hub.deliver("s1", notification(5), timeout=seconds(10)))
        await recv_json(ws)
        for frame, expected_id in BAD_FRAMES:
            await ws.send(frame)
            error = await recv_json(ws)
            assert error["type"] == "error", frame
            assert error["id"] == expected_id, frame
            assert isinstance(error["message"], str)
            assert error["message"]
        assert not delivery.done()
        await send_json(ws, {"type": "reply", "id": 5, "result": "NOTIFY_OK"})
        assert await delivery == Reply(1)
        # A second reply to the same notification.
        await send_json(ws, {"type": "reply", "id": 5, "result": "NOTIFY_BAD"})
        error = await recv_json(ws)
        assert error == {"type": "error", "id": 5, "message": "notification 5 was already answered"}
        # Still usable afterwards.
        delivery = start(hub.deliver("s1", notification(8), timeout=seconds(5)))
        assert (await recv_json(ws))["id"] == 8
        await send_json(ws, {"type": "reply", "id": 8, "result": "NOTIFY_STOP"})
        assert await delivery == Reply(0x8001)


# -- connection loss, replacement, drop, shutdown -------------------------------------


async def test_reconnect_within_the_deadline_gets_the_same_notification(
    server: RunningServer, hub: Hub
) -> None:
    delivery = None
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        delivery = start(hub.deliver("s1", notification(11), timeout=seconds(10)))
        assert (await recv_json(ws))["id"] == 11
    await wait_for(lambda: not hub.is_connected("s1"))
    assert not delivery.done()
    async with open_subscriber(server) as ws:
        assert (await recv_json(ws))["type"] == "hello"
        assert await recv_json(ws) == notification(11).to_wire()
        await send_json(ws, {"type": "reply", "id": 11, "result": "NOTIFY_BAD", "errno": -16})
        assert await delivery == Reply(0x8011, errno=-16)


async def test_drop_without_reconnect_raises_disconnected(server: RunningServer, hub: Hub) -> None:
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        delivery = start(hub.deliver("s1", notification(12), timeout=0.5))
        await recv_json(ws)
    with pytest.raises(Disconnected):
        await delivery


async def test_a_second_connection_replaces_the_first_with_4001(
    server: RunningServer, hub: Hub, bus: EventBus, hooks: Hooks
) -> None:
    observer = bus.subscribe()
    async with open_subscriber(server) as old:
        await recv_json(old)
        async with open_subscriber(server) as new:
            assert (await recv_json(new))["type"] == "hello"
            assert await closed_with(old) == (4001, "replaced by a newer connection")
            assert hub.connected_ids() == ["s1"]
            delivery = start(hub.deliver("s1", notification(2), timeout=seconds(5)))
            assert (await recv_json(new))["id"] == 2
            await send_json(new, {"type": "reply", "id": 2, "result": "NOTIFY_OK"})
            assert await delivery == Reply(1)
    await wait_for(lambda: not hub.is_connected("s1"))
    types = [(await next_event(observer))["type"] for _ in range(4)]
    assert types == [
        "hotplug.subscriber.connected",
        "hotplug.subscriber.disconnected",
        "hotplug.subscriber.connected",
        "hotplug.subscriber.disconnected",
    ]
    assert hooks.calls == [
        ("connected", "s1"),
        ("disconnected", "s1"),
        ("connected", "s1"),
        ("disconnected", "s1"),
    ]
    observer.close()


async def test_connection_events_carry_id_and_name(
    server: RunningServer, bus: EventBus, hub: Hub
) -> None:
    observer = bus.subscribe()
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        connected = await next_event(observer)
    disconnected = await next_event(observer)
    assert connected["type"] == "hotplug.subscriber.connected"
    assert connected["subject"] == "subscriber/s1"
    assert connected["data"] == {"id": "s1", "name": "page-cache"}
    assert disconnected["type"] == "hotplug.subscriber.disconnected"
    assert disconnected["data"] == {"id": "s1", "name": "page-cache", "code": 1000}
    observer.close()


async def test_drop_closes_with_the_given_code(server: RunningServer, hub: Hub) -> None:
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        await hub.drop("s1", 4004, "subscriber unregistered")
        assert not hub.is_connected("s1")
        assert await closed_with(ws) == (4004, "subscriber unregistered")
    await hub.drop("s1", 4004, "subscriber unregistered")  # nothing left to drop


async def test_close_all_closes_with_1001_and_refuses_new_connections(
    server: RunningServer, hub: Hub
) -> None:
    async with open_subscriber(server) as one, open_subscriber(server, "s2") as two:
        await recv_json(one)
        await recv_json(two)
        delivery = start(hub.deliver("s1", notification(4), timeout=seconds(30)))
        await recv_json(one)
        await hub.close_all(grace=seconds(5))
        assert await closed_with(one) == (1001, "service shutting down")
        assert await closed_with(two) == (1001, "service shutting down")
        with pytest.raises(Disconnected):
            await delivery
    with pytest.raises(InvalidStatus) as refused:
        async with open_subscriber(server):
            pytest.fail("the handshake should have been refused")
    assert refused.value.response.status_code == 503


# -- limits ---------------------------------------------------------------------


@pytest.mark.parametrize("limits", [FloodLimits(rate=1.0, burst=5, max_unusable=1000)])
async def test_flooding_closes_with_1008(server: RunningServer, hub: Hub) -> None:
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        for i in range(20):  # 4 times the burst, in no time at 1 frame/s
            await send_json(ws, {"type": "reply", "id": i, "result": "NOTIFY_OK"})
        assert await read_until_closed(ws) == (1008, "too many frames")
    await wait_for(lambda: not hub.is_connected("s1"))


@pytest.mark.parametrize("limits", [FloodLimits(rate=1.0, burst=3)])
async def test_replies_to_notifications_never_count_as_flooding(
    server: RunningServer, hub: Hub
) -> None:
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        for i in range(20):  # far above 1 frame/s: the chain sets this pace, not the peer
            delivery = start(hub.deliver("s1", notification(i), timeout=seconds(5)))
            await recv_json(ws)
            await send_json(ws, {"type": "reply", "id": i, "result": "NOTIFY_OK"})
            assert await delivery == Reply(1)
        assert hub.is_connected("s1")


@pytest.mark.parametrize("limits", [FloodLimits(max_unusable=3)])
async def test_repeated_unusable_frames_close_with_1008(server: RunningServer) -> None:
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        for _ in range(3):
            await ws.send("garbage")
            assert (await recv_json(ws))["type"] == "error"
        await ws.send("garbage")
        assert await closed_with(ws) == (1008, "too many unusable frames")


async def test_a_usable_reply_resets_the_unusable_count(server: RunningServer, hub: Hub) -> None:
    limit = FloodLimits().max_unusable
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        for round_ in range(2):
            delivery = start(hub.deliver("s1", notification(round_), timeout=seconds(5)))
            await recv_json(ws)
            for _ in range(limit):
                await ws.send("garbage")
                assert (await recv_json(ws))["type"] == "error"
            await send_json(ws, {"type": "reply", "id": round_, "result": "NOTIFY_OK"})
            assert await delivery == Reply(1)
        assert hub.is_connected("s1")


async def test_frames_over_64_kib_close_with_1009(server: RunningServer, hub: Hub) -> None:
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        await ws.send(os.urandom(40_000).hex())  # 80 000 characters
        code, _ = await closed_with(ws)
        assert code == 1009
    await wait_for(lambda: not hub.is_connected("s1"))


async def test_a_frame_of_exactly_64_kib_is_read(server: RunningServer) -> None:
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        await ws.send(" " * 65536)
        assert (await recv_json(ws))["type"] == "error"  # not JSON, but read


async def test_an_aborted_connection_is_forgotten(server: RunningServer, hub: Hub) -> None:
    async with open_subscriber(server) as ws:
        await recv_json(ws)
        ws.transport.abort()  # no closing handshake at all
    await wait_for(lambda: not hub.is_connected("s1"))
