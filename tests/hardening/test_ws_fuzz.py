"""Websocket fuzzing (issue 8): bad frames, bad handshakes, floods; the chain keeps working.

SPEC §6: a frame the service cannot use gets ``{"type": "error", "id":
int|null, "message": str}`` and the connection stays open (until 20
unusable frames in a row, or a flood: 1008); frames over 64 KiB close with
1009; websocket protocol violations close as RFC 6455 says (1002, 1007);
a handshake without the right token is refused and gets no frame. Every
test keeps a well-behaved subscriber in the chain and checks that it was
served throughout: transitions complete, it never lost its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import struct
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from tests.support.faults import (
    fast_data_dir,
    health_probe,
    service_with_server_options,
    task_count,
    wait_tasks_at_most,
)
from tests.support.hotplug import (
    ADMIN_TOKEN,
    VIEWER_TOKEN,
    ScriptedSubscriber,
    Service,
    running_service,
)
from tests.support.rawws import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    RawWebSocket,
)
from tests.support.server import seconds, wait_for

SOAK = os.environ.get("HOTPLUG_SOAK") == "1"
RANDOM_FRAMES = 5_000 if SOAK else 400
FLOOD = 1_000 if SOAK else 300
BATCH = 15  # unusable frames per connection, under the 20-in-a-row limit
FRAME_LIMIT = 64 * 1024
UNUSED_NODE = 1023  # fuzzing subscribers filter on it, so they are never notified


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """A hotplugd whose SQLite lives on tmpfs."""
    with fast_data_dir(tmp_path) as data_dir:
        async with running_service(tmp_path, data_dir=data_dir) as running:
            yield running


@pytest.fixture
async def steady(service: Service) -> ScriptedSubscriber:
    """The well-behaved subscriber that must be served throughout (NOTIFY_OK to all)."""
    return await service.subscriber("steady", priority=100, timeout_ms=5_000)


async def chain_still_works(service: Service, steady: ScriptedSubscriber) -> None:
    """One online/offline round trip through the chain; the steady subscriber served both."""
    before = len(steady.notifications)
    block = await service.block(12)
    operation = "offline" if block["state"] == "online" else "online"
    response = await service.admin.post(f"/api/v1/memory/blocks/12/{operation}", json={})
    assert response.status_code == 200, response.text
    assert len(steady.notifications) == before + 2
    assert steady.close_code is None
    assert service.app.state.hub.is_connected(steady.id)


async def fuzz_subscriber(service: Service, name: str = "fuzzer") -> ScriptedSubscriber:
    """A connected subscriber that is never notified (it filters on an unused node)."""
    return await service.subscriber(name, answer=None, nodes=[UNUSED_NODE])


def expected_error_id(text: str) -> int | None:
    """The ``id`` an error frame must echo: the frame's integer id when it has one."""
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(frame, dict):
        return None
    value = frame.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def send_and_expect_errors(sub: ScriptedSubscriber, texts: list[str]) -> None:
    """Send each text frame; each gets exactly one matching error frame, the connection stays."""
    for start in range(0, len(texts), BATCH):
        for text in texts[start : start + BATCH]:
            await sub.send(text)
            error = await sub.next_frame()
            assert error["type"] == "error", (text[:200], error)
            assert error["id"] == expected_error_id(text), (text[:200], error)
            assert isinstance(error["message"], str), error
            assert 0 < len(error["message"]) <= 1024, error
        assert sub.close_code is None
        await sub.close()  # a fresh connection resets the unusable-frames-in-a-row count
        await sub.connect()
        sub.close_code = None


# -- hand-picked bad frames ------------------------------------------------------

REPLY = {"type": "reply", "id": 4242, "result": "NOTIFY_OK"}
WRONG_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**31,
    -(2**31) - 1,
    2**63 - 1,
    -(2**63),
    "",
    "x",
    "NOTIFY_OK",
    "4242",
    [],
    {},
    [4242],
    {"id": 4242},
    "\u0000",
    "\u202e",
    "\U0001f600" * 300,
]


def mistyped_frames() -> list[str]:
    """A reply with each field replaced by each wrong value, and with each field missing."""
    frames = []
    for key in ("type", "id", "result", "errno", "message"):
        for value in WRONG_VALUES:
            frames.append(json.dumps({**REPLY, key: value}))
        if key in REPLY:
            frames.append(json.dumps({k: v for k, v in REPLY.items() if k != key}))
    return frames


MALFORMED = [
    "",
    " ",
    "{",
    "}",
    "[",
    '{"type":',
    '{"type": "reply",}',
    "{'type': 'reply', 'id': 1}",
    "null",
    "true",
    "1",
    '"reply"',
    "[]",
    "[1, 2, 3]",
    "NaN",
    '{"type": "reply", "id": NaN, "result": "NOTIFY_OK"}',
    '{"type": "reply", "id": 1, "result": "NOTIFY_OK"} trailing',
    '{"type": "reply", "id": 1, "result": "NOTIFY_OK"}{"type": "reply"}',
    "\u0000",
    '{"type": "reply", "id": 1}\u0000',
    "\ufeff" + json.dumps(REPLY),
    '{"type": "reply", "id": 18446744073709551616, "result": "NOTIFY_OK"}',
    '{"type": "reply", "id": -9223372036854775809, "result": "NOTIFY_OK"}',
    '{"type": "reply", "id": 1e3, "result": "NOTIFY_OK"}',
    '{"type": "reply", "id": 1, "result": "NOTIFY_OK", "message": "\\ud800"}',
    '{"type": "reply", "id": 1, "result": "NOTIFY_OK", "id": 2}',
    '{"a":' * 2000 + "1" + "}" * 2000,
    "[" * 10_000 + "]" * 10_000,
    "[" * 20_000,
    json.dumps({**REPLY, "extra": "x" * 50_000}),
    json.dumps({**REPLY, "message": "m" * 1025}),
]
UNKNOWN_TYPES = [
    "subscribe",
    "hello",
    "notify",
    "error",
    "ping",
    "pong",
    "REPLY",
    "Reply",
    "reply ",
    " reply",
    "reply\u0000",
    "",
]


async def test_malformed_json_frames(service: Service, steady: ScriptedSubscriber) -> None:
    """Truncated, trailing, scalar, deep, NaN, BOM, NUL, out-of-range: one error frame each."""
    sub = await fuzz_subscriber(service)
    await send_and_expect_errors(sub, MALFORMED)
    await chain_still_works(service, steady)


async def test_wrong_types_in_every_field(service: Service, steady: ScriptedSubscriber) -> None:
    """Each field of a reply, set to each wrong type or left out: one error frame each."""
    sub = await fuzz_subscriber(service)
    frames = mistyped_frames()
    assert len(frames) > 100
    await send_and_expect_errors(sub, frames)
    await chain_still_works(service, steady)


async def test_unknown_message_types(service: Service, steady: ScriptedSubscriber) -> None:
    """Frames of any type but "reply" (or of a type that is not a string): error frames."""
    sub = await fuzz_subscriber(service)
    frames = [json.dumps({**REPLY, "type": t}) for t in UNKNOWN_TYPES]
    frames += [json.dumps({**REPLY, "type": v}) for v in (1, None, [], {"reply": 1}, True)]
    await send_and_expect_errors(sub, frames)
    await chain_still_works(service, steady)


# -- generated frames ------------------------------------------------------------


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value biased towards the values that break parsers."""
    kinds = ["int", "bigint", "float", "str", "bool", "null"]
    if depth < 4:
        kinds += ["list", "dict", "dict"]
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, 1, -1, 2**31 - 1, -(2**31), 4242, rng.randint(-(10**6), 10**6)])
    if kind == "bigint":
        return rng.choice([2**63 - 1, -(2**63), 2**31, 10**18])
    if kind == "float":
        return rng.choice([0.0, -0.0, 1.5, 1e308, -1e-308, 4242.0])
    if kind == "str":
        alphabet = 'aZ09 _-\u0000\u202e\u200f\ufeff\U0001f600\u0301"\\/\n\t'
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
    if kind == "bool":
        return rng.choice([True, False])
    if kind == "null":
        return None
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["type", "id", "result", "errno", "message", "x", "", "\u0000"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def random_frame(rng: random.Random) -> str:
    """A random JSON value, a mutated valid reply, or a byte-mangled one."""
    choice = rng.random()
    if choice < 0.35:
        return json.dumps(random_json(rng))
    reply: dict[str, Any] = {
        "type": "reply",
        "id": rng.choice([4242, 0, -1, 2**40]),
        "result": rng.choice(["NOTIFY_OK", "NOTIFY_BAD", "NOTIFY_STOP", "NOTIFY_DONE", 1]),
    }
    if rng.random() < 0.3:
        reply["errno"] = rng.choice([-1, -16, -4095, -110])
    if rng.random() < 0.3:
        reply["message"] = random_json(rng)
    for key in rng.sample(list(reply), rng.randint(0, 2)):
        reply[key] = random_json(rng)
    text = json.dumps(reply)
    if choice < 0.8:
        return text
    pos = rng.randrange(len(text) + 1)
    mangle = rng.choice(["cut", "insert", "drop"])
    if mangle == "cut":
        return text[:pos]
    if mangle == "insert":
        return text[:pos] + rng.choice(['"', "{", "]", ",", "\u0000", "\\", "NaN"]) + text[pos:]
    return text[:pos] + text[pos + 1 :]


async def test_random_frames_never_break_the_channel(
    service: Service, steady: ScriptedSubscriber
) -> None:
    """Hundreds of seeded random frames (5,000 in soak): each answered by a matching error frame."""
    seed = int(os.environ.get("HOTPLUG_FUZZ_SEED", "20240611"))
    rng = random.Random(seed)
    frames = [random_frame(rng) for _ in range(RANDOM_FRAMES)]
    sub = await fuzz_subscriber(service)
    began = time.monotonic()
    for start in range(0, len(frames), 100):
        await send_and_expect_errors(sub, frames[start : start + 100])
        await chain_still_works(service, steady)
    assert time.monotonic() - began < seconds(60 if not SOAK else 600)


async def test_near_miss_replies_do_not_answer_the_pending_notification(
    service: Service, steady: ScriptedSubscriber
) -> None:
    """While a notification waits: near-miss replies are refused, only the real one counts."""
    sub = await service.subscriber("careful", answer=None, priority=10, timeout_ms=10_000)
    task = asyncio.create_task(service.online(12))
    going = await sub.next_frame()
    assert going["action"] == "MEM_GOING_ONLINE"
    nid = going["id"]
    bad = "NOTIFY_BAD"
    near_misses = [
        ({"type": "reply", "id": str(nid), "result": bad}, None),
        ({"type": "reply", "id": float(nid), "result": bad}, None),
        ({"type": "reply", "id": [nid], "result": bad}, None),
        ({"type": "Reply", "id": nid, "result": bad}, nid),
        ({"type": "reply", "id": nid, "result": "notify_bad"}, nid),
        ({"type": "reply", "id": nid, "result": bad.lower()}, nid),
        ({"type": "reply", "id": nid, "result": 2**31}, nid),
        ({"type": "reply", "id": nid, "result": 1.0}, nid),
        ({"type": "reply", "id": nid, "result": True}, nid),
        ({"type": "reply", "id": nid, "errno": 0}, nid),
        ({"type": "reply", "id": nid, "errno": -4096}, nid),
        ({"type": "reply", "id": nid, "errno": 16}, nid),
        ({"type": "reply", "id": nid, "result": bad, "message": 5}, nid),
        ({"type": "reply", "id": nid, "result": bad, "message": "m" * 1025}, nid),
        ({"type": "reply", "id": nid + 1, "result": bad}, nid + 1),
        ({"type": "reply", "id": nid - 1, "result": bad}, nid - 1),
    ]
    for frame, expected in near_misses:
        await sub.send(frame)
        error = await sub.next_frame()
        assert (error["type"], error["id"]) == ("error", expected), (frame, error)
    assert not task.done()
    await sub.reply(nid, "NOTIFY_OK", message="the real one")
    online = await sub.next_frame()
    assert online["action"] == "MEM_ONLINE"
    await sub.reply(online["id"])
    record = (await asyncio.wait_for(task, seconds(10))).json()
    assert record["outcome"] == "completed"
    call = next(c for c in record["walks"][0]["calls"] if c["subscriber"] == sub.id)
    assert (call["result"], call["message"]) == ("NOTIFY_OK", "the real one")
    assert sub.close_code is None
    assert steady.close_code is None


async def test_reply_messages_with_odd_unicode_survive_the_record(
    service: Service, steady: ScriptedSubscriber
) -> None:
    """NUL, RTL, emoji and combining marks in a reply message end up intact in the record."""
    messages = ["a\u0000b", "\u202eevil\u200f", "\U0001f600" * 1024, "e" + "\u0301" * 1000]
    sub = await service.subscriber("unicode", answer=None, priority=10)

    def mine(record: dict[str, Any]) -> dict[str, Any]:
        going: dict[str, Any] = record["walks"][0]
        return next(c for c in going["calls"] if c["subscriber"] == sub.id)

    for message in messages:
        task = asyncio.create_task(service.online(12))
        await sub.reply((await sub.next_frame())["id"], "NOTIFY_OK", message=message)
        await sub.reply((await sub.next_frame())["id"])
        record = (await asyncio.wait_for(task, seconds(10))).json()
        assert record["outcome"] == "completed", record
        assert mine(record)["message"] == message
        stored = await service.viewer.get(f"/api/v1/transitions/{record['id']}")
        assert mine(stored.json())["message"] == message
        back = asyncio.create_task(service.offline(12))
        await sub.reply((await sub.next_frame())["id"])
        await sub.reply((await sub.next_frame())["id"])
        assert (await asyncio.wait_for(back, seconds(10))).status_code == 200
    assert steady.close_code is None


# -- oversized frames and protocol violations ------------------------------------


async def raw_subscriber(
    service: Service, name: str = "raw"
) -> tuple[dict[str, Any], RawWebSocket]:
    """A registered, never-notified subscriber connected with the raw client (hello read)."""
    info = await service.register(name, nodes=[UNUSED_NODE])
    raw = await RawWebSocket.connect(info["ws_url"], info["token"])
    assert raw.accepted
    assert json.loads((await raw.read_frame()).payload)["type"] == "hello"
    return info, raw


async def test_a_frame_of_exactly_64_kib_is_accepted(
    service: Service, steady: ScriptedSubscriber
) -> None:
    """65,536 bytes is within the limit: an error frame (not a reply), the connection stays."""
    _, raw = await raw_subscriber(service)
    try:
        raw.send_frame(OP_TEXT, b" " * (FRAME_LIMIT - 2) + b"{}")
        error = json.loads((await raw.read_frame()).payload)
        assert error["type"] == "error"
        raw.send_frame(OP_BINARY, b"\x00" * FRAME_LIMIT)
        assert json.loads((await raw.read_frame()).payload)["type"] == "error"
    finally:
        await raw.close()
    await chain_still_works(service, steady)


OVERSIZED: dict[str, Callable[[RawWebSocket], None]] = {
    "text 64 KiB + 1": lambda r: r.send_frame(OP_TEXT, b"x" * (FRAME_LIMIT + 1)),
    "binary 64 KiB + 1": lambda r: r.send_frame(OP_BINARY, b"x" * (FRAME_LIMIT + 1)),
    "1 MiB": lambda r: r.send_frame(OP_TEXT, b"x" * (1 << 20)),
    "declared 2**62, never sent": lambda r: r.send_frame(OP_TEXT, b"", declared_length=2**62),
    "declared 2**63 - 1 binary": lambda r: r.send_frame(OP_BINARY, b"", declared_length=2**63 - 1),
    "fragments adding up": lambda r: (
        r.send_frame(OP_TEXT, b"x" * 40_000, fin=False),
        r.send_frame(OP_CONT, b"x" * 40_000),
    ),
    "many small fragments": lambda r: (
        r.send_frame(OP_TEXT, b"y" * 1_000, fin=False),
        *[r.send_frame(OP_CONT, b"y" * 1_000, fin=False) for _ in range(70)],
        r.send_frame(OP_CONT, b"y"),
    ),
}


@pytest.mark.parametrize("shape", list(OVERSIZED))
async def test_oversized_frames_close_1009(
    service: Service, steady: ScriptedSubscriber, shape: str
) -> None:
    """Anything over 64 KiB, whole or in fragments, or merely declared: closed with 1009."""
    info, raw = await raw_subscriber(service)
    try:
        OVERSIZED[shape](raw)
        with contextlib.suppress(ConnectionError):
            await raw.drain()
        frames, code = await raw.read_until_close()
        assert code == 1009, (shape, frames)
    finally:
        await raw.close()
    await wait_for(lambda: not service.app.state.hub.is_connected(info["id"]))
    await chain_still_works(service, steady)


async def test_oversized_frame_on_the_event_stream_closes_1009(
    service: Service, steady: ScriptedSubscriber
) -> None:
    """The dashboards' read-only stream has the same 64 KiB limit."""
    raw = await RawWebSocket.connect(f"{service.server.ws}/api/v1/events", VIEWER_TOKEN)
    try:
        assert raw.accepted
        raw.send_frame(OP_TEXT, b"x" * (FRAME_LIMIT + 1))
        _, code = await raw.read_until_close()
        assert code == 1009
    finally:
        await raw.close()
    await chain_still_works(service, steady)


VIOLATIONS: dict[str, tuple[Callable[[RawWebSocket], None], int]] = {
    "unmasked client frame": (lambda r: r.send_frame(OP_TEXT, b"{}", mask=False), 1002),
    "reserved bits set": (lambda r: r.send_frame(OP_TEXT, b"{}", rsv=4), 1002),
    "reserved opcode 0x3": (lambda r: r.send_frame(0x3, b"{}"), 1002),
    "reserved control opcode 0xB": (lambda r: r.send_frame(0xB, b""), 1002),
    "control frame of 126 bytes": (lambda r: r.send_frame(OP_PING, b"x" * 126), 1002),
    "fragmented ping": (lambda r: r.send_frame(OP_PING, b"x", fin=False), 1002),
    "continuation without a start": (lambda r: r.send_frame(OP_CONT, b"x"), 1002),
    "new message inside a fragmented one": (
        lambda r: (r.send_frame(OP_TEXT, b"x", fin=False), r.send_frame(OP_TEXT, b"y")),
        1002,
    ),
    "text that is not UTF-8": (lambda r: r.send_frame(OP_TEXT, b"\xff\xfe{}"), 1007),
    "close with code 999": (lambda r: r.send_frame(OP_CLOSE, struct.pack("!H", 999)), 1002),
    "close with reserved 1005": (lambda r: r.send_frame(OP_CLOSE, struct.pack("!H", 1005)), 1002),
    "close with a 1-byte body": (lambda r: r.send_frame(OP_CLOSE, b"\x03"), 1002),
    "close with a bad UTF-8 reason": (
        lambda r: r.send_frame(OP_CLOSE, struct.pack("!H", 1000) + b"\xff"),
        1007,
    ),
}


@pytest.mark.parametrize("violation", list(VIOLATIONS))
async def test_protocol_violations_close_with_the_rfc_6455_code(
    service: Service, steady: ScriptedSubscriber, violation: str
) -> None:
    """Frames that break RFC 6455 close the connection with 1002 (or 1007 for bad UTF-8)."""
    send, expected = VIOLATIONS[violation]
    info, raw = await raw_subscriber(service)
    try:
        send(raw)
        frames, code = await raw.read_until_close()
        assert code == expected, (violation, frames)
    finally:
        await raw.close()
    await wait_for(lambda: not service.app.state.hub.is_connected(info["id"]))
    await chain_still_works(service, steady)


async def test_pings_are_answered_and_harmless(
    service: Service, steady: ScriptedSubscriber
) -> None:
    """A client's pings get pongs with the same payload and count as nothing else."""
    _, raw = await raw_subscriber(service)
    try:
        for payload in (b"", b"x" * 125, b"\x00\xff"):
            raw.send_frame(OP_PING, payload)
            pong = await raw.read_frame()
            assert (pong.opcode, pong.payload) == (0xA, payload)
        raw.send_text("{}")
        assert json.loads((await raw.read_frame()).payload)["type"] == "error"
    finally:
        await raw.close()
    await chain_still_works(service, steady)


# -- tokens and handshakes ---------------------------------------------------------


def bad_credentials(info: dict[str, Any], other: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Ways of presenting a token that is not this subscriber's (url suffix, headers)."""
    token = info["token"]
    header = "Authorization"
    return {
        "none": {},
        "empty bearer": {"headers": {header: "Bearer "}},
        "bearer and spaces": {"headers": {header: "Bearer    "}},
        "basic scheme": {"headers": {header: f"Basic {token}"}},
        "no scheme": {"headers": {header: token}},
        "prefix of the token": {"headers": {header: f"Bearer {token[:-1]}"}},
        "token plus a byte": {"headers": {header: f"Bearer {token}x"}},
        "upper-cased token": {"headers": {header: f"Bearer {token.upper()}"}},
        "token with a space inside": {"headers": {header: f"Bearer {token[:10]} {token[10:]}"}},
        "another subscriber's token": {"headers": {header: f"Bearer {other['token']}"}},
        "admin token": {"headers": {header: f"Bearer {ADMIN_TOKEN}"}},
        "viewer token": {"headers": {header: f"Bearer {VIEWER_TOKEN}"}},
        "4 KiB token": {"headers": {header: "Bearer " + "t" * 4096}},
        "wrong query token": {"query": "access_token=nope-nope-nope"},
        "empty query token": {"query": "access_token="},
        "other's query token": {"query": f"access_token={other['token']}"},
        "unicode query token": {"query": "access_token=" + quote("t\u00f6ken\U0001f600")},
        "NUL query token": {"query": "access_token=%00"},
        "token in a cookie": {"headers": {"Cookie": f"access_token={token}"}},
        "token as subprotocol": {"headers": {"Sec-WebSocket-Protocol": token}},
        "wrong header, right query": {
            "headers": {header: "Bearer nope-nope-nope"},
            "query": f"access_token={token}",
        },
    }


async def refused(url: str, variant: dict[str, Any]) -> int:
    """Attempt a handshake; the HTTP status of the refusal (fails on 101)."""
    if "query" in variant:
        url = f"{url}?{variant['query']}"
    raw = await RawWebSocket.connect(url, None, extra_headers=variant.get("headers"))
    try:
        assert raw.status is not None
        assert not raw.accepted, (url, variant, raw.response_head)
        return raw.status
    finally:
        await raw.close()


async def test_wrong_tokens_are_refused_without_a_frame(
    service: Service, steady: ScriptedSubscriber
) -> None:
    """Every wrong way of presenting a token is refused (401/403) at the handshake."""
    info = await service.register("guarded", nodes=[UNUSED_NODE])
    other = await service.register("other", nodes=[UNUSED_NODE])
    for label, variant in bad_credentials(info, other).items():
        status = await refused(info["ws_url"], variant)
        assert status in (401, 403), (label, status)
    read = await service.viewer.get(f"/api/v1/subscribers/{info['id']}")
    assert read.json()["connected"] is False
    await chain_still_works(service, steady)


@pytest.mark.parametrize(
    "subscriber_id",
    ["sub-ffffffffffff", "", "..", "..%2F..%2Fevents", "%00", "x" * 2000, "%F0%9F%98%80"],
)
async def test_unknown_subscriber_ids_are_refused(
    service: Service, steady: ScriptedSubscriber, subscriber_id: str
) -> None:
    """The right token for the wrong (unknown, odd) subscriber path never opens a channel."""
    info = await service.register("real", nodes=[UNUSED_NODE])
    url = f"{service.server.ws}/api/v1/subscribers/{subscriber_id}/ws"
    status = await refused(url, {"headers": {"Authorization": f"Bearer {info['token']}"}})
    assert status in (401, 403, 404), status
    await chain_still_works(service, steady)


async def test_event_stream_refuses_wrong_tokens(
    service: Service, steady: ScriptedSubscriber
) -> None:
    """The event stream: no token or a bad one is 401, a subscriber's token is 403."""
    info = await service.register("not-a-viewer", nodes=[UNUSED_NODE])
    url = f"{service.server.ws}/api/v1/events"
    assert await refused(url, {}) == 401
    assert await refused(url, {"query": "access_token=nope-nope-nope"}) == 401
    assert await refused(url, {"headers": {"Authorization": f"Bearer {info['token']}"}}) == 403
    assert await refused(url, {"query": f"access_token={VIEWER_TOKEN}&since=-1"}) == 400
    await chain_still_works(service, steady)


async def test_handshake_flood_with_bad_tokens(
    service: Service, steady: ScriptedSubscriber
) -> None:
    """300 bad-token handshakes, 50 at a time, while transitions run: all refused, none hurt."""
    info = await service.register("target", nodes=[UNUSED_NODE])
    baseline = task_count()
    tokens = ["nope-nope-nope-nope", "", info["token"][:-1], ADMIN_TOKEN, "x" * 4096]
    limit = asyncio.Semaphore(50)
    statuses: dict[int, int] = {}
    transitions = 0

    def target(i: int) -> tuple[str, str]:
        """Two thirds at the subscriber channel, one third at the event stream."""
        token = tokens[i % len(tokens)]
        return (info["ws_url"] if i % 3 else f"{service.server.ws}/api/v1/events"), token

    async def attempt(i: int) -> None:
        async with limit:
            url, token = target(i)
            raw = await RawWebSocket.connect(url, token or None)
            try:
                assert raw.status is not None
                statuses[i] = raw.status
            finally:
                await raw.close()

    async def flood() -> None:
        await asyncio.gather(*(attempt(i) for i in range(FLOOD)))

    flood_over = asyncio.Event()

    async def keep_the_chain_busy() -> None:
        nonlocal transitions
        while not flood_over.is_set() and transitions < 500:
            await chain_still_works(service, steady)
            transitions += 1

    began = time.monotonic()
    async with health_probe(service.server.http) as probe:
        busy = asyncio.create_task(keep_the_chain_busy())
        try:
            await asyncio.wait_for(flood(), seconds(60))
        finally:
            flood_over.set()
            await asyncio.wait_for(busy, seconds(30))
    elapsed = time.monotonic() - began
    probe.assert_prompt(limit=1.0)
    assert len(statuses) == FLOOD
    for i, status in statuses.items():
        url, token = target(i)
        may_read_events = url.endswith("/events") and token == ADMIN_TOKEN
        assert status == (101 if may_read_events else 401), (url, token[:20], status)
    assert transitions >= 1
    assert elapsed < seconds(60), elapsed
    await chain_still_works(service, steady)
    hub = service.app.state.hub
    assert hub.connected_ids() == [steady.id]
    await wait_tasks_at_most(baseline)
    print(f"\n{FLOOD} handshakes in {elapsed:.1f}s with {transitions} transitions meanwhile")


async def open_handshake(service: Service, path: str, extra_headers: str) -> bytes:
    """Send a websocket upgrade request by hand; what the server answers within 5 s (or b"")."""
    reader, writer = await asyncio.open_connection("127.0.0.1", service.server.port)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{service.server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"{extra_headers}\r\n"
    )
    try:
        writer.write(request.encode())
        await writer.drain()
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(reader.read(200), seconds(5))
        return b""
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), seconds(5))


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        pytest.param(
            "/api/v1/events",
            "Authorization: Bearer " + "t" * 9_000 + "\r\n",
            id="9 KB header line",
        ),
        pytest.param(
            "/api/v1/subscribers/sub-x/ws",
            "".join(f"X-Pad-{i}: v\r\n" for i in range(200)),
            id="200 headers",
        ),
    ],
)
async def test_an_unparsable_handshake_is_answered_not_left_hanging(
    service: Service, steady: ScriptedSubscriber, extra: str, path: str
) -> None:
    """An upgrade request too big to parse gets an HTTP error or a close, never silence."""
    answer = await open_handshake(service, path, extra)
    assert answer, (
        "no answer and no close within 5 s: an unauthenticated peer can hold connections open"
    )
    assert answer.startswith(b"HTTP/1.1 4"), answer[:100]
    await chain_still_works(service, steady)


async def test_refused_handshakes_log_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused handshake is routine (401/403/400): it must not put an ERROR in the log."""
    caplog.set_level(logging.INFO)
    server = {"log_config": None, "log_level": "info"}  # uvicorn's loggers into caplog
    with fast_data_dir(tmp_path) as data_dir:
        async with service_with_server_options(tmp_path, server, data_dir=data_dir) as service:
            info = await service.register("guarded", nodes=[UNUSED_NODE])
            events = f"{service.server.ws}/api/v1/events"
            attempts = [
                (info["ws_url"], None),
                (info["ws_url"], "nope-nope-nope-nope"),
                (events, None),
                (events, info["token"]),
                (f"{events}?since=x", VIEWER_TOKEN),
            ]
            for url, token in attempts:
                raw = await RawWebSocket.connect(url, token)
                try:
                    assert raw.status in (400, 401, 403), (url, raw.status)
                finally:
                    await raw.close()
            ok = await service.subscriber("fine", nodes=[UNUSED_NODE])  # a flush point
            assert ok.hello is not None
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, f"{len(errors)} ERROR lines for {len(attempts)} refusals: {errors[:3]}"
