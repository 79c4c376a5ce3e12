"""``hotplugctl``: drive hotplugd from a shell (lsmem/chmem-like, and more).

The service is found through ``--url`` or ``HOTPLUG_URL`` (default
http://127.0.0.1:8000) and the token through ``--token`` or ``HOTPLUG_TOKEN``.
Every command prints tables for people and JSON with ``--json``.

Exit status: 0 success; 1 an error from (or no answer from) the service, as
one line on stderr; 2 bad usage; chmem: 0 all done, 1 nothing done, 64 partly
done (like util-linux chmem); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any, Final, TextIO

import httpx

from clients import _commands as commands
from clients import _subscribe as long_running
from clients import lsmem
from clients._commands import Command, Context, UsageError
from clients._render import Output, use_color
from clients.client import HotplugClient
from clients.errors import HotplugError
from clients.models import FAILURE_POLICIES, ONLINE_TYPES
from clients.notifier import ACTIONS
from clients.sysfs import command as sysfs
from clients.version import __version__

DEFAULT_URL: Final = "http://127.0.0.1:8000"
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130


def _common_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help="service URL ($HOTPLUG_URL)")
    common.add_argument("--token", default=argparse.SUPPRESS, help="API token ($HOTPLUG_TOKEN)")
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    common.add_argument(
        "--timeout", type=float, default=argparse.SUPPRESS, help="seconds per request (30)"
    )
    return common


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, not {text!r}")


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


class _Parsers:
    """Builds the subcommands; each ``add_*`` sets the command coroutine as ``func``."""

    def __init__(self, sub: Any, common: argparse.ArgumentParser) -> None:
        self.sub = sub
        self.common = common

    def add(self, name: str, func: Command, help: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A subcommand running ``func``, with the common options."""
        parser: argparse.ArgumentParser = self.sub.add_parser(
            name, parents=[self.common], help=help, description=help, **kwargs
        )
        parser.set_defaults(func=func)
        return parser

    def add_lsmem(self) -> None:
        """``lsmem`` and util-linux lsmem's options."""
        p = self.add("lsmem", commands.cmd_lsmem, "list the ranges of memory and their state")
        p.add_argument("-a", "--all", action="store_true", help="list each individual block")
        p.add_argument("-b", "--bytes", action="store_true", help="print SIZE in bytes")
        p.add_argument("-n", "--noheadings", action="store_true", help="don't print headings")
        p.add_argument("-o", "--output", metavar="LIST", help="output columns (+LIST appends)")
        p.add_argument("--output-all", action="store_true", help="output all columns")
        p.add_argument(
            "-J", dest="json", action="store_true", default=argparse.SUPPRESS, help="JSON output"
        )
        p.add_argument("-P", "--pairs", action="store_true", help='use key="value" format')
        p.add_argument("-r", "--raw", action="store_true", help="use raw output format")
        p.add_argument("-S", "--split", metavar="LIST", help="split ranges by these columns")
        p.add_argument(
            "--summary",
            nargs="?",
            const="only",
            choices=("never", "always", "only"),
            help="print summary information (never, always or only)",
        )
        p.epilog = "columns: " + ", ".join(f"{k} ({v})" for k, v in lsmem.COLUMN_HELP.items())

    def add_chmem(self) -> None:
        """``chmem`` and util-linux chmem's options."""
        p = self.add("chmem", commands.cmd_chmem, "enable or disable memory (like chmem)")
        mode = p.add_mutually_exclusive_group(required=True)
        mode.add_argument("-e", "--enable", action="store_true", help="enable memory")
        mode.add_argument("-d", "--disable", action="store_true", help="disable memory")
        p.add_argument("-b", "--blocks", action="store_true", help="the argument is a BLOCKRANGE")
        p.add_argument("-z", "--zone", help="online into this zone (Normal, Movable)")
        p.add_argument("-v", "--verbose", action="store_true", help="print each block changed")
        p.add_argument("target", metavar="SIZE|RANGE|BLOCKRANGE")
        p.epilog = "exit status: 0 all done, 1 nothing done, 64 partly done"

    def add_blocks(self) -> None:
        """``memory``, ``blocks``, ``online``, ``offline``."""
        p = self.add("memory", commands.cmd_memory, "block size, auto-online policy and nodes")
        p = self.add("blocks", commands.cmd_blocks, "list memory blocks, or show one")
        p.add_argument("block", nargs="?", type=int, help="show only this block")
        p.add_argument("--state", choices=("online", "offline", "going-offline"))
        p.add_argument("--node", type=int)
        p = self.add("online", commands.cmd_online, "online a memory block")
        p.add_argument("block", type=int)
        p.add_argument("--type", choices=ONLINE_TYPES, default="online", help="online type")
        self._trigger_options(p)
        p = self.add("offline", commands.cmd_offline, "offline a memory block")
        p.add_argument("block", type=int)
        self._trigger_options(p)

    @staticmethod
    def _trigger_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--timeout-ms", type=int, help="overall deadline of the transition")
        p.add_argument("--no-wait", action="store_true", help="return at once (202)")

    def add_admin(self) -> None:
        """``set-flags``, ``probe``, ``remove``, ``inject``."""
        p = self.add("set-flags", commands.cmd_set_flags, "set a block's simulation flags")
        p.add_argument("block", type=int)
        p.add_argument("--isolation-fails", type=_boolean, metavar="yes|no")
        p.add_argument("--unmovable-pages", type=_boolean, metavar="yes|no")
        p.add_argument("--migration-ms", type=int, metavar="MS")
        p = self.add("probe", commands.cmd_probe, "hot-add memory blocks")
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--count", type=int, help="add this many blocks after the highest")
        where.add_argument("--phys-addr", help="add the block at this address (0x...)")
        p.add_argument("--node", type=int, help="NUMA node (created if new)")
        p = self.add("remove", commands.cmd_remove, "hot-remove an offline block")
        p.add_argument("block", type=int)
        p = self.add("inject", commands.cmd_inject, "show or set notifier error injection")
        switch = p.add_mutually_exclusive_group()
        switch.add_argument("--enable", dest="enabled", action="store_true", default=None)
        switch.add_argument("--disable", dest="enabled", action="store_false", default=None)
        p.add_argument("--priority", type=int)
        p.add_argument("--going-online", metavar="ERRNO", help="errno for MEM_GOING_ONLINE")
        p.add_argument("--going-offline", metavar="ERRNO", help="errno for MEM_GOING_OFFLINE")

    def add_history(self) -> None:
        """``transitions``/``history``, ``show``, ``abort``."""
        for name in ("transitions", "history"):
            p = self.add(name, commands.cmd_transitions, "transition history, or one transition")
            if name == "transitions":
                p.add_argument("id", nargs="?", help="show this transition")
            p.add_argument("--limit", type=int)
            p.add_argument("--before", help="page: only transitions before this one")
            p.add_argument("--operation", choices=("online", "offline"))
            p.add_argument("--block", type=int)
            p.add_argument("--node", type=int)
            p.add_argument("--outcome")
        p = self.add("show", commands.cmd_show, "one transition: its walks and calls")
        p.add_argument("id")
        p = self.add("abort", commands.cmd_abort, "abort an offline in flight (-EINTR)")
        p.add_argument("id")

    def add_chain(self) -> None:
        """``chain`` and ``subscribers list|show|set-priority|remove``."""
        self.add("chain", commands.cmd_chain, "the call order of the notifier chain")
        p = self.add("subscribers", commands.cmd_subscribers, "list, show, reprioritise, remove")
        actions = p.add_subparsers(dest="action", metavar="ACTION")
        actions.add_parser("list", parents=[self.common], help="list subscribers")
        actions.add_parser("show", parents=[self.common], help="one subscriber").add_argument("id")
        setp = actions.add_parser("set-priority", parents=[self.common], help="change priority")
        setp.add_argument("id")
        setp.add_argument("priority", type=int)
        actions.add_parser("remove", parents=[self.common], help="unregister").add_argument("id")

    def add_long_running(self) -> None:
        """``subscribe`` and ``watch``."""
        p = self.add("subscribe", long_running.cmd_subscribe, "run a subscriber from the shell")
        p.add_argument("--name", help="subscriber name (default hotplugctl-PID)")
        p.add_argument("--priority", type=int, default=0)
        p.add_argument("--actions", metavar="LIST", help="only these actions (comma-separated)")
        p.add_argument("--nodes", metavar="LIST", help="only these nodes (comma-separated)")
        p.add_argument(
            "--veto",
            action="append",
            metavar="ACTION[:ERRNO]",
            help="veto this action (errno default -EPERM); repeatable",
        )
        p.add_argument("--result", default="NOTIFY_OK", help="reply to the rest (NOTIFY_OK)")
        p.add_argument("--delay", type=_non_negative, default=0.0, metavar="SECONDS")
        p.add_argument("--timeout-ms", type=int)
        p.add_argument("--failure-policy", choices=FAILURE_POLICIES)
        p.add_argument("--keep", action="store_true", help="don't unregister on exit")
        p.epilog = "actions: " + ", ".join(ACTIONS)
        p = self.add("watch", long_running.cmd_watch, "print the live event stream")
        p.add_argument("--since", help="replay retained events after this id first")
        p.add_argument("--count", type=int, help="stop after this many events")

    def add_mount(self) -> None:
        """``mount``: the sysfs projection (clients.sysfs)."""
        sysfs.add_arguments(self.add("mount", sysfs.cmd_mount, sysfs.HELP))

    def add_misc(self) -> None:
        """``health`` and ``version``."""
        self.add("health", commands.cmd_health, "liveness and readiness")
        self.add("version", commands.cmd_version, "print the version")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="hotplugctl",
        parents=[common],
        description="Drive hotplugd, the memory hotplug notifier chain over the network.",
    )
    parser.add_argument("--version", action="version", version=f"hotplugctl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers = _Parsers(sub, common)
    for add in (
        parsers.add_lsmem,
        parsers.add_chmem,
        parsers.add_blocks,
        parsers.add_admin,
        parsers.add_history,
        parsers.add_chain,
        parsers.add_long_running,
        parsers.add_mount,
        parsers.add_misc,
    ):
        add()
    return parser


def _hint(exc: HotplugError) -> str:
    if exc.status == 401:
        return " (check --token or HOTPLUG_TOKEN)"
    if exc.status == 403:
        return " (this token may not do that)"
    return ""


async def _execute(
    args: argparse.Namespace, out: Output, transport: httpx.AsyncBaseTransport | None
) -> int:
    url = getattr(args, "url", None) or os.environ.get("HOTPLUG_URL") or DEFAULT_URL
    token = getattr(args, "token", None) or os.environ.get("HOTPLUG_TOKEN") or None
    timeout = getattr(args, "timeout", None) or 30.0
    async with HotplugClient(url, token, timeout=timeout, transport=transport) as client:
        context = Context(client, out, url, token)
        status: int = await args.func(context, args)
        return status


def run(
    argv: Sequence[str] | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``hotplugctl`` with ``argv``; return the exit status (never raises for errors)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out = Output(bool(getattr(args, "json", False)), stdout, stderr, use_color(stdout))
    try:
        return asyncio.run(_execute(args, out, transport))
    except UsageError as exc:
        print(f"hotplugctl {args.command}: error: {exc}", file=stderr)
        return EXIT_USAGE
    except HotplugError as exc:
        if out.json and exc.problem:
            out.data(exc.problem)
        print(f"hotplugctl: {exc}{_hint(exc)}", file=stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hotplugctl: interrupted", file=stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `hotplugctl lsmem | head -1`: the reader has had enough
        _silence(stdout)
        return 0
    except OSError as exc:
        print(f"hotplugctl: {exc}", file=stderr)
        return EXIT_ERROR


def _silence(stream: TextIO) -> None:
    """Point a closed pipe at /dev/null so the interpreter's final flush stays quiet."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())


def main() -> int:
    """The ``hotplugctl`` console script."""
    return run(sys.argv[1:])
