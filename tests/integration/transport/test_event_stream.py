"""The dashboard event stream (SPEC §7) against a real uvicorn server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode

from app.engine.events import EventBus
from app.transport.hub import Hub
from app.transport.limits import FloodLimits
from app.transport.server import text_frame
from tests.support.server import RunningServer, seconds, serve, wait_for

from .conftest import closed_with, events_url, make_app, open_ws, read_until_closed, recv_json


def open_events(
    server: RunningServer, query: str = "", token: str = "token-viewer", **options: Any
) -> connect:
    return open_ws(events_url(server, query), token, **options)


@pytest.mark.parametrize(
    ("token", "query", "status"),
    [
        (None, "", 401),
        ("nope", "", 401),
        (None, "?access_token=nope", 401),
        ("token-s1", "", 403),  # a subscriber token may not read the stream
        (None, "?access_token=token-s1", 403),
        ("token-viewer", "?since=-1", 400),
        ("token-viewer", "?since=1.5", 400),
        ("token-viewer", "?since=%201", 400),
        ("token-viewer", "?since=0&since=x", 400),
    ],
)
async def test_handshake_is_refused(
    server: RunningServer, bus: EventBus, token: str | None, query: str, status: int
) -> None:
    bus.publish("hotplug.block.changed", {"id": 1})
    with pytest.raises(InvalidStatus) as refused:
        async with open_ws(events_url(server, query), token):
            pytest.fail("the handshake should have been refused")
    assert refused.value.response.status_code == status
    assert bus.observer_count == 0


@pytest.mark.parametrize(
    ("token", "query"),
    [
        ("token-viewer", ""),
        ("token-admin", ""),
        (None, "?access_token=token-viewer"),
        (None, "?access_token=token-admin"),
    ],
)
async def test_viewer_and_admin_tokens_are_accepted(
    server: RunningServer, bus: EventBus, token: str | None, query: str
) -> None:
    async with open_ws(events_url(server, query), token) as ws:
        await wait_for(lambda: bus.observer_count == 1)
        bus.publish("hotplug.block.changed", {"id": 1})
        assert (await recv_json(ws))["type"] == "hotplug.block.changed"
    await wait_for(lambda: bus.observer_count == 0)


async def test_events_are_cloudevents_with_increasing_ids(
    server: RunningServer, bus: EventBus
) -> None:
    async with open_events(server) as ws:
        await wait_for(lambda: bus.observer_count == 1)
        bus.publish(
            "hotplug.transition.queued", {"id": "t-1", "block": 3}, subject="transitions/t-1"
        )
        bus.publish("hotplug.block.changed", {"id": 3, "state": "going-offline"})
        first, second = await recv_json(ws), await recv_json(ws)
    assert first.keys() == {
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "datacontenttype",
        "subject",
        "data",
    }
    assert first["specversion"] == "1.0"
    assert first["source"] == "/hotplugd"
    assert first["type"] == "hotplug.transition.queued"
    assert first["datacontenttype"] == "application/json"
    assert first["subject"] == "transitions/t-1"
    assert first["data"] == {"id": "t-1", "block": 3}
    assert first["time"].endswith("Z")
    assert datetime.fromisoformat(first["time"]).utcoffset() is not None
    assert "subject" not in second
    assert first["id"].isdigit()
    assert int(second["id"]) > int(first["id"])


async def test_since_replays_retained_events_first(server: RunningServer, bus: EventBus) -> None:
    for block in range(5):
        bus.publish("hotplug.block.added", {"id": block})
    async with open_events(server, "?since=2") as ws:
        replayed = [await recv_json(ws) for _ in range(3)]
        bus.publish("hotplug.block.added", {"id": 5})
        live = await recv_json(ws)
    assert [event["id"] for event in replayed] == ["3", "4", "5"]
    assert live["id"] == "6"


async def test_a_gap_event_says_what_is_no_longer_retained(hub: Hub) -> None:
    bus = EventBus(retain=3)
    for block in range(6):
        bus.publish("hotplug.block.added", {"id": block})
    async with serve(make_app(hub, bus)) as server, open_events(server, "?since=1") as ws:
        gap = await recv_json(ws)
        replayed = [await recv_json(ws) for _ in range(3)]
    assert gap["type"] == "hotplug.stream.gap"
    assert gap["data"] == {"since": 1, "oldest_retained": 4, "missed": 2}
    assert int(gap["id"]) == 3
    assert [event["id"] for event in replayed] == ["4", "5", "6"]


async def test_closing_the_bus_closes_streams_with_1001(
    server: RunningServer, bus: EventBus
) -> None:
    async with open_events(server) as ws:
        await wait_for(lambda: bus.observer_count == 1)
        bus.close()
        assert await closed_with(ws) == (1001, "service shutting down")
    with pytest.raises(InvalidStatus) as refused:
        async with open_events(server):
            pytest.fail("the handshake should have been refused")
    assert refused.value.response.status_code == 503


@pytest.mark.parametrize("limits", [FloodLimits(rate=1.0, burst=3)])
async def test_a_peer_flooding_the_read_only_stream_is_closed_with_1008(
    server: RunningServer, bus: EventBus
) -> None:
    async with open_events(server) as ws:
        for _ in range(10):
            await ws.send("hello?")
        assert await closed_with(ws) == (1008, "too many frames")
    await wait_for(lambda: bus.observer_count == 0)


async def test_an_overflowing_observer_is_closed_with_1008(hub: Hub) -> None:
    bus = EventBus(queue_size=4)
    async with serve(make_app(hub, bus)) as server, open_events(server) as ws:
        await wait_for(lambda: bus.observer_count == 1)
        for block in range(10):  # in one batch: the observer's queue cannot take it
            bus.publish("hotplug.block.added", {"id": block})
        assert bus.observer_count == 1  # handed out when the batch window ends...
        bus.flush()  # ...or now
        assert bus.observer_count == 0
        assert await closed_with(ws) == (1008, "observer too slow")


def caught_up(received: list[int], count: int) -> Callable[[], bool]:
    return lambda: len(received) >= count


async def _read_all(ws: ClientConnection, into: list[int]) -> None:
    async for message in ws:
        into.append(int(orjson.loads(message)["id"]))


async def test_a_slow_observer_is_dropped_while_publish_stays_non_blocking(hub: Hub) -> None:
    bus = EventBus(queue_size=64)
    blob = "x" * 8192
    received: list[int] = []
    async with (
        serve(make_app(hub, bus)) as server,
        open_events(server, max_queue=1) as slow,  # reads nothing until the end
        open_events(server) as fast,
    ):
        await wait_for(lambda: bus.observer_count == 2)
        reader = asyncio.create_task(_read_all(fast, received))
        published = 0
        # Keep publishing until the slow observer's socket is full and its queue
        # overflows; the fast observer keeps up all along.
        async with asyncio.timeout(seconds(60)):
            while bus.observer_count == 2:
                for _ in range(32):
                    published += 1
                    bus.publish("hotplug.block.changed", {"n": published, "blob": blob})
                await wait_for(caught_up(received, published), timeout=10)
        assert bus.observer_count == 1
        bus.publish("hotplug.block.changed", {"n": published + 1})
        await wait_for(caught_up(received, published + 1))
        assert received == list(range(1, published + 2))
        assert await read_until_closed(slow) == (1008, "observer too slow")
        await fast.close()
        await reader


async def test_observers_end_with_their_connection(server: RunningServer, bus: EventBus) -> None:
    async with open_events(server) as one, open_events(server):
        await wait_for(lambda: bus.observer_count == 2)
        await one.close()
        await wait_for(lambda: bus.observer_count == 1)
    await wait_for(lambda: bus.observer_count == 0)


async def test_hub_events_reach_the_stream(server: RunningServer, bus: EventBus) -> None:
    async with open_events(server) as events:
        await wait_for(lambda: bus.observer_count == 1)
        async with open_ws(f"{server.ws}/api/v1/subscribers/s2/ws", "token-s2") as sub:
            await recv_json(sub)
        connected, disconnected = await recv_json(events), await recv_json(events)
    assert connected["type"] == "hotplug.subscriber.connected"
    assert connected["data"] == {"id": "s2", "name": "balloon"}
    assert disconnected["type"] == "hotplug.subscriber.disconnected"


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 70_000])
def test_events_are_framed_as_websockets_frames_them(size: int) -> None:
    payload = b"x" * size
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False)
    assert text_frame(payload) == expected


async def test_a_batch_reaches_every_observer_in_order(hub: Hub) -> None:
    bus = EventBus(batch_window=60)
    async with (
        serve(make_app(hub, bus)) as server,
        open_events(server) as first,
        open_events(server) as second,
    ):
        await wait_for(lambda: bus.observer_count == 2)
        for block in range(5):
            bus.publish("hotplug.block.added", {"id": block})
        bus.flush()
        for ws in (first, second):
            assert [(await recv_json(ws))["data"]["id"] for _ in range(5)] == list(range(5))


async def test_without_the_fast_path_events_go_out_through_asgi(hub: Hub) -> None:
    """Under a server that lacks ``hotplugd.direct`` (uvicorn's own protocol)."""
    bus = EventBus(batch_window=0.001)
    async with (
        serve(make_app(hub, bus), ws="websockets-sansio") as server,
        open_events(server) as ws,
    ):
        await wait_for(lambda: bus.observer_count == 1)
        for block in range(3):
            bus.publish("hotplug.block.added", {"id": block})
        assert [(await recv_json(ws))["data"]["id"] for _ in range(3)] == [0, 1, 2]
