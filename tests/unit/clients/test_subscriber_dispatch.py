"""How the subscriber answers notifications, fed frame by frame (no network)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from clients.models import Notification
from clients.notifier import NOTIFY_BAD, NOTIFY_DONE, NOTIFY_OK, NOTIFY_STOP, notifier_from_errno
from clients.subscriber import (
    Answer,
    AnswerSource,
    Dispatcher,
    Hello,
    Reply,
    ServerError,
    Veto,
)

from .frames import hello, notify, notify_obj


async def reply_to(dispatcher: Dispatcher, frame: str) -> Reply:
    received = await dispatcher.receive(frame)
    assert isinstance(received, Reply)
    return received


async def test_unhandled_action_answers_notify_done() -> None:
    reply = await reply_to(Dispatcher(), notify(1))
    assert reply.to_frame() == {"type": "reply", "id": 1, "result": "NOTIFY_DONE"}


async def test_handler_value_int_name_or_none() -> None:
    dispatcher = Dispatcher()
    dispatcher.on("MEM_GOING_OFFLINE")(lambda n: "NOTIFY_STOP")
    dispatcher.on("MEM_OFFLINE")(lambda n: None)

    @dispatcher.on("MEM_ONLINE")
    async def online(n: Notification) -> int:
        return 0x0001

    assert (await reply_to(dispatcher, notify(1))).value == NOTIFY_STOP
    assert (await reply_to(dispatcher, notify(2, "MEM_OFFLINE"))).value == NOTIFY_OK
    assert (await reply_to(dispatcher, notify(3, "MEM_ONLINE"))).value == NOTIFY_OK
    assert (await reply_to(dispatcher, notify(4, "MEM_CANCEL_OFFLINE"))).value == NOTIFY_DONE


async def test_handler_receives_the_typed_notification() -> None:
    seen: list[Notification] = []
    dispatcher = Dispatcher()
    dispatcher.on(8)(seen.append)  # by action value: MEM_GOING_ONLINE
    await dispatcher.receive(notify(5, "MEM_GOING_ONLINE", block=3, node=2, nid_normal=2))
    (n,) = seen
    assert (n.id, n.action, n.action_value, n.block, n.node) == (5, "MEM_GOING_ONLINE", 8, 3, 2)
    assert n.transition == "t-1"
    assert n.timeout_ms == 5000
    assert (n.arg.start_pfn, n.arg.nr_pages, n.arg.end_pfn) == (3 * 32768, 32768, 4 * 32768)
    assert (n.arg.status_change_nid_normal, n.arg.status_change_nid_high) == (2, -1)
    assert n.arg.status_change_nid == 2
    assert n.is_going
    assert Notification.from_wire(n.to_wire()) == n


async def test_catch_all_and_specific_handlers() -> None:
    dispatcher = Dispatcher()
    dispatcher.on()(lambda n: "NOTIFY_BAD")
    dispatcher.on("MEM_ONLINE")(lambda n: "NOTIFY_OK")
    assert (await reply_to(dispatcher, notify(1, "MEM_ONLINE"))).value == NOTIFY_OK
    assert (await reply_to(dispatcher, notify(2, "MEM_OFFLINE"))).value == NOTIFY_BAD
    star = Dispatcher()
    star.on("*")(lambda n: 1)
    assert (await reply_to(star, notify(3, "MEM_PREPARE_ONLINE"))).value == NOTIFY_OK


async def test_veto_carries_errno_and_message() -> None:
    dispatcher = Dispatcher()

    @dispatcher.on("MEM_GOING_OFFLINE")
    async def busy(n: Notification) -> None:
        raise Veto(-16, "pinned pages")

    reply = await reply_to(dispatcher, notify(9))
    assert reply.to_frame() == {
        "type": "reply",
        "id": 9,
        "result": notifier_from_errno(-16),
        "errno": -16,
        "message": "pinned pages",
    }
    assert reply.result == "0x8011 (-EBUSY)"


async def test_veto_by_name_and_default_eperm() -> None:
    assert Veto("ENOMEM").errno == -12
    assert Veto(12).errno == -12
    assert Veto().errno == -1
    assert str(Veto()) == "-EPERM (-1)"
    with pytest.raises(ValueError, match="errno"):
        Veto(0)


async def test_veto_on_completion_event_is_sent_but_warned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher = Dispatcher()
    dispatcher.on("MEM_ONLINE")(_raise(Veto(-1)))
    reply = await reply_to(dispatcher, notify(2, "MEM_ONLINE"))
    assert reply.value == NOTIFY_BAD
    assert "only stops the walk" in caplog.text


def _raise(exc: BaseException):  # type: ignore[no-untyped-def]
    def handler(n: Notification) -> None:
        raise exc

    return handler


async def test_exception_on_going_event_vetoes_with_eio(caplog: pytest.LogCaptureFixture) -> None:
    answers: list[Answer] = []
    dispatcher = Dispatcher(on_answer=answers.append)
    dispatcher.on()(_raise(ValueError("boom")))
    with caplog.at_level(logging.ERROR):
        reply = await reply_to(dispatcher, notify(3))
    assert (reply.value, reply.errno) == (notifier_from_errno(-5), -5)
    assert reply.message == "handler raised ValueError: boom"
    assert answers[0].source is AnswerSource.ERROR
    assert isinstance(answers[0].error, ValueError)
    assert "handler raised ValueError: boom" in caplog.text  # never silently


async def test_exception_on_other_events_answers_done() -> None:
    dispatcher = Dispatcher(on_error="veto")
    dispatcher.on()(_raise(RuntimeError("x")))
    reply = await reply_to(dispatcher, notify(4, "MEM_OFFLINE"))
    assert (reply.value, reply.errno) == (NOTIFY_DONE, None)
    assert reply.message == "handler raised RuntimeError: x"


async def test_on_error_ok_answers_ok() -> None:
    dispatcher = Dispatcher(on_error="ok")
    dispatcher.on()(_raise(RuntimeError("x")))
    for ident, action in enumerate(["MEM_GOING_ONLINE", "MEM_CANCEL_ONLINE"]):
        reply = await reply_to(dispatcher, notify(ident, action))
        assert (reply.value, reply.errno) == (NOTIFY_OK, None)


def test_on_error_must_be_known() -> None:
    with pytest.raises(ValueError, match="on_error"):
        Dispatcher(on_error="ignore")  # type: ignore[arg-type]


async def test_handler_over_budget_vetoes_with_etimedout() -> None:
    never = asyncio.Event()
    dispatcher = Dispatcher(handler_timeout=0.01)

    @dispatcher.on("MEM_GOING_ONLINE")
    async def slow(n: Notification) -> str:
        await never.wait()
        return "NOTIFY_OK"

    answers: list[Answer] = []
    dispatcher.on_answer = answers.append
    reply = await reply_to(dispatcher, notify(5, "MEM_GOING_ONLINE"))
    assert (reply.value, reply.errno) == (notifier_from_errno(-110), -110)
    assert reply.message == "handler exceeded its 0.01 s budget"
    assert answers[0].source is AnswerSource.TIMEOUT


async def test_handler_over_budget_on_completion_answers_done() -> None:
    never = asyncio.Event()
    dispatcher = Dispatcher(handler_timeout=0.01)
    dispatcher.on()(lambda n: never.wait())
    reply = await reply_to(dispatcher, notify(6, "MEM_ONLINE"))
    assert (reply.value, reply.errno) == (NOTIFY_DONE, None)


async def test_a_timeout_error_raised_by_the_handler_is_an_error_not_a_budget_overrun() -> None:
    dispatcher = Dispatcher()
    dispatcher.on()(_raise(TimeoutError("upstream")))
    reply = await reply_to(dispatcher, notify(7))
    assert reply.errno == -5


def test_budget_auto_none_and_fixed() -> None:
    n = Notification.from_wire(notify_obj(1, timeout_ms=2000))
    assert Dispatcher().budget(n) == pytest.approx(1.8)
    assert Dispatcher(handler_timeout=None).budget(n) is None
    assert Dispatcher(handler_timeout=0.5).budget(n) == 0.5


@pytest.mark.parametrize("value", [1.5, True, "NOTIFY_PERHAPS", 0x10000, object()])
async def test_invalid_return_value_is_a_handler_error(value: object) -> None:
    dispatcher = Dispatcher()
    dispatcher.on()(lambda n: value)
    reply = await reply_to(dispatcher, notify(8))
    assert reply.errno == -5
    assert reply.message is not None
    assert reply.message.startswith("handler raised")


async def test_resent_notification_is_answered_once_from_the_cache() -> None:
    calls: list[int] = []
    answers: list[Answer] = []
    dispatcher = Dispatcher(on_answer=answers.append)

    @dispatcher.on("MEM_GOING_OFFLINE")
    async def going(n: Notification) -> None:
        calls.append(n.id)
        raise Veto(-16, "busy")

    first = await reply_to(dispatcher, notify(42))
    again = await reply_to(dispatcher, notify(42))
    assert calls == [42]
    assert again == first
    assert [a.source for a in answers] == [AnswerSource.VETO, AnswerSource.RESENT]


async def test_answer_cache_is_bounded() -> None:
    calls: list[int] = []
    dispatcher = Dispatcher(cache_size=2)
    dispatcher.on()(lambda n: calls.append(n.id))
    for ident in (1, 2, 3, 1):
        await dispatcher.receive(notify(ident))
    assert calls == [1, 2, 3, 1]  # 1 was evicted by 3


async def test_hello_and_error_frames() -> None:
    dispatcher = Dispatcher()
    assert await dispatcher.receive(hello("abc")) == Hello({"id": "abc"}, 1)
    error = json.dumps({"type": "error", "id": 3, "message": "unknown id"})
    assert await dispatcher.receive(error) == ServerError(3, "unknown id")
    error = json.dumps({"type": "error", "id": None, "message": "bad frame"})
    assert await dispatcher.receive(error) == ServerError(None, "bad frame")


@pytest.mark.parametrize("frame", ["not json", "[1, 2]", '{"type": "surprise"}'])
async def test_unusable_frames_are_ignored_with_a_warning(
    frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert await Dispatcher().receive(frame) is None
    assert caplog.records


async def test_malformed_notify_with_an_id_is_answered_by_policy() -> None:
    frame = notify_obj(11, "MEM_GOING_ONLINE")
    del frame["arg"]
    reply = await reply_to(Dispatcher(), json.dumps(frame))
    assert (reply.id, reply.errno) == (11, -5)
    frame = notify_obj(12, "MEM_ONLINE")
    frame["block"] = "seventeen"
    assert (await reply_to(Dispatcher(), json.dumps(frame))).value == NOTIFY_DONE


async def test_malformed_notify_without_an_id_is_dropped() -> None:
    frame = notify_obj(1)
    frame["id"] = "one"
    assert await Dispatcher().receive(json.dumps(frame)) is None


async def test_long_messages_are_cut_to_one_kib() -> None:
    dispatcher = Dispatcher()
    dispatcher.on()(_raise(Veto(-16, "é" * 2000)))
    reply = await reply_to(dispatcher, notify(1))
    assert reply.message is not None
    assert len(reply.message.encode()) <= 1024


async def test_a_failing_observer_does_not_break_the_reply(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def observer(answer: Answer) -> None:
        raise RuntimeError("observer bug")

    dispatcher = Dispatcher(on_answer=observer)
    assert (await reply_to(dispatcher, notify(1))).value == NOTIFY_DONE
    assert "observer" in caplog.text


async def test_status_change_fields_default_to_minus_one() -> None:
    frame = notify_obj(1)
    del frame["arg"]["status_change_nid_high"]
    del frame["action_value"]
    seen: list[Notification] = []
    dispatcher = Dispatcher()
    dispatcher.on()(seen.append)
    await dispatcher.receive(json.dumps(frame))
    assert seen[0].arg.status_change_nid_high == -1
    assert seen[0].action_value == 2
