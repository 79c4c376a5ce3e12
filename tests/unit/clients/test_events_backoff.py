"""The event stream's resume-after-drop, and the backoff's bounds."""

from __future__ import annotations

import json

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.http11 import Response

from clients.backoff import Backoff
from clients.errors import HotplugConnectionError, HotplugError
from clients.events import CloudEvent, stream_events

from .fakes import FakeChannel, FakeService

NO_WAIT = Backoff(uniform=lambda low, high: 0.0)


def event(ident: int, kind: str = "hotplug.block.changed", **data: object) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(ident),
            "source": "/hotplugd",
            "type": kind,
            "time": "2025-01-01T10:00:00.123456Z",
            "data": data,
        }
    )


async def collect(service: FakeService, count: int, **options: object) -> list[CloudEvent]:
    events = []
    options.setdefault("backoff", NO_WAIT)
    stream = stream_events("http://svc:8000", "viewer", connector=service.connector, **options)  # type: ignore[arg-type]
    async for item in stream:
        events.append(item)
        if len(events) == count:
            break
    await stream.aclose()
    return events


async def test_events_resume_after_a_drop_with_since() -> None:
    first = FakeChannel(event(5, block=1), "not json", event(6))
    first.drop(1006)
    second = FakeChannel(event(7, "hotplug.stream.gap"))
    service = FakeService(first, second)
    events = await collect(service, 3, since=4)
    assert [e.id for e in events] == ["5", "6", "7"]
    assert events[0].data == {"block": 1}
    assert events[0].source == "/hotplugd"
    assert service.attempts[0] == (
        "ws://svc:8000/api/v1/events?since=4",
        {"Authorization": "Bearer viewer"},
    )
    assert service.attempts[1][0] == "ws://svc:8000/api/v1/events?since=6"


async def test_events_without_since_and_clean_close_reconnects() -> None:
    first = FakeChannel(event(1))
    first.drop(1000)
    service = FakeService(first, OSError("refused"), FakeChannel(event(2)))
    assert [e.id for e in await collect(service, 2)] == ["1", "2"]
    assert service.attempts[0][0] == "ws://svc:8000/api/v1/events"


async def test_events_refused_token_is_fatal() -> None:
    service = FakeService(InvalidStatus(Response(401, "no", Headers())))
    with pytest.raises(HotplugError, match="event stream refused"):
        await collect(service, 1)


async def test_events_fail_fast_and_bad_url() -> None:
    with pytest.raises(HotplugConnectionError, match="cannot reach http://svc:8000: refused"):
        await collect(FakeService(OSError("refused")), 1, fail_fast=True)
    with pytest.raises(HotplugConnectionError, match="bad event stream URL"):
        await collect(FakeService(InvalidURI("x", "y")), 1)
    backoff = Backoff(max_attempts=1, uniform=lambda low, high: 0.0)
    with pytest.raises(HotplugConnectionError):
        await collect(FakeService(OSError("a"), OSError("b")), 1, backoff=backoff)


def test_cloud_event_needs_id_and_type() -> None:
    with pytest.raises(ValueError, match="id or type"):
        CloudEvent.from_wire({"type": "x"})


def test_backoff_full_jitter_is_bounded() -> None:
    seen: list[tuple[float, float]] = []
    backoff = Backoff(
        initial=0.5, factor=2, max_delay=3, uniform=lambda a, b: seen.append((a, b)) or b
    )
    assert [backoff.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert all(low == 0.0 for low, _ in seen)
    assert backoff.ceiling(10_000) == 3
    assert not backoff.exhausted(100)
    assert Backoff(max_attempts=3).exhausted(3)
    assert 0.0 <= Backoff().delay(3) <= 0.8


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(factor=0.5)
