"""The subscriber's connection life: hello, replies, reconnects, close codes, close()."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.http11 import Response

from clients.backoff import Backoff
from clients.client import HotplugClient
from clients.errors import HotplugConnectionError, SubscriberStopped
from clients.models import Notification
from clients.subscriber import Answer, AnswerSource, Status, Subscriber, Veto

from .fakes import DEADLINE, FakeChannel, FakeService
from .frames import hello, notify

NO_WAIT = Backoff(uniform=lambda low, high: 0.0)


def make(service: FakeService, **options: Any) -> Subscriber:
    options.setdefault("backoff", NO_WAIT)
    return Subscriber(
        "s-1",
        "secret",
        "ws://svc/api/v1/subscribers/s-1/ws",
        connector=service.connector,
        **options,
    )


async def test_connects_with_bearer_token_and_answers() -> None:
    channel = FakeChannel(hello(), notify(1))
    service = FakeService(channel)
    subscriber = make(service)
    subscriber.on("MEM_GOING_OFFLINE")(lambda n: "NOTIFY_OK")
    async with subscriber:
        await subscriber.wait_connected(DEADLINE)
        assert subscriber.connected
        assert subscriber.hello is not None
        sent = await channel.wait_sent(1)
    assert sent == [{"type": "reply", "id": 1, "result": "NOTIFY_OK"}]
    url, headers = service.attempts[0]
    assert url == "ws://svc/api/v1/subscribers/s-1/ws"
    assert headers == {"Authorization": "Bearer secret"}
    assert not subscriber.connected
    assert channel.close_code == 1000  # closed by us, cleanly


async def test_drop_mid_notification_then_resend_is_answered_once() -> None:
    """The connection dies while the handler runs; the service resends the same id."""
    calls: list[int] = []
    first = FakeChannel(hello(), notify(7), fail_send=True)
    second = FakeChannel(hello(), notify(7))
    subscriber = make(FakeService(first, second))
    answers: list[Answer] = []
    subscriber.dispatcher.on_answer = answers.append

    @subscriber.on("MEM_GOING_OFFLINE")
    async def going(n: Notification) -> None:
        calls.append(n.id)
        raise Veto(-16, "busy")

    async with subscriber:
        sent = await second.wait_sent(1)
    assert calls == [7]
    assert sent == [{"type": "reply", "id": 7, "result": 0x8011, "errno": -16, "message": "busy"}]
    assert [a.source for a in answers] == [AnswerSource.VETO, AnswerSource.RESENT]


async def test_service_shutdown_1001_reconnects() -> None:
    first, second = FakeChannel(hello()), FakeChannel(hello(), notify(2, "MEM_ONLINE"))
    statuses: list[Status] = []
    service = FakeService(first, second)
    subscriber = make(service, on_status=statuses.append)
    async with subscriber:
        await subscriber.wait_connected(DEADLINE)
        first.drop(1001, "shutting down")
        assert await second.wait_sent(1) == [{"type": "reply", "id": 2, "result": "NOTIFY_DONE"}]
    kinds = [s.kind for s in statuses]
    assert kinds[:4] == ["connected", "disconnected", "reconnecting", "connected"]
    assert statuses[1].code == 1001
    assert len(service.attempts) == 2


async def test_abnormal_drop_and_refused_connections_reconnect_with_backoff() -> None:
    delays: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        delays.append((low, high))
        return 0.0

    last = FakeChannel(hello(), notify(3))
    first = FakeChannel(hello())
    service = FakeService(first, OSError("refused"), TimeoutError(), last)
    subscriber = make(
        service, backoff=Backoff(initial=1.0, factor=2.0, max_delay=3.0, uniform=uniform)
    )
    async with subscriber:
        await subscriber.wait_connected(DEADLINE)
        first.drop(1006)
        await last.wait_sent(1)
    # full jitter over a growing, bounded ceiling; reset after each hello
    assert delays == [(0.0, 1.0), (0.0, 2.0), (0.0, 3.0)]


@pytest.mark.parametrize(("code", "words"), [(4004, "unregistered"), (4001, "replaced")])
async def test_close_codes_4004_and_4001_stop_for_good(code: int, words: str) -> None:
    channel = FakeChannel(hello())
    service = FakeService(channel, FakeChannel(hello()))
    subscriber = make(service)
    subscriber.start()
    await subscriber.wait_connected(DEADLINE)
    channel.drop(code)
    with pytest.raises(SubscriberStopped, match=words) as info:
        await subscriber.wait()
    assert info.value.code == code
    assert len(service.attempts) == 1
    await subscriber.close()


async def test_run_raises_subscriber_stopped() -> None:
    channel = FakeChannel()
    channel.drop(4004)
    subscriber = make(FakeService(channel))
    with pytest.raises(SubscriberStopped, match="4004"):
        await subscriber.run()


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_refused_handshake_stops(status: int) -> None:
    refusal = InvalidStatus(Response(status, "refused", _headers()))
    subscriber = make(FakeService(refusal))
    with pytest.raises(SubscriberStopped, match=f"HTTP {status}") as info:
        await subscriber.run()
    assert info.value.status == status


def _headers() -> Any:
    from websockets.datastructures import Headers

    return Headers()


async def test_server_error_status_is_retried() -> None:
    refusal = InvalidStatus(Response(503, "busy", _headers()))
    last = FakeChannel(hello(), notify(1))
    subscriber = make(FakeService(refusal, last))
    async with subscriber:
        await last.wait_sent(1)


async def test_bad_url_stops() -> None:
    subscriber = make(FakeService(InvalidURI("nope", "bad")))
    with pytest.raises(HotplugConnectionError, match="bad ws_url"):
        await subscriber.run()


async def test_backoff_exhausted_gives_up() -> None:
    backoff = Backoff(max_attempts=2, uniform=lambda low, high: 0.0)
    service = FakeService(OSError("a"), OSError("b"), OSError("c"))
    subscriber = make(service, backoff=backoff)
    with pytest.raises(HotplugConnectionError, match="giving up after 2"):
        await subscriber.run()
    assert len(service.attempts) == 3


async def test_wait_connected_raises_why_it_stopped() -> None:
    channel = FakeChannel()
    channel.drop(4004)
    subscriber = make(FakeService(channel))
    subscriber.start()
    with pytest.raises(SubscriberStopped):
        await subscriber.wait_connected(DEADLINE)
    await subscriber.close()


async def test_wait_connected_needs_a_running_subscriber() -> None:
    with pytest.raises(RuntimeError, match="start"):
        await make(FakeService()).wait_connected()


async def test_run_twice_is_refused() -> None:
    subscriber = make(FakeService(FakeChannel(hello())))
    subscriber.start()
    await subscriber.wait_connected(DEADLINE)
    with pytest.raises(RuntimeError, match="already running"):
        await subscriber.run()
    await subscriber.close()


async def test_close_lets_the_answer_in_hand_finish() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    channel = FakeChannel(hello(), notify(5))
    subscriber = make(FakeService(channel))

    @subscriber.on()
    async def slow(n: Notification) -> str:
        started.set()
        await release.wait()
        return "NOTIFY_OK"

    subscriber.start()
    async with asyncio.timeout(DEADLINE):
        await started.wait()
    closing = asyncio.create_task(subscriber.close())
    release.set()
    await closing
    assert channel.sent == [{"type": "reply", "id": 5, "result": "NOTIFY_OK"}]
    assert channel.close_code == 1000


async def test_close_cancels_a_handler_that_overruns_the_drain() -> None:
    never = asyncio.Event()
    channel = FakeChannel(hello(), notify(5))
    subscriber = make(FakeService(channel), handler_timeout=None)
    subscriber.on()(lambda n: never.wait())
    subscriber.start()
    await subscriber.wait_connected(DEADLINE)
    await subscriber.close(timeout=0.05)
    assert channel.sent == []
    await subscriber.close()  # idempotent


async def test_notifications_after_close_are_not_started() -> None:
    channel = FakeChannel(hello())
    subscriber = make(FakeService(channel))
    calls: list[int] = []
    subscriber.on()(lambda n: calls.append(n.id))
    subscriber.start()
    await subscriber.wait_connected(DEADLINE)
    await subscriber.close()
    channel.push(notify(1))
    assert calls == []


async def test_aexit_raises_a_fatal_stop_and_keeps_body_errors() -> None:
    channel = FakeChannel(hello())
    subscriber = make(FakeService(channel))
    exit_stop = subscriber.__aexit__(None, None, None)
    subscriber.start()
    await subscriber.wait_connected(DEADLINE)
    channel.drop(4004)
    with pytest.raises(SubscriberStopped):
        await subscriber.wait()
    with pytest.raises(SubscriberStopped):
        await exit_stop  # the block ended without an error: the stop is raised
    channel = FakeChannel(hello())
    with pytest.raises(KeyError):
        async with make(FakeService(channel)):
            raise KeyError("body")


async def test_server_error_frames_are_reported() -> None:
    statuses: list[Status] = []
    channel = FakeChannel(hello(), '{"type": "error", "id": 1, "message": "unknown id"}', notify(2))
    subscriber = make(FakeService(channel), on_status=statuses.append)
    async with subscriber:
        await channel.wait_sent(1)
    assert any(s.kind == "server-error" and s.detail == "unknown id" for s in statuses)


async def test_register_then_unregister_through_the_client() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.method == "POST":
            body = {"id": "s-9", "token": "tok", "ws_url": "ws://svc/api/v1/subscribers/s-9/ws"}
            return httpx.Response(201, json=body)
        return httpx.Response(204)

    service = FakeService(FakeChannel(hello()))
    async with HotplugClient(
        "http://svc", "admin", transport=httpx.MockTransport(handler)
    ) as client:
        subscriber = await Subscriber.register(
            client,
            "cache",
            10,
            ["going_offline"],
            [1],
            2000,
            "ignore",
            connector=service.connector,
            backoff=NO_WAIT,
        )
        assert subscriber.registration is not None
        subscriber.start()
        await subscriber.wait_connected(DEADLINE)
        await subscriber.unregister()
    assert service.attempts[0][1] == {"Authorization": "Bearer tok"}
    assert subscriber.ws_url == "ws://svc/api/v1/subscribers/s-9/ws"
    register, delete = requests
    assert register.url.path == "/api/v1/subscribers"
    assert register.read() == (
        b'{"name":"cache","priority":10,"actions":["MEM_GOING_OFFLINE"],"nodes":[1],'
        b'"timeout_ms":2000,"failure_policy":"ignore"}'
    )
    assert (delete.method, delete.url.path) == ("DELETE", "/api/v1/subscribers/s-9")


async def test_register_derives_the_ws_url_when_missing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"id": "s-3", "token": "tok"})

    transport = httpx.MockTransport(handler)
    async with HotplugClient("https://svc/prefix", "admin", transport=transport) as client:
        subscriber = await Subscriber.register(client, "x")
    assert subscriber.ws_url == "wss://svc/prefix/api/v1/subscribers/s-3/ws"


async def test_unregister_needs_a_client() -> None:
    with pytest.raises(RuntimeError, match="no client"):
        await make(FakeService()).unregister()
