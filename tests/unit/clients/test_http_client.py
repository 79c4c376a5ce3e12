"""The HTTP clients against httpx.MockTransport: requests sent, answers read, errors mapped."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from clients import HotplugClient, SyncHotplugClient
from clients._api import UNSET
from clients.errors import HotplugConnectionError, HotplugError, HotplugTimeout, describe_veto

PROBLEM = "application/problem+json"

VETOED_RECORD = {
    "id": "t-42",
    "operation": "offline",
    "block": 17,
    "node": 1,
    "outcome": "cancelled",
    "errno": -16,
    "errno_name": "EBUSY",
    "vetoed_by": {"subscriber": "s-7", "name": "ksm-like", "errno": -16, "message": "pinned"},
    "walks": [],
}


def problem(status: int, title: str, **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": title, "status": status, **extra}
    return httpx.Response(status, content=json.dumps(body), headers={"content-type": PROBLEM})


Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records requests and answers from a table."""

    def __init__(self, answer: Handler | httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request) if callable(self.answer) else self.answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].read() or b"null")


def client(recorder: Recorder, token: str | None = "admin") -> HotplugClient:
    return HotplugClient("http://svc:8000/", token, transport=httpx.MockTransport(recorder))


async def test_veto_409_raises_with_record_vetoer_and_errno() -> None:
    recorder = Recorder(
        problem(
            409,
            "Transition cancelled",
            detail="offline of block 17 was vetoed",
            errno=-16,
            errno_name="EBUSY",
            transition=VETOED_RECORD,
        )
    )
    async with client(recorder) as hotplug:
        with pytest.raises(HotplugError) as info:
            await hotplug.offline(17)
    error = info.value
    assert (error.status, error.title, error.errno, error.errno_name) == (
        409,
        "Transition cancelled",
        -16,
        "EBUSY",
    )
    assert error.transition == VETOED_RECORD
    assert error.transition_id == "t-42"
    assert error.vetoed_by == VETOED_RECORD["vetoed_by"]
    assert str(error) == (
        "HTTP 409 Transition cancelled: offline of block 17 was vetoed: "
        "vetoed by 'ksm-like' (id s-7) with -EBUSY (-16): pinned"
    )
    assert recorder.last.method == "POST"
    assert recorder.last.url.path == "/api/v1/memory/blocks/17/offline"
    assert recorder.last.headers["authorization"] == "Bearer admin"


async def test_problem_with_errno_and_no_veto() -> None:
    recorder = Recorder(problem(409, "Conflict", detail="block 3 is already online", errno=-22))
    async with client(recorder) as hotplug:
        with pytest.raises(HotplugError) as info:
            await hotplug.online(3)
    assert str(info.value) == "HTTP 409 Conflict: block 3 is already online: -EINVAL (-22)"
    assert info.value.vetoed_by is None


async def test_problem_with_a_transition_id_and_unknown_errno() -> None:
    recorder = Recorder(
        problem(409, "Failed", errno=-4000, errno_name="EWEIRD", transition="t-1", vetoed_by=None)
    )
    async with client(recorder) as hotplug:
        with pytest.raises(HotplugError) as info:
            await hotplug.offline(1)
    assert info.value.transition_id == "t-1"
    assert info.value.transition is None
    assert str(info.value) == "HTTP 409 Failed: -EWEIRD (-4000)"


async def test_validation_errors_of_fastapi_become_one_line() -> None:
    detail = [{"loc": ["body", "online_type"], "msg": "Input should be 'online'"}, {"msg": "x"}]
    recorder = Recorder(httpx.Response(422, json={"detail": detail}))
    async with client(recorder) as hotplug:
        with pytest.raises(HotplugError) as info:
            await hotplug.online(3, "online_sideways")
    assert str(info.value) == (
        "HTTP 422 Unprocessable Entity: online_type: Input should be 'online'; x"
    )


async def test_non_json_error_body() -> None:
    recorder = Recorder(httpx.Response(502, text="<html>bad gateway</html>\nmore"))
    async with client(recorder) as hotplug:
        with pytest.raises(HotplugError) as info:
            await hotplug.memory()
    assert str(info.value) == "HTTP 502 Bad Gateway: <html>bad gateway</html>"
    recorder.answer = httpx.Response(500)
    async with client(recorder) as hotplug:
        with pytest.raises(HotplugError, match=r"^HTTP 500 Internal Server Error$"):
            await hotplug.memory()


async def test_unauthorized() -> None:
    recorder = Recorder(problem(401, "Unauthorized", detail="missing or bad token"))
    async with client(recorder, token=None) as hotplug:
        with pytest.raises(HotplugError) as info:
            await hotplug.blocks()
    assert info.value.status == 401
    assert "authorization" not in recorder.last.headers


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("Connection refused", request=request)


def too_slow(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


async def test_connection_errors_are_mapped() -> None:
    async with client(Recorder(refuse)) as hotplug:
        with pytest.raises(
            HotplugConnectionError, match="cannot reach http://svc:8000: Connection refused"
        ):
            await hotplug.memory()
    async with client(Recorder(too_slow)) as hotplug:
        with pytest.raises(HotplugTimeout, match="no answer from http://svc:8000 in time"):
            await hotplug.memory()


async def test_requests_of_every_endpoint() -> None:
    recorder = Recorder(httpx.Response(200, json={}))
    async with client(recorder) as hotplug:
        calls = [
            (hotplug.memory(), "GET", "/api/v1/memory", None),
            (hotplug.blocks(state="online", node=1), "GET", "/api/v1/memory/blocks", None),
            (hotplug.block(4), "GET", "/api/v1/memory/blocks/4", None),
            (
                hotplug.online(4, "online_movable", 500),
                "POST",
                "/api/v1/memory/blocks/4/online",
                {"online_type": "online_movable", "timeout_ms": 500},
            ),
            (hotplug.offline(4), "POST", "/api/v1/memory/blocks/4/offline", {}),
            (
                hotplug.patch_block(4, unmovable_pages=True, migration_ms=50),
                "PATCH",
                "/api/v1/memory/blocks/4",
                {"unmovable_pages": True, "migration_ms": 50},
            ),
            (
                hotplug.probe(node=3, count=2),
                "POST",
                "/api/v1/memory/probe",
                {"node": 3, "count": 2},
            ),
            (
                hotplug.probe(phys_addr="0x80000000"),
                "POST",
                "/api/v1/memory/probe",
                {"phys_addr": "0x80000000"},
            ),
            (hotplug.remove(4), "DELETE", "/api/v1/memory/blocks/4", None),
            (
                hotplug.chmem(True, size="1G", zone="Movable"),
                "POST",
                "/api/v1/memory/chmem",
                {"size": "1G", "zone": "Movable", "enable": True},
            ),
            (
                hotplug.chmem(False, blocks="3-4"),
                "POST",
                "/api/v1/memory/chmem",
                {"blocks": "3-4", "disable": True},
            ),
            (
                hotplug.transitions(limit=5, before="t-9", outcome="cancelled"),
                "GET",
                "/api/v1/transitions",
                None,
            ),
            (hotplug.transition("t-1"), "GET", "/api/v1/transitions/t-1", None),
            (hotplug.abort("t-1"), "POST", "/api/v1/transitions/t-1/abort", None),
            (hotplug.subscribers(), "GET", "/api/v1/subscribers", None),
            (hotplug.subscriber("s-1"), "GET", "/api/v1/subscribers/s-1", None),
            (
                hotplug.update_subscriber("s-1", priority=5, actions=None),
                "PATCH",
                "/api/v1/subscribers/s-1",
                {"priority": 5, "actions": None},
            ),
            (hotplug.unregister_subscriber("s-1"), "DELETE", "/api/v1/subscribers/s-1", None),
            (hotplug.chain(), "GET", "/api/v1/chain", None),
            (hotplug.error_injection(), "GET", "/api/v1/debug/notifier-error-inject", None),
            (
                hotplug.set_error_injection(True, priority=3, actions={"MEM_GOING_ONLINE": -12}),
                "PUT",
                "/api/v1/debug/notifier-error-inject",
                {"enabled": True, "priority": 3, "actions": {"MEM_GOING_ONLINE": -12}},
            ),
            (hotplug.healthz(), "GET", "/healthz", None),
            (hotplug.readyz(), "GET", "/readyz", None),
            (hotplug.metrics(), "GET", "/metrics", None),
        ]
        for index, (call, method, path, body) in enumerate(calls):
            await call
            request = recorder.requests[index]
            assert (request.method, request.url.path) == (method, path)
            assert recorder.body(index) == body
    assert recorder.requests[1].url.params == httpx.QueryParams({"state": "online", "node": "1"})
    assert recorder.requests[11].url.params == httpx.QueryParams(
        {"limit": "5", "before": "t-9", "outcome": "cancelled"}
    )


async def test_update_subscriber_sends_only_what_changes() -> None:
    recorder = Recorder(httpx.Response(200, json={}))
    async with client(recorder) as hotplug:
        await hotplug.update_subscriber("s-1", nodes=(0, 2), failure_policy="ignore")
        await hotplug.update_subscriber("s-1", priority=UNSET)
    assert recorder.body(0) == {"failure_policy": "ignore", "nodes": [0, 2]}
    assert recorder.body(1) == {}


async def test_list_answers_bare_or_wrapped() -> None:
    blocks = [{"id": 1}, {"id": 2}]
    recorder = Recorder(httpx.Response(200, json={"blocks": blocks}))
    async with client(recorder) as hotplug:
        assert await hotplug.blocks() == blocks
        recorder.answer = httpx.Response(200, json=blocks)
        assert await hotplug.blocks() == blocks
        recorder.answer = httpx.Response(200, json={"items": blocks})
        assert await hotplug.chain() == blocks
        recorder.answer = httpx.Response(200, json={"unexpected": 1})
        assert await hotplug.subscribers() == []


async def test_no_wait_returns_the_pending_record_or_follows_location() -> None:
    pending = {"id": "t-5", "outcome": "pending"}
    recorder = Recorder(
        httpx.Response(202, json=pending, headers={"Location": "/api/v1/transitions/t-5"})
    )
    async with client(recorder) as hotplug:
        assert await hotplug.offline(5, wait=False) == pending
    assert recorder.last.url.params == httpx.QueryParams({"wait": "false"})

    def accepted_then_record(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": "/api/v1/transitions/t-6"})
        return httpx.Response(200, json={"id": "t-6", "outcome": "running"})

    recorder = Recorder(accepted_then_record)
    async with client(recorder) as hotplug:
        assert (await hotplug.online(6, wait=False))["id"] == "t-6"
    assert recorder.last.url.path == "/api/v1/transitions/t-6"


async def test_probe_answer_bare_list_and_health_text() -> None:
    recorder = Recorder(httpx.Response(201, json=[{"id": 30}]))
    async with client(recorder) as hotplug:
        assert await hotplug.probe(count=1) == {"blocks": [{"id": 30}], "transitions": []}
        recorder.answer = httpx.Response(200, text="ok")
        assert await hotplug.healthz() == {"status": "ok"}
        recorder.answer = problem(503, "Not ready", detail="recovery running")
        with pytest.raises(HotplugError, match="503"):
            await hotplug.readyz()


def test_sync_client_same_contract() -> None:
    recorder = Recorder(problem(409, "Transition cancelled", transition=VETOED_RECORD, errno=-16))
    transport = httpx.MockTransport(recorder)
    with SyncHotplugClient("http://svc", "admin", transport=transport) as hotplug:
        with pytest.raises(HotplugError, match="vetoed by 'ksm-like'"):
            hotplug.offline(17, timeout_ms=100)
        assert recorder.body() == {"timeout_ms": 100}
        recorder.answer = httpx.Response(200, json={"blocks": [{"id": 1}]})
        assert hotplug.blocks(node=0) == [{"id": 1}]
        recorder.answer = httpx.Response(200, json={})
        hotplug.update_subscriber("s-1", actions=["MEM_ONLINE"])
        assert recorder.body() == {"actions": ["MEM_ONLINE"]}
        hotplug.chmem(True, range="0x0-0x7ffffff")
        assert recorder.body() == {"range": "0x0-0x7ffffff", "enable": True}
    transport = httpx.MockTransport(refuse)
    with (
        SyncHotplugClient("http://svc", transport=transport) as hotplug,
        pytest.raises(HotplugConnectionError),
    ):
        hotplug.healthz()


def test_sync_client_every_method_hits_its_path() -> None:
    recorder = Recorder(httpx.Response(200, json={}))
    with SyncHotplugClient(
        "http://svc", "admin", transport=httpx.MockTransport(recorder)
    ) as hotplug:
        hotplug.memory()
        hotplug.block(1)
        hotplug.online(1, wait=False)
        hotplug.patch_block(1, isolation_fails=True)
        hotplug.probe(node=1, count=1)
        hotplug.remove(1)
        hotplug.transitions()
        hotplug.transition("t")
        hotplug.abort("t")
        hotplug.register_subscriber("n")
        hotplug.subscribers()
        hotplug.subscriber("s")
        hotplug.unregister_subscriber("s")
        hotplug.chain()
        hotplug.error_injection()
        hotplug.set_error_injection(False)
        hotplug.readyz()
        hotplug.metrics()
    paths = [r.url.path for r in recorder.requests]
    assert paths == [
        "/api/v1/memory",
        "/api/v1/memory/blocks/1",
        "/api/v1/memory/blocks/1/online",
        "/api/v1/memory/blocks/1",
        "/api/v1/memory/probe",
        "/api/v1/memory/blocks/1",
        "/api/v1/transitions",
        "/api/v1/transitions/t",
        "/api/v1/transitions/t/abort",
        "/api/v1/subscribers",
        "/api/v1/subscribers",
        "/api/v1/subscribers/s",
        "/api/v1/subscribers/s",
        "/api/v1/chain",
        "/api/v1/debug/notifier-error-inject",
        "/api/v1/debug/notifier-error-inject",
        "/readyz",
        "/metrics",
    ]


def test_describe_veto_variants() -> None:
    assert describe_veto({"name": "x"}) == "vetoed by 'x'"
    assert describe_veto({"id": "x", "name": "x", "errno": -999}) == "vetoed by 'x' with -999"
    assert (
        describe_veto({"name": "a", "subscriber": "b"}, -12)
        == "vetoed by 'a' (id b) with -ENOMEM (-12)"
    )
