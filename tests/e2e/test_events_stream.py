"""SPEC §7 through the full service: the CloudEvents stream for dashboards."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.support.events import Event, EventReader, event_stream
from tests.support.hotplug import ADMIN_TOKEN, VIEWER_TOKEN, Service, running_service
from tests.support.server import wait_for
from tests.support.ws import refused_status

ALL_TYPES = {
    "hotplug.transition.queued",
    "hotplug.transition.started",
    "hotplug.transition.finished",
    "hotplug.notification.sent",
    "hotplug.notification.replied",
    "hotplug.block.changed",
    "hotplug.block.added",
    "hotplug.block.removed",
    "hotplug.subscriber.registered",
    "hotplug.subscriber.updated",
    "hotplug.subscriber.removed",
    "hotplug.subscriber.connected",
    "hotplug.subscriber.disconnected",
}


def assert_cloudevent(event: Event) -> int:
    """The event has the CloudEvents 1.0 fields the SPEC names; its id as an int."""
    assert event["specversion"] == "1.0"
    assert isinstance(event["id"], str), event
    assert event["id"].isdigit(), event
    assert isinstance(event["source"], str)
    assert event["source"]
    assert isinstance(event["type"], str)
    assert event["type"].startswith("hotplug.")
    stamp = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    assert stamp.tzinfo is not None
    assert isinstance(event["data"], dict)
    return int(event["id"])


def ids(events: list[Event]) -> list[int]:
    """The events' ids as integers."""
    return [int(e["id"]) for e in events]


async def refused(service: Service, query: str = "", headers: dict[str, str] | None = None) -> int:
    """The HTTP status a refused event-stream handshake got."""
    return await refused_status(f"{service.server.ws}/api/v1/events{query}", headers)


@pytest.mark.parametrize("token", [VIEWER_TOKEN, ADMIN_TOKEN])
@pytest.mark.parametrize("query_token", [False, True])
async def test_viewer_and_admin_may_read_the_stream(
    service: Service, token: str, query_token: bool
) -> None:
    """The viewer and admin tokens open the stream, by header or ?access_token=."""
    async with event_stream(service.server.ws, token, query_token=query_token) as stream:
        await service.register("ping")
        event = await stream.wait_for("hotplug.subscriber.registered")
        assert event["data"]["name"] == "ping"


async def test_no_or_unknown_token_is_refused_with_401(service: Service) -> None:
    """No token or an unknown token: the handshake is refused with 401."""
    assert await refused(service) == 401
    assert await refused(service, "?access_token=wrong-wrong-wrong-wrong") == 401
    assert await refused(service, headers={"Authorization": "Bearer nope-nope-nope"}) == 401


async def test_subscriber_token_is_refused_with_403(service: Service) -> None:
    """A subscriber token is valid but may only open its channel: 403 (SPEC §5)."""
    info = await service.register("nosy")
    assert await refused(service, f"?access_token={info['token']}") == 403
    assert await refused(service, headers={"Authorization": f"Bearer {info['token']}"}) == 403


async def test_a_realistic_flow_shows_every_event_type(service: Service) -> None:
    """Register, connect, online, veto, patch, probe, remove, unregister: every type, in order."""
    async with event_stream(service.server.ws, VIEWER_TOKEN) as stream:
        sub = await service.subscriber(
            "agent",
            answer=lambda f: (
                {"result": "NOTIFY_BAD"}
                if f["block"] == 13 and f["action"] == "MEM_GOING_ONLINE"
                else {"result": "NOTIFY_OK"}
            ),
        )
        assert (await service.online(12)).status_code == 200
        assert (await service.online(13)).status_code == 409
        await service.admin.patch(f"/api/v1/subscribers/{sub.id}", json={"priority": 4})
        await service.admin.patch("/api/v1/memory/blocks/14", json={"migration_ms": 5})
        await service.admin.post("/api/v1/memory/probe", json={"node": 3, "count": 1})
        await service.admin.delete("/api/v1/memory/blocks/28")
        await service.admin.delete(f"/api/v1/subscribers/{sub.id}")
        await stream.wait_for("hotplug.subscriber.removed")
        await stream.wait_for("hotplug.subscriber.disconnected")
        events = stream.events
        assert set(stream.types()) >= ALL_TYPES, ALL_TYPES - set(stream.types())
        numbers = [assert_cloudevent(e) for e in events]
        assert numbers == sorted(numbers)
        assert len(set(numbers)) == len(numbers)

        finished = stream.of_type("hotplug.transition.finished")
        assert [(e["data"]["block"], e["data"]["outcome"]) for e in finished] == [
            (12, "completed"),
            (13, "cancelled"),
        ]
        # one transition's life, in order
        tr = finished[0]["data"]["id"]
        life = [
            e["type"]
            for e in events
            if e["type"].startswith(("hotplug.transition.", "hotplug.notification."))
            and tr in (e["data"].get("id"), e["data"].get("transition"))
        ]
        assert life == [
            "hotplug.transition.queued",
            "hotplug.transition.started",
            "hotplug.notification.sent",
            "hotplug.notification.replied",
            "hotplug.notification.sent",
            "hotplug.notification.replied",
            "hotplug.transition.finished",
        ]
        changed = [e["data"] for e in stream.of_type("hotplug.block.changed")]
        assert any(d["id"] == 12 and d["state"] == "online" for d in changed)
        assert any(d["id"] == 14 and d["migration_ms"] == 5 for d in changed)
        assert [e["data"]["id"] for e in stream.of_type("hotplug.block.added")] == [28]
        assert [e["data"]["id"] for e in stream.of_type("hotplug.block.removed")] == [28]
        updated = stream.of_type("hotplug.subscriber.updated")
        assert [e["data"]["priority"] for e in updated] == [4]


async def test_notification_replied_has_delivery_result_and_latency(service: Service) -> None:
    """hotplug.notification.replied carries delivery, result and latency (SPEC §7)."""
    async with event_stream(service.server.ws, VIEWER_TOKEN) as stream:
        await service.subscriber("agent")
        assert (await service.online(12)).status_code == 200
        replied = await stream.wait_for("hotplug.notification.replied")
        data = replied["data"]
        assert data["delivery"] == "replied"
        assert data["result"] == "NOTIFY_OK"
        assert any(key.startswith("latency") for key in data), data


async def test_timeout_shows_in_the_stream(service: Service) -> None:
    """A subscriber that never answers shows as delivery timeout in the replied event."""
    async with event_stream(service.server.ws, ADMIN_TOKEN) as stream:
        await service.subscriber("mute", answer=lambda _f: None, timeout_ms=50)
        assert (await service.online(12)).status_code == 409
        replied = await stream.wait_for("hotplug.notification.replied")
        assert replied["data"]["delivery"] == "timeout"


async def test_since_replays_retained_events_first(service: Service) -> None:
    """?since=ID replays every retained event after ID, in order, then streams live ones."""
    async with event_stream(service.server.ws, VIEWER_TOKEN) as live:
        await service.register("one")
        first = await live.wait_for("hotplug.subscriber.registered")
        await service.register("two")
        await service.register("three")
        await live.wait_for("hotplug.subscriber.registered", lambda e: e["data"]["name"] == "three")
        after_first = [e for e in live.events if int(e["id"]) > int(first["id"])]
        async with event_stream(service.server.ws, VIEWER_TOKEN, since=first["id"]) as replay:
            await replay.wait_count(len(after_first))
            assert replay.events[: len(after_first)] == after_first
            await service.register("four")
            await replay.wait_for(
                "hotplug.subscriber.registered", lambda e: e["data"]["name"] == "four"
            )
            numbers = ids(replay.events)
            assert numbers == sorted(numbers)
            assert numbers[0] > int(first["id"])


async def test_since_latest_replays_nothing(service: Service) -> None:
    """?since= the newest id replays nothing and streams what comes next."""
    async with event_stream(service.server.ws, VIEWER_TOKEN) as live:
        await service.register("one")
        newest = await live.wait_for("hotplug.subscriber.registered")
        async with event_stream(service.server.ws, VIEWER_TOKEN, since=newest["id"]) as replay:
            await service.register("two")
            event = await replay.wait_for("hotplug.subscriber.registered")
            assert event["data"]["name"] == "two"
            assert replay.events[0] == event


async def test_since_older_than_retained_gives_a_gap_event(tmp_path: Path) -> None:
    """When events after since are gone, hotplug.stream.gap comes first, then what is retained."""
    async with running_service(tmp_path, event_retention=10) as service:
        async with event_stream(service.server.ws, VIEWER_TOKEN) as live:
            await service.register("s0")
            oldest = await live.wait_for("hotplug.subscriber.registered")
            for i in range(1, 15):
                await service.register(f"s{i}")
            await live.wait_for(
                "hotplug.subscriber.registered", lambda e: e["data"]["name"] == "s14"
            )
            retained = live.events[-10:]
        async with event_stream(service.server.ws, VIEWER_TOKEN, since=oldest["id"]) as replay:
            await replay.wait_count(11)
            gap = replay.events[0]
            assert gap["type"] == "hotplug.stream.gap"
            assert_cloudevent(gap)
            assert replay.events[1:11] == retained


async def test_stream_is_refused_with_a_bad_since(service: Service) -> None:
    """A since that is not an event id is refused at the handshake (a client error)."""
    status = await refused(service, "?since=yesterday", {"Authorization": f"Bearer {VIEWER_TOKEN}"})
    assert 400 <= status < 500


async def test_stream_keeps_up_with_a_burst(service: Service) -> None:
    """A burst of state changes arrives complete and in order."""
    async with event_stream(service.server.ws, VIEWER_TOKEN) as stream:
        for i in range(40):
            await service.register(f"burst-{i}")
        await stream.wait_for(
            "hotplug.subscriber.registered", lambda e: e["data"]["name"] == "burst-39"
        )
        names = [e["data"]["name"] for e in stream.of_type("hotplug.subscriber.registered")]
        assert names == [f"burst-{i}" for i in range(40)]


async def test_two_dashboards_see_the_same_events(service: Service) -> None:
    """Every observer gets the same events with the same ids."""
    async with (
        event_stream(service.server.ws, VIEWER_TOKEN) as a,
        event_stream(service.server.ws, ADMIN_TOKEN) as b,
    ):
        await service.subscriber("agent")
        assert (await service.online(12)).status_code == 200
        for reader in (a, b):
            await reader.wait_for("hotplug.transition.finished")

        def settled(reader: EventReader) -> list[Event]:
            return [e for e in reader.events if e["type"] != "hotplug.block.changed"]

        await wait_for(lambda: len(a.events) == len(b.events))
        assert settled(a) == settled(b)
