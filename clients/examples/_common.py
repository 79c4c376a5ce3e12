"""What the examples share: options, running until Ctrl-C, printing answers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from clients._render import answer_line
from clients._signals import stop_signals, until_stopped
from clients.client import HotplugClient
from clients.errors import HotplugError
from clients.subscriber import Answer, Subscriber

DEFAULT_URL = "http://127.0.0.1:8000"


def example_parser(
    module: str, description: str, name: str, priority: int
) -> argparse.ArgumentParser:
    """The options every example takes; the kernel callback's priority is the default."""
    parser = argparse.ArgumentParser(
        prog=f"python -m clients.examples.{module}", description=description
    )
    parser.add_argument("--url", default=os.environ.get("HOTPLUG_URL", DEFAULT_URL))
    parser.add_argument("--token", default=os.environ.get("HOTPLUG_TOKEN"))
    parser.add_argument("--name", default=name)
    parser.add_argument("--priority", type=int, default=priority)
    parser.add_argument("--keep", action="store_true", help="don't unregister on exit")
    return parser


def print_answer(answer: Answer) -> None:
    """Print each notification and its reply as one line."""
    print(answer_line(answer), flush=True)


async def serve(client: HotplugClient, subscriber: Subscriber, keep: bool) -> None:
    """Answer notifications until Ctrl-C or SIGTERM; then close and (unless keep) unregister."""

    async def run_and_wait() -> None:
        """Run in the background until it stops; raise why, if it failed."""
        subscriber.start()
        await subscriber.wait()

    try:
        async with stop_signals() as stop:
            await until_stopped(stop, run_and_wait())
    finally:
        await subscriber.close()
        if not keep:
            await client.unregister_subscriber(subscriber.id)


def run_example(
    parser: argparse.ArgumentParser,
    body: Callable[[argparse.Namespace], Coroutine[Any, Any, None]],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse options, run ``body``, turn service errors into one line and exit status 1."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not every request
    try:
        asyncio.run(body(args))
    except HotplugError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    return 0
