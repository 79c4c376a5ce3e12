"""Real frames from a running hotplugd against its own AsyncAPI document.

A real uvicorn server, real websocket subscribers and a real event-stream
reader: a completed online, an offline vetoed and cancelled, unusable
frames answered with ``error``, a replaced connection, an unregistered
subscriber, and every other kind of state change. Every frame received
(and every reply sent) must match the payload schema of its message in the
document the server serves at ``/api/v1/asyncapi.json``, with no member the
schema does not declare; every close code seen must be documented.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.docs import SchemaCheck
from tests.support.events import Event, EventReader, event_stream
from tests.support.hotplug import (
    VIEWER_TOKEN,
    ScriptedSubscriber,
    Service,
    next_notify,
    start_transition,
    wait_finished,
)
from tests.support.server import wait_for

Frame = dict[str, Any]


class Contract:
    """The served AsyncAPI document, as a checker of frames and events."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.schemas = SchemaCheck(document, strict=True, draft7=True)

    def payload(self, channel: str, message: str) -> str:
        """The JSON pointer of a channel message's payload schema (via the channel's list)."""
        ref: str = self.document["channels"][channel]["messages"][message]["$ref"]
        return ref[1:] + "/payload"

    def check_frame(self, frame: Frame) -> None:
        """A subscriber-channel frame matches the message its ``type`` names."""
        self.schemas.check(frame, self.payload("subscriber", frame["type"]))

    def check_event(self, event: Event) -> None:
        """A CloudEvent matches the message of its ``type``."""
        self.schemas.check(event, self.payload("events", event["type"]))

    def close_codes(self, channel: str) -> set[int]:
        """The close codes the document describes for a channel."""
        return {int(code) for code in self.document["channels"][channel]["x-close-codes"]}


async def served_contract(service: Service) -> Contract:
    """The document from the running server, fetched without a token."""
    response = await service.anonymous.get("/api/v1/asyncapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["servers"]["hotplugd"]["host"] == f"127.0.0.1:{service.server.port}"
    return Contract(document)


async def replied(sub: ScriptedSubscriber, sent: list[Frame], frame: Frame) -> None:
    """Send a reply by hand, keeping it to check against the document."""
    sent.append(frame)
    await sub.send(frame)


async def drive_the_chain(service: Service, manual: ScriptedSubscriber, sent: list[Frame]) -> None:
    """A completed online, then an offline vetoed by ``manual`` and cancelled."""
    record = await start_transition(service, "online", 12, online_type="online_movable")
    notify_id = await next_notify(manual, "MEM_GOING_ONLINE")
    await replied(manual, sent, {"type": "reply", "id": notify_id, "result": "NOTIFY_OK"})
    notify_id = await next_notify(manual, "MEM_ONLINE")
    await replied(manual, sent, {"type": "reply", "id": notify_id, "result": 1})
    assert (await wait_finished(service, record["id"]))["outcome"] == "completed"

    record = await start_transition(service, "offline", 12)
    notify_id = await next_notify(manual, "MEM_GOING_OFFLINE")
    veto = {"type": "reply", "id": notify_id, "errno": -16, "message": "pinned pages"}
    await replied(manual, sent, veto)
    notify_id = await next_notify(manual, "MEM_CANCEL_OFFLINE")
    await replied(manual, sent, {"type": "reply", "id": notify_id, "result": "NOTIFY_DONE"})
    finished = await wait_finished(service, record["id"])
    assert finished["outcome"] == "cancelled"
    assert finished["vetoed_by"]["name"] == manual.name

    # unusable frames: a reply for an answered id, and something that is not JSON
    await replied(manual, sent, {"type": "reply", "id": notify_id, "result": "NOTIFY_OK"})
    await manual.send("this is not json")
    errors = [await manual.next_frame(), await manual.next_frame()]
    assert [e["type"] for e in errors] == ["error", "error"]
    assert [e["id"] for e in errors] == [notify_id, None]


async def change_everything_else(
    service: Service, auto: ScriptedSubscriber, manual: ScriptedSubscriber, stream: EventReader
) -> ScriptedSubscriber:
    """Update, flag, probe, remove, replace a connection, unregister; the new connection."""
    response = await service.admin.patch(f"/api/v1/subscribers/{auto.id}", json={"priority": 20})
    assert response.status_code == 200, response.text
    response = await service.admin.patch("/api/v1/memory/blocks/14", json={"migration_ms": 5})
    assert response.status_code == 200, response.text
    response = await service.admin.post("/api/v1/memory/probe", json={"node": 3, "count": 1})
    assert response.status_code == 201, response.text
    added = response.json()["blocks"][0]["id"]
    assert (await service.admin.delete(f"/api/v1/memory/blocks/{added}")).status_code == 200

    newer = ScriptedSubscriber(service, auto.info)  # same subscriber, second connection
    await newer.connect()
    await wait_for(lambda: auto.close_code is not None)
    assert auto.close_code == 4001

    assert (await service.admin.delete(f"/api/v1/subscribers/{manual.id}")).status_code == 204
    await wait_for(lambda: manual.close_code is not None)
    assert manual.close_code == 4004
    await stream.wait_for("hotplug.subscriber.disconnected", lambda e: e["data"]["code"] == 4004)
    return newer


async def test_real_frames_match_the_asyncapi_document(service: Service) -> None:
    """Every frame and event of a veto, a cancel and a completion fits its message schema."""
    contract = await served_contract(service)
    sent: list[Frame] = []
    async with event_stream(service.server.ws, VIEWER_TOKEN) as stream:
        auto = await service.subscriber("page-cache", priority=10)
        manual = await service.subscriber("balloon", answer=None)
        await drive_the_chain(service, manual, sent)
        newer = await change_everything_else(service, auto, manual, stream)
        events = list(stream.events)

    received = [
        *(sub.hello for sub in (auto, manual, newer)),
        *auto.frames,
        *manual.frames,
        *newer.frames,
    ]
    for frame in received:
        assert frame is not None
        contract.check_frame(frame)
    assert {frame["type"] for frame in received if frame} == {"hello", "notify", "error"}
    for frame in sent:
        contract.check_frame(frame)
    # what the scripted subscriber answers on its own
    contract.check_frame(
        {"type": "reply", "id": auto.notifications[0]["id"], "result": "NOTIFY_OK"}
    )

    for event in events:
        contract.check_event(event)
    documented = set(contract.document["channels"]["events"]["messages"])
    assert {e["type"] for e in events} == documented - {"hotplug.stream.gap"}

    seen_codes = {auto.close_code, manual.close_code}
    assert seen_codes <= contract.close_codes("subscriber")
    codes = {e["data"]["code"] for e in events if e["type"] == "hotplug.subscriber.disconnected"}
    assert codes <= contract.close_codes("subscriber")


async def test_a_replay_with_a_gap_matches_the_document(service: Service) -> None:
    """?since= an id no longer retained: the gap event, then the replay, all as documented."""
    contract = await served_contract(service)
    await service.register("early")
    async with event_stream(service.server.ws, VIEWER_TOKEN, since=1) as replay:
        await replay.wait_for("hotplug.subscriber.registered")
        events = list(replay.events)
    assert events[0]["type"] == "hotplug.stream.gap"
    assert events[0]["data"]["since"] == 1
    for event in events:
        contract.check_event(event)


async def test_a_broken_frame_would_be_caught(service: Service) -> None:
    """The check is not vacuous: real frames, altered, fail against the document."""
    contract = await served_contract(service)
    sub = await service.subscriber("checker")
    hello = dict(sub.hello or {})
    contract.check_frame(hello)
    broken = [
        {**hello, "protocol": 2},
        {**hello, "subscriber": {**hello["subscriber"], "priority": "high"}},
        {**hello, "extra": True},
        {"type": "error", "message": "no id member"},
    ]
    for frame in broken:
        assert contract.schemas.errors(frame, contract.payload("subscriber", frame["type"])), (
            json.dumps(frame)
        )
