"""Subscriber faults (issue 8): the chain goes on as SPEC §4/§6 say, and it shows.

Each case puts one misbehaving subscriber in the chain next to a well-behaved
one, while a background probe keeps calling ``GET /healthz``. For every case
the test checks what the chain did (outcome, errno, who was called), that the
fault is visible in the transition record (``delivery`` of each call) and in
``/metrics`` (``hotplug_notification_failures_total``,
``hotplug_subscribers_connected``), and that ``/healthz`` answered promptly
the whole time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.faults import (
    connected_gauge,
    failures,
    fast_data_dir,
    health_probe,
    service_with_server_options,
    task_count,
    wait_tasks_at_most,
)
from tests.support.hotplug import (
    ScriptedSubscriber,
    Service,
    get_json,
    record_walk,
    running_service,
    start_transition,
    wait_finished,
)
from tests.support.rawws import RawWebSocket, shrink_peer_send_buffer
from tests.support.server import seconds, wait_for

ETIMEDOUT, ENOTCONN = -110, -107
FRAME_LIMIT = 64 * 1024


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """A hotplugd whose SQLite lives on tmpfs (fast fsyncs for many transitions)."""
    with fast_data_dir(tmp_path) as data_dir:
        async with running_service(tmp_path, data_dir=data_dir) as running:
            yield running


def calls(record: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """The calls of the walk of ``action``."""
    found: list[dict[str, Any]] = record_walk(record, action)["calls"]
    return found


def call_of(record: dict[str, Any], action: str, subscriber: str) -> dict[str, Any]:
    """The one call of ``subscriber`` in the walk of ``action``."""
    mine = [c for c in calls(record, action) if c["subscriber"] == subscriber]
    assert len(mine) == 1, (action, subscriber, calls(record, action))
    return mine[0]


async def next_notify(sub: ScriptedSubscriber, action: str, timeout: float = 5) -> dict[str, Any]:
    """The next unanswered frame of a manual subscriber, checked to be ``action``."""
    frame = await sub.next_frame(timeout)
    assert (frame["type"], frame.get("action")) == ("notify", action), frame
    return frame


async def next_error(sub: ScriptedSubscriber, timeout: float = 5) -> dict[str, Any]:
    """The next unanswered frame, checked to be an ``error`` frame."""
    frame = await sub.next_frame(timeout)
    assert frame["type"] == "error", frame
    assert isinstance(frame["message"], str)
    assert frame["message"]
    return frame


async def ended(sub: ScriptedSubscriber, timeout: float = 5) -> int | None:
    """Wait until the connection of ``sub`` ended; its close code."""
    assert sub._task is not None
    await asyncio.wait_for(asyncio.shield(sub._task), seconds(timeout))
    return sub.close_code


async def still_running(service: Service, transition_id: str) -> bool:
    """Whether the transition has no final outcome yet."""
    record = await get_json(service, f"/api/v1/transitions/{transition_id}")
    return bool(record["outcome"] in ("pending", "running"))


async def steady(service: Service, name: str = "steady", **body: Any) -> ScriptedSubscriber:
    """A well-behaved subscriber (NOTIFY_OK to everything), lowest priority."""
    return await service.subscriber(name, priority=-100, **body)


def latency_between(call: dict[str, Any], low_ms: float, high_ms: float) -> None:
    """The call took about as long as its timeout: not less, and not much more."""
    assert low_ms <= call["latency_ms"] <= seconds(high_ms), call


# -- dies mid-reply ------------------------------------------------------------


@pytest.mark.parametrize("policy", ["fail", "ignore"])
async def test_dies_mid_reply_and_stays_away(service: Service, policy: str) -> None:
    """Dropping while a GOING reply is awaited counts as disconnected at the deadline."""
    dying = await service.subscriber(
        "dying", answer=None, priority=10, timeout_ms=600, failure_policy=policy
    )
    ok = await steady(service)
    assert await connected_gauge(service.anonymous) == 2
    async with health_probe(service.server.http) as probe:
        started = await start_transition(service, "online", 12)
        await next_notify(dying, "MEM_GOING_ONLINE")
        assert dying.ws is not None
        dying.ws.transport.abort()  # no close frame: the peer just vanishes
        await wait_for(lambda: not service.app.state.hub.is_connected(dying.id))
        assert await connected_gauge(service.anonymous) == 1
        record = await wait_finished(service, started["id"])
    probe.assert_prompt(at_least=5)

    going = call_of(record, "MEM_GOING_ONLINE", dying.id)
    assert (going["delivery"], going["errno"]) == ("disconnected", ENOTCONN), going
    latency_between(going, 550, 600 + 1000)  # it waited for the deadline, not less
    if policy == "fail":
        assert (record["outcome"], record["errno"]) == ("cancelled", ENOTCONN)
        assert record["vetoed_by"]["subscriber"] == dying.id
        assert [c["subscriber"] for c in calls(record, "MEM_GOING_ONLINE")] == [dying.id]
        after = call_of(record, "MEM_CANCEL_ONLINE", dying.id)
        assert call_of(record, "MEM_CANCEL_ONLINE", ok.id)["delivery"] == "replied"
        assert ok.actions() == ["MEM_CANCEL_ONLINE"]
    else:
        assert record["outcome"] == "completed"
        assert going["result"] == "NOTIFY_DONE"
        after = call_of(record, "MEM_ONLINE", dying.id)
        assert ok.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    assert (after["delivery"], after["latency_ms"]) == ("disconnected", 0)  # absent: at once
    assert await failures(service.anonymous, dying.id, "disconnected") == 2
    assert await failures(service.anonymous, dying.id, "timeout") == 0
    read = await get_json(service, f"/api/v1/subscribers/{dying.id}")
    assert read["connected"] is False
    assert read["counters"]["disconnected"] == 2


# -- stops reading -------------------------------------------------------------


# Long enough to fill the buffers before the first ping is due, short enough for a test.
KEEPALIVE = {"ws_ping_interval": 2.0, "ws_ping_timeout": 1.0}


@contextlib.asynccontextmanager
async def keepalive_service(tmp_path: Path) -> AsyncIterator[Service]:
    """A hotplugd served with a short keepalive, uvicorn logging into the root logger."""
    with fast_data_dir(tmp_path) as data_dir:
        server = {**KEEPALIVE, "log_config": None, "log_level": "info"}
        async with service_with_server_options(
            tmp_path, server, data_dir=data_dir, **KEEPALIVE
        ) as running:
            yield running


async def stuck_subscriber(
    service: Service, name: str = "frozen", *, may_be_dropped: bool = False
) -> tuple[dict[str, Any], RawWebSocket, int]:
    """A subscriber whose peer stopped reading and whose writer is backed up.

    Drives transitions (its 1 ms timeout and the ignore policy let each pass at
    once) until notify frames pile up in the session's outbox; returns its
    registration, the raw connection and how many transitions it took.
    """
    info = await service.register(name, priority=10, timeout_ms=1, failure_policy="ignore")
    raw = await RawWebSocket.connect(info["ws_url"], info["token"], rcvbuf=4096)
    try:
        assert json.loads((await raw.read_frame()).payload)["type"] == "hello"
        assert shrink_peer_send_buffer(raw)
        raw.stop_reading()
        session = service.app.state.hub._sessions[info["id"]]
        deadline = time.monotonic() + seconds(30)
        operations = 0
        while len(session._outbox) < 3:
            assert time.monotonic() < deadline, "the writer never backed up"
            assert operations < 1000
            if may_be_dropped and session.finished.is_set():
                break  # the service already cut the frozen peer: what the caller waits for
            assert not session.finished.is_set(), "it went away before its buffers filled"
            operation = "online" if operations % 2 == 0 else "offline"
            response = await service.admin.post(f"/api/v1/memory/blocks/12/{operation}", json={})
            assert response.status_code == 200, response.text
            operations += 1
    except BaseException:
        await raw.close()
        raise
    return info, raw, operations


async def test_stops_reading_the_chain_moves_on_at_its_timeout(service: Service) -> None:
    """A peer whose socket buffer is full blocks only its own writer: timeouts, not a stall."""
    ok = await steady(service)
    baseline = task_count()
    hub = service.app.state.hub
    mute: RawWebSocket | None = None
    try:
        async with health_probe(service.server.http) as probe:
            # Fill every buffer between us and the writer: notify frames pile up in
            # the session's outbox once uvicorn's transport refuses more data.
            info, mute, operations = await stuck_subscriber(service, "mute")
            session = hub._sessions[info["id"]]
            assert len(ok.notifications) == 2 * operations  # the others were served throughout
            read = await service.viewer.get("/api/v1/memory")
            assert read.status_code == 200

            # Now a real timeout, with the fail policy: the GOING call ends at 300 ms.
            patch = {"timeout_ms": 300, "failure_policy": "fail"}
            response = await service.admin.patch(f"/api/v1/subscribers/{info['id']}", json=patch)
            assert response.status_code == 200, response.text
            operation = "online" if operations % 2 == 0 else "offline"
            response = await service.admin.post(f"/api/v1/memory/blocks/12/{operation}", json={})
            assert response.status_code == 409, response.text
            record = response.json()["transition"]
        probe.assert_prompt(at_least=5)
        assert len(session._outbox) >= 3  # still stuck: nothing of this reached the peer

        action = "MEM_GOING_ONLINE" if operation == "online" else "MEM_GOING_OFFLINE"
        assert (record["outcome"], record["errno"]) == ("cancelled", ETIMEDOUT)
        assert record["vetoed_by"]["subscriber"] == info["id"]
        going = call_of(record, action, info["id"])
        assert going["delivery"] == "timeout", going
        latency_between(going, 290, 300 + 1000)
        history = await get_json(service, "/api/v1/transitions?limit=1000")
        timeouts = sum(
            c["delivery"] == "timeout"
            for r in history
            for w in r["walks"]
            for c in w["calls"]
            if c["subscriber"] == info["id"]
        )
        assert timeouts >= 2 * operations
        assert await failures(service.anonymous, info["id"], "timeout") == timeouts
        assert await connected_gauge(service.anonymous) == 2  # stuck, but not gone

        # Unregistering drops it at once, even with its writer stuck.
        response = await service.admin.delete(f"/api/v1/subscribers/{info['id']}")
        assert response.status_code == 204
        assert not hub.is_connected(info["id"])
        assert await connected_gauge(service.anonymous) == 1
    finally:
        if mute is not None:
            await mute.close()
    await wait_tasks_at_most(baseline)  # the stuck writer and its session are gone


async def test_a_frozen_peer_is_cut_by_keepalive(tmp_path: Path) -> None:
    """A peer that stops reading with full buffers is a dead peer: keepalive must disconnect it."""
    async with keepalive_service(tmp_path) as service:
        ok = await steady(service)
        info, raw, operations = await stuck_subscriber(service, may_be_dropped=True)
        try:
            hub = service.app.state.hub
            limit = KEEPALIVE["ws_ping_interval"] + KEEPALIVE["ws_ping_timeout"] + 2
            gone = True
            try:
                await wait_for(lambda: not hub.is_connected(info["id"]), timeout=limit)
            except AssertionError:
                gone = False
            session = hub._sessions.get(info["id"])
            backlog = None if session is None else len(session._outbox)
            for i in range(20):  # calls go on meanwhile
                operation = "online" if (operations + i) % 2 == 0 else "offline"
                response = await service.admin.post(
                    f"/api/v1/memory/blocks/12/{operation}", json={}
                )
                assert response.status_code == 200, response.text
            grown = None if session is None else len(session._outbox)
            assert gone, (
                f"still connected {limit:.1f}s after its keepalive should have failed; "
                f"outbox {backlog} -> {grown} frames after 20 more transitions"
            )
            assert await connected_gauge(service.anonymous) == 1
            last = response.json()
            assert last["walks"][0]["calls"][0]["delivery"] == "disconnected"
            assert ok.close_code is None
        finally:
            await raw.close()


async def test_a_frozen_peer_leaving_after_keepalive_logs_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When a peer frozen past its keepalive finally goes, no ASGI exception is logged."""
    caplog.set_level("INFO")
    async with keepalive_service(tmp_path) as service:
        await steady(service)
        _, raw, _ = await stuck_subscriber(service, may_be_dropped=True)
        hub = service.app.state.hub
        # The fault itself, not a readiness wait: stay frozen past ping interval + timeout.
        await asyncio.sleep(KEEPALIVE["ws_ping_interval"] + KEEPALIVE["ws_ping_timeout"] + 0.4)
        await raw.close()
        await wait_for(lambda: len(hub._running) == 1)
        errors = [
            f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
            for r in caplog.records
            if r.levelno >= logging.ERROR
        ]
        assert not errors, errors


# -- replies twice -------------------------------------------------------------


async def test_replies_twice(service: Service) -> None:
    """A duplicate reply is an error frame; it never answers the next notification."""
    twice = await service.subscriber("twice", answer=None, priority=10)
    ok = await steady(service)
    async with health_probe(service.server.http) as probe:
        started = await start_transition(service, "online", 12)
        going = await next_notify(twice, "MEM_GOING_ONLINE")
        await twice.reply(going["id"], "NOTIFY_OK", message="first")
        await twice.reply(going["id"], "NOTIFY_BAD", message="second")
        seen = [await twice.next_frame(), await twice.next_frame()]
        errors = [f for f in seen if f["type"] == "error"]
        online = [f for f in seen if f["type"] == "notify"]
        assert [e["id"] for e in errors] == [going["id"]]
        assert [n["action"] for n in online] == ["MEM_ONLINE"]
        # Once more while MEM_ONLINE awaits its reply: still not taken as that reply.
        await twice.reply(going["id"], "NOTIFY_OK", message="third")
        assert (await next_error(twice))["id"] == going["id"]
        assert await still_running(service, started["id"])
        await twice.reply(online[0]["id"], "NOTIFY_OK", message="online")
        record = await wait_finished(service, started["id"])
    probe.assert_prompt()

    assert record["outcome"] == "completed"
    first = call_of(record, "MEM_GOING_ONLINE", twice.id)
    assert (first["delivery"], first["result"], first["message"]) == (
        "replied",
        "NOTIFY_OK",
        "first",
    )
    assert call_of(record, "MEM_ONLINE", twice.id)["message"] == "online"
    assert ok.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    for delivery in ("timeout", "disconnected"):
        assert await failures(service.anonymous, twice.id, delivery) == 0
    assert await connected_gauge(service.anonymous) == 2
    assert twice.close_code is None  # duplicates are no reason to close


# -- replies late --------------------------------------------------------------


async def test_replies_late(service: Service) -> None:
    """A reply after the deadline gets an error frame; the record keeps the timeout."""
    late = await service.subscriber(
        "late", answer=None, priority=10, timeout_ms=300, failure_policy="fail"
    )
    ok = await steady(service)
    async with health_probe(service.server.http) as probe:
        started = await start_transition(service, "online", 12)
        going = await next_notify(late, "MEM_GOING_ONLINE")
        cancel = await next_notify(late, "MEM_CANCEL_ONLINE")  # sent once the 300 ms ran out
        await late.reply(going["id"], "NOTIFY_OK", message="too late")
        error = await next_error(late)
        assert error["id"] == going["id"]
        assert await still_running(service, started["id"])  # the late reply did not answer CANCEL
        await late.reply(cancel["id"])
        record = await wait_finished(service, started["id"])
    probe.assert_prompt(at_least=5)

    assert (record["outcome"], record["errno"]) == ("cancelled", ETIMEDOUT)
    assert record["vetoed_by"]["subscriber"] == late.id
    call = call_of(record, "MEM_GOING_ONLINE", late.id)
    assert (call["delivery"], call["errno"], call["message"]) == ("timeout", ETIMEDOUT, None)
    latency_between(call, 290, 300 + 1000)
    assert call_of(record, "MEM_CANCEL_ONLINE", late.id)["delivery"] == "replied"
    assert ok.actions() == ["MEM_CANCEL_ONLINE"]
    assert await failures(service.anonymous, late.id, "timeout") == 1
    read = await get_json(service, f"/api/v1/subscribers/{late.id}")
    assert read["counters"]["timeouts"] == 1
    assert late.close_code is None
    assert await connected_gauge(service.anonymous) == 2  # late, but still there


# -- replies to an id it never got -------------------------------------------


async def test_reply_to_an_id_it_never_got(service: Service) -> None:
    """Replying to another subscriber's notification (or a future id) answers nothing."""
    owner = await service.subscriber("owner", answer=None, priority=10)
    impostor = await service.subscriber("impostor", answer=None, priority=5)
    ok = await steady(service)
    async with health_probe(service.server.http) as probe:
        started = await start_transition(service, "online", 12)
        going = await next_notify(owner, "MEM_GOING_ONLINE")
        for wrong in (going["id"], going["id"] + 1, going["id"] + 10**6, -1, 0):
            await impostor.reply(wrong, "NOTIFY_BAD", message="impostor")
            assert (await next_error(impostor))["id"] == wrong
        assert await still_running(service, started["id"])
        await owner.reply(going["id"], "NOTIFY_OK", message="owner")
        theirs = await next_notify(impostor, "MEM_GOING_ONLINE")
        await impostor.reply(theirs["id"])
        for sub in (owner, impostor):
            await sub.reply((await next_notify(sub, "MEM_ONLINE"))["id"])
        record = await wait_finished(service, started["id"])
    probe.assert_prompt()

    assert record["outcome"] == "completed"
    mine = call_of(record, "MEM_GOING_ONLINE", owner.id)
    assert (mine["result"], mine["message"]) == ("NOTIFY_OK", "owner")
    assert call_of(record, "MEM_GOING_ONLINE", impostor.id)["message"] is None
    assert ok.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    assert impostor.close_code is None
    for sub in (owner, impostor):
        assert await failures(service.anonymous, sub.id, "timeout") == 0
    assert await connected_gauge(service.anonymous) == 3


# -- binary frames -------------------------------------------------------------


async def test_binary_frames(service: Service) -> None:
    """A binary frame, even one holding a valid reply, is an error frame; the text reply counts."""
    binary = await service.subscriber("binary", answer=None, priority=10)
    ok = await steady(service)
    async with health_probe(service.server.http) as probe:
        started = await start_transition(service, "online", 12)
        going = await next_notify(binary, "MEM_GOING_ONLINE")
        payload = json.dumps({"type": "reply", "id": going["id"], "result": "NOTIFY_BAD"})
        assert binary.ws is not None
        await binary.ws.send(payload.encode())
        await binary.ws.send(b"\x00\xff" * 100)
        for _ in range(2):
            assert (await next_error(binary))["id"] is None
        assert await still_running(service, started["id"])
        await binary.reply(going["id"], "NOTIFY_OK")
        await binary.reply((await next_notify(binary, "MEM_ONLINE"))["id"])
        record = await wait_finished(service, started["id"])
    probe.assert_prompt()

    assert record["outcome"] == "completed"
    call = call_of(record, "MEM_GOING_ONLINE", binary.id)
    assert (call["delivery"], call["result"]) == ("replied", "NOTIFY_OK")
    assert ok.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    assert binary.close_code is None
    assert await failures(service.anonymous, binary.id, "disconnected") == 0
    assert await connected_gauge(service.anonymous) == 2


# -- huge frames ---------------------------------------------------------------


@pytest.mark.parametrize("shape", ["one frame", "fragmented"])
async def test_huge_frame_mid_notification_closes_1009(service: Service, shape: str) -> None:
    """A message over 64 KiB closes with 1009; the awaited call ends as disconnected."""
    huge = await service.subscriber(
        "huge", answer=None, priority=10, timeout_ms=500, failure_policy="fail"
    )
    ok = await steady(service)
    async with health_probe(service.server.http) as probe:
        started = await start_transition(service, "online", 12)
        await next_notify(huge, "MEM_GOING_ONLINE")
        assert huge.ws is not None
        with contextlib.suppress(ConnectionClosed):
            if shape == "one frame":
                await huge.ws.send("x" * (FRAME_LIMIT + 1))
            else:  # five 16 KiB fragments: each small, the message too big
                await huge.ws.send(["y" * (16 * 1024)] * 5)
        assert await ended(huge) == 1009
        record = await wait_finished(service, started["id"])
    probe.assert_prompt(at_least=5)

    assert (record["outcome"], record["errno"]) == ("cancelled", ENOTCONN)
    going = call_of(record, "MEM_GOING_ONLINE", huge.id)
    assert going["delivery"] == "disconnected"
    latency_between(going, 450, 500 + 1000)
    assert call_of(record, "MEM_CANCEL_ONLINE", huge.id)["delivery"] == "disconnected"
    assert ok.actions() == ["MEM_CANCEL_ONLINE"]
    assert await failures(service.anonymous, huge.id, "disconnected") == 2
    assert await connected_gauge(service.anonymous) == 1


# -- floods --------------------------------------------------------------------


async def test_flooding_replies_closes_1008_after_the_first_counts(service: Service) -> None:
    """500 copies of a reply: the first answers, the flood closes with 1008, the chain goes on."""
    flooder = await service.subscriber("flooder", answer=None, priority=10, timeout_ms=500)
    ok = await steady(service)
    async with health_probe(service.server.http) as probe:
        started = await start_transition(service, "online", 12)
        going = await next_notify(flooder, "MEM_GOING_ONLINE")
        frame = json.dumps({"type": "reply", "id": going["id"], "result": "NOTIFY_OK"})
        assert flooder.ws is not None
        with contextlib.suppress(ConnectionClosed):
            for _ in range(500):
                await flooder.ws.send(frame)
        assert await ended(flooder) == 1008
        record = await wait_finished(service, started["id"])
    probe.assert_prompt()

    assert record["outcome"] == "completed"  # its first reply was NOTIFY_OK
    assert call_of(record, "MEM_GOING_ONLINE", flooder.id)["delivery"] == "replied"
    assert call_of(record, "MEM_ONLINE", flooder.id)["delivery"] == "disconnected"
    assert ok.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    assert await failures(service.anonymous, flooder.id, "disconnected") == 1
    assert await connected_gauge(service.anonymous) == 1
    assert flooder.id not in service.app.state.hub.connected_ids()


async def test_flooding_binary_frames_closes_1008(service: Service) -> None:
    """A burst of binary frames is abuse like any other: 1008, the others unaffected."""
    noisy = await service.subscriber("noisy", answer=None, priority=10, timeout_ms=500)
    ok = await steady(service)
    assert noisy.ws is not None
    with contextlib.suppress(ConnectionClosed):
        for _ in range(300):
            await noisy.ws.send(b"\x01")
    assert await ended(noisy) == 1008
    response = await service.online(12)
    assert response.status_code == 409  # noisy is gone: ENOTCONN under the fail policy
    record = response.json()["transition"]
    assert call_of(record, "MEM_GOING_ONLINE", noisy.id)["delivery"] == "disconnected"
    assert ok.actions() == ["MEM_CANCEL_ONLINE"]
    assert await failures(service.anonymous, noisy.id, "disconnected") == 2


# -- reconnect loop ------------------------------------------------------------


async def test_reconnect_loop_gets_the_same_notification_and_leaks_nothing(
    service: Service,
) -> None:
    """100 reconnects while a notification waits: each gets it again; nothing accumulates."""
    bouncy = await service.subscriber("bouncy", answer=None, priority=10, timeout_ms=60_000)
    ok = await steady(service)
    hub = service.app.state.hub
    baseline = task_count()
    async with health_probe(service.server.http) as probe:
        started = await start_transition(service, "online", 12)
        going = await next_notify(bouncy, "MEM_GOING_ONLINE")
        began = time.monotonic()
        for attempt in range(100):
            assert bouncy.ws is not None
            if attempt % 2:
                bouncy.ws.transport.abort()  # vanish without a close frame
                with contextlib.suppress(Exception):
                    await ended(bouncy)
            else:
                await bouncy.close()
            await bouncy.connect()
            again = await next_notify(bouncy, "MEM_GOING_ONLINE")
            assert again == going, attempt
        elapsed = time.monotonic() - began
        assert elapsed < seconds(30), elapsed
        await bouncy.reply(going["id"], "NOTIFY_OK", message="at last")
        await bouncy.reply((await next_notify(bouncy, "MEM_ONLINE"))["id"])
        record = await wait_finished(service, started["id"])
    probe.assert_prompt(at_least=5)

    assert record["outcome"] == "completed"
    call = call_of(record, "MEM_GOING_ONLINE", bouncy.id)
    assert (call["delivery"], call["message"]) == ("replied", "at last")
    assert ok.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    await wait_for(lambda: len(hub._running) == 2)  # one live session each, none lingering
    assert sorted(hub.connected_ids()) == sorted([bouncy.id, ok.id])
    assert await connected_gauge(service.anonymous) == 2
    for delivery in ("timeout", "disconnected"):
        assert await failures(service.anonymous, bouncy.id, delivery) == 0
    await wait_tasks_at_most(baseline)


async def test_reconnect_loop_of_a_subscriber_nobody_notifies(service: Service) -> None:
    """100 quick connect/close cycles end with one live connection and the baseline task count."""
    info = await service.register("churn")
    ok = await steady(service)
    hub = service.app.state.hub
    baseline = task_count()
    began = time.monotonic()
    async with health_probe(service.server.http) as probe:
        for attempt in range(100):
            raw = await RawWebSocket.connect(info["ws_url"], info["token"])
            assert raw.accepted, attempt
            assert json.loads((await raw.read_frame()).payload)["type"] == "hello"
            if attempt % 2:
                raw.abort()
            else:
                await raw.close()
    probe.assert_prompt()
    assert time.monotonic() - began < seconds(30)
    await wait_for(lambda: not hub.is_connected(info["id"]))
    await wait_for(lambda: len(hub._running) == 1)
    assert hub.connected_ids() == [ok.id]
    assert await connected_gauge(service.anonymous) == 1
    await wait_tasks_at_most(baseline)
    assert (await service.online(12)).status_code == 409  # churn is away: ENOTCONN
