"""``hotplugctl subscribe``'s policy from flags, and its stop helpers."""

from __future__ import annotations

import asyncio
import io

import pytest

from clients._signals import stop_signals, until_stopped
from clients._subscribe import ShellPolicy, parse_list, parse_vetoes
from clients.models import Notification
from clients.notifier import NOTIFY_OK, NOTIFY_STOP
from clients.subscriber import Veto

from .frames import notify_obj


def test_parse_vetoes() -> None:
    assert parse_vetoes(["MEM_GOING_OFFLINE:-16", "going_online", "MEM_ONLINE:ENOMEM"]) == {
        "MEM_GOING_OFFLINE": -16,
        "MEM_GOING_ONLINE": -1,
        "MEM_ONLINE": -12,
    }
    assert parse_vetoes(None) == {}
    with pytest.raises(ValueError, match="errno"):
        parse_vetoes(["MEM_GOING_OFFLINE:0"])


def test_parse_list() -> None:
    assert parse_list("1, 2,,3", int) == [1, 2, 3]
    assert parse_list(None, str) is None


async def test_shell_policy_vetoes_or_answers() -> None:
    policy = ShellPolicy({"MEM_GOING_OFFLINE": -16}, NOTIFY_STOP, 0.0)
    with pytest.raises(Veto) as info:
        await policy.respond(Notification.from_wire(notify_obj(1, "MEM_GOING_OFFLINE")))
    assert info.value.errno == -16
    assert info.value.message == "hotplugctl subscribe --veto MEM_GOING_OFFLINE"
    assert await policy.respond(Notification.from_wire(notify_obj(2, "MEM_ONLINE"))) == NOTIFY_STOP
    delayed = ShellPolicy({}, NOTIFY_OK, 0.001)
    assert await delayed.respond(Notification.from_wire(notify_obj(3))) == NOTIFY_OK


async def test_until_stopped_ends_work_when_stop_is_set() -> None:
    never = asyncio.Event()
    async with stop_signals() as stop:
        stop.set()
        await asyncio.wait_for(until_stopped(stop, never.wait()), 5)


async def test_until_stopped_raises_what_the_work_raised() -> None:
    async def fail() -> None:
        raise LookupError("work failed")

    with pytest.raises(LookupError):
        await until_stopped(asyncio.Event(), fail())


def test_broken_pipe_is_quiet() -> None:
    from clients import cli

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    err = io.StringIO()
    assert cli.run(["version"], stdout=ClosedPipe(), stderr=err) == 0
    assert err.getvalue() == ""
