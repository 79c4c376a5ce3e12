"""The long-running ``hotplugctl`` commands: ``subscribe`` and ``watch``.

Both run until Ctrl-C (SIGINT) or SIGTERM, which end them cleanly: ``subscribe``
closes its channel and unregisters (unless ``--keep``), ``watch`` closes the
stream. Exit status 0 then.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from clients._commands import Context, UsageError
from clients._render import Output, answer_json, answer_line, event_line
from clients._signals import stop_signals, until_stopped
from clients.errors import HotplugError
from clients.events import stream_events
from clients.models import Notification
from clients.notifier import EPERM, action_name, parse_errno, parse_result
from clients.subscriber import Answer, Status, Subscriber, Veto


def parse_vetoes(specs: list[str] | None) -> dict[str, int]:
    """``--veto ACTION[:ERRNO]`` (repeatable) → {action: errno}; the errno defaults to -EPERM."""
    vetoes = {}
    for spec in specs or []:
        action, _, errno = spec.partition(":")
        vetoes[action_name(action)] = parse_errno(errno) if errno else EPERM
    return vetoes


def parse_list(text: str | None, item: type[int] | type[str]) -> list[Any] | None:
    """A comma-separated option value, or None when absent."""
    if not text:
        return None
    return [item(part.strip()) for part in text.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class ShellPolicy:
    """What ``hotplugctl subscribe`` answers, from its flags."""

    vetoes: dict[str, int]  # action -> errno
    result: int  # the answer to everything else
    delay: float  # seconds of simulated work before each answer

    async def respond(self, notification: Notification) -> int:
        """Wait ``delay``, then veto or answer ``result``."""
        if self.delay:
            await asyncio.sleep(self.delay)  # the simulated work, not a readiness wait
        errno = self.vetoes.get(notification.action)
        if errno is not None:
            raise Veto(errno, f"hotplugctl subscribe --veto {notification.action}")
        return self.result


def _filters(args: argparse.Namespace) -> tuple[ShellPolicy, list[str] | None, list[int] | None]:
    try:
        policy = ShellPolicy(parse_vetoes(args.veto), parse_result(args.result), args.delay)
        actions = [action_name(a) for a in parse_list(args.actions, str) or []] or None
        nodes = parse_list(args.nodes, int)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return policy, actions, nodes


def _printers(out: Output) -> tuple[Callable[[Answer], None], Callable[[Status], None]]:
    """Observers printing each answer (stdout) and each connection change (stderr)."""

    def on_answer(answer: Answer) -> None:
        if out.json:
            out.json_line(answer_json(answer))
        else:
            print(answer_line(answer), file=out.stdout, flush=True)

    def on_status(status: Status) -> None:
        out.note(f"hotplugctl: {status.detail}")

    return on_answer, on_status


async def cmd_subscribe(ctx: Context, args: argparse.Namespace) -> int:
    """Register a subscriber, print each event and reply, unregister on Ctrl-C."""
    policy, actions, nodes = _filters(args)
    on_answer, on_status = _printers(ctx.out)
    name = args.name or f"hotplugctl-{os.getpid()}"
    subscriber = await Subscriber.register(
        ctx.client,
        name,
        args.priority,
        actions,
        nodes,
        args.timeout_ms,
        args.failure_policy,
        handler_timeout=None,  # let --delay overrun: the service's timeout is what is tested
        on_answer=on_answer,
        on_status=on_status,
    )
    subscriber.on()(policy.respond)
    ctx.out.note(f"hotplugctl: registered subscriber {subscriber.id} ({name})")
    return await _serve(ctx, args, subscriber)


async def _serve(ctx: Context, args: argparse.Namespace, subscriber: Subscriber) -> int:
    try:
        async with stop_signals() as stop:
            await until_stopped(stop, _run_and_wait(subscriber))
    finally:
        await subscriber.close()
        await _leave(ctx, args, subscriber)
    if subscriber.error is not None:
        raise subscriber.error
    return 0


async def _run_and_wait(subscriber: Subscriber) -> None:
    subscriber.start()
    await subscriber.wait()


async def _leave(ctx: Context, args: argparse.Namespace, subscriber: Subscriber) -> None:
    if args.keep:
        registration: Mapping[str, Any] = subscriber.registration or {}
        ctx.out.note(
            f"hotplugctl: kept subscriber {subscriber.id}: token {registration.get('token')} "
            f"ws_url {subscriber.ws_url}"
        )
        return
    with contextlib.suppress(HotplugError):
        await ctx.client.unregister_subscriber(subscriber.id)
        ctx.out.note(f"hotplugctl: unregistered subscriber {subscriber.id}")


async def cmd_watch(ctx: Context, args: argparse.Namespace) -> int:
    """Print the live event stream until Ctrl-C (or ``--count`` events)."""
    async with stop_signals() as stop:
        await until_stopped(stop, _print_events(ctx, args))
    return 0


async def _print_events(ctx: Context, args: argparse.Namespace) -> None:
    seen = 0
    events = stream_events(ctx.url, ctx.token, since=args.since, fail_fast=True)
    async with contextlib.aclosing(events):
        async for event in events:
            if ctx.out.json:
                ctx.out.json_line(event.raw)
            else:
                print(event_line(event), file=ctx.out.stdout, flush=True)
            seen += 1
            if args.count and seen >= args.count:
                return
