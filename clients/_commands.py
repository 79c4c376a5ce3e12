"""The ``hotplugctl`` commands that ask and print: one coroutine per command.

Each takes the `Context` (client and output) and the parsed arguments, and
returns the exit status. Errors from the service propagate as HotplugError
and become one line in `clients.cli`.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from clients import chmem as chmem_args
from clients import lsmem
from clients._render import (
    BLOCK_COLUMNS,
    CALL_COLUMNS,
    CHAIN_COLUMNS,
    NODE_COLUMNS,
    SUBSCRIBER_COLUMNS,
    TRANSITION_COLUMNS,
    Output,
    block_rows,
    call_rows,
    chain_rows,
    injection_lines,
    memory_lines,
    node_rows,
    subscriber_lines,
    subscriber_rows,
    transition_header,
    transition_line,
    transition_rows,
)
from clients.client import HotplugClient
from clients.errors import HotplugError, describe_veto
from clients.models import ChmemBlockResult, ChmemResult, Transition, VetoedBy
from clients.notifier import format_errno, parse_errno
from clients.version import __version__


class UsageError(Exception):
    """Arguments that parse but do not make sense together (exit status 2)."""


@dataclass
class Context:
    """What a command works with."""

    client: HotplugClient
    out: Output
    url: str
    token: str | None


Command = Callable[[Context, argparse.Namespace], Awaitable[int]]


def lsmem_options(args: argparse.Namespace) -> lsmem.LsmemOptions:
    """lsmem's options, checked as util-linux checks them."""
    formats = [name for name in ("json", "pairs", "raw") if getattr(args, name, False)]
    if len(formats) > 1:
        raise UsageError("options --json, --pairs and --raw are mutually exclusive")
    if args.all and args.split:
        raise UsageError("options --all and --split are mutually exclusive")
    columns: tuple[str, ...] = tuple(lsmem.COLUMNS) if args.output_all else lsmem.DEFAULT_COLUMNS
    try:
        if args.output:
            columns = lsmem.parse_columns(args.output, columns)
        split = lsmem.parse_split(args.split) if args.split else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    table, summary = True, not formats
    if args.summary == "never":
        summary = False
    elif args.summary == "always":
        summary = True
    elif args.summary == "only":
        table = False
    if not table and not summary:
        raise UsageError("options --{raw,json,pairs} and --summary=only are mutually exclusive")
    output: lsmem.OutputFormat = formats[0] if formats else "table"  # type: ignore[assignment]
    return lsmem.LsmemOptions(
        columns, split, args.all, args.bytes, args.noheadings, output, table, summary
    )


async def cmd_lsmem(ctx: Context, args: argparse.Namespace) -> int:
    """util-linux lsmem over the REST API."""
    options = lsmem_options(args)
    memory = await ctx.client.memory()
    blocks = await ctx.client.blocks()
    ctx.out.write(lsmem.render(blocks, memory["block_size_bytes"], options))
    return 0


async def cmd_chmem(ctx: Context, args: argparse.Namespace) -> int:
    """util-linux chmem over the REST API; exit 0 all done, 1 nothing done, 64 partly."""
    try:
        target = chmem_args.parse_target(args.target, blocks=args.blocks)
        zone = chmem_args.parse_zone(args.zone) if args.zone else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    block_size = (await ctx.client.memory()).get("block_size_bytes")
    fields = chmem_args.request_fields(target, zone)
    result = await ctx.client.chmem(args.enable, **fields)
    if ctx.out.json:
        ctx.out.data(result)
    else:
        await _report_chmem(ctx, args, result, block_size or 0)
        _report_shortfall(ctx, args, result, target, block_size or 0)
    return chmem_args.exit_status(result, target, block_size)


def _block_label(block: int, block_size: int) -> str:
    start = block * block_size
    return f"Memory Block {block} (0x{start:016x}-0x{start + block_size - 1:016x})"


async def _report_chmem(
    ctx: Context, args: argparse.Namespace, result: ChmemResult, block_size: int
) -> None:
    verb = "enable" if args.enable else "disable"
    for item in result.get("results") or []:
        label = _block_label(item.get("block", -1), block_size)
        outcome = item.get("outcome")
        if outcome == "completed":
            if args.verbose:
                ctx.out.lines([f"{label} {verb}d"])
        elif outcome == "skipped":
            if args.verbose:
                ctx.out.lines([f"{label} already {verb}d"])
        else:
            reason = await _failure_reason(ctx.client, item)
            ctx.out.note(f"hotplugctl: {label} {verb} failed: {reason}")


def _report_shortfall(
    ctx: Context,
    args: argparse.Namespace,
    result: ChmemResult,
    target: chmem_args.ChmemTarget,
    block_size: int,
) -> None:
    if target.kind != "size" or not block_size or not target.size:
        return
    done, _skipped, _failed = chmem_args.counts(result)
    if done * block_size < target.size:
        verb = "enable" if args.enable else "disable"
        size = lsmem.size_to_human(done * block_size)
        ctx.out.note(f"hotplugctl: Could only {verb} {size} of memory")


async def _failure_reason(client: HotplugClient, item: ChmemBlockResult) -> str:
    """``cancelled: vetoed by 'x' with -EBUSY (-16)``; fetches the record to name the vetoer."""
    errno = item.get("errno")
    vetoed_by = await _vetoer(client, item)
    detail = describe_veto(vetoed_by, errno) if vetoed_by else None
    if detail is None and isinstance(errno, int) and errno:
        detail = format_errno(errno)
    outcome = item.get("outcome") or "failed"
    parts = [outcome, item.get("detail"), detail]
    return ": ".join(part for part in parts if part)


async def _vetoer(client: HotplugClient, item: ChmemBlockResult) -> VetoedBy | None:
    if item.get("vetoed_by"):
        return item.get("vetoed_by")
    transition = item.get("transition")
    if isinstance(transition, dict):
        return transition.get("vetoed_by")
    if isinstance(transition, str) and item.get("outcome") == "cancelled":
        try:
            return (await client.transition(transition)).get("vetoed_by")
        except HotplugError:
            return None
    return None


async def cmd_memory(ctx: Context, args: argparse.Namespace) -> int:
    """Block size, auto-online policy, nodes."""
    memory = await ctx.client.memory()
    if ctx.out.json:
        ctx.out.data(memory)
        return 0
    ctx.out.lines(memory_lines(memory))
    ctx.out.lines([""])
    ctx.out.table(NODE_COLUMNS, node_rows(memory))
    return 0


async def cmd_blocks(ctx: Context, args: argparse.Namespace) -> int:
    """All blocks (filtered), or one."""
    if args.block is not None:
        block = await ctx.client.block(args.block)
        result: Any = block
        rows = block_rows([block])
    else:
        blocks = await ctx.client.blocks(state=args.state, node=args.node)
        result, rows = blocks, block_rows(blocks)
    if ctx.out.json:
        ctx.out.data(result)
    else:
        ctx.out.table(BLOCK_COLUMNS, rows, "no blocks")
    return 0


def _print_record(ctx: Context, record: Transition) -> None:
    if ctx.out.json:
        ctx.out.data(record)
    else:
        ctx.out.lines([transition_line(record)])


async def cmd_online(ctx: Context, args: argparse.Namespace) -> int:
    """Online one block."""
    record = await ctx.client.online(args.block, args.type, args.timeout_ms, wait=not args.no_wait)
    _print_record(ctx, record)
    return 0


async def cmd_offline(ctx: Context, args: argparse.Namespace) -> int:
    """Offline one block."""
    record = await ctx.client.offline(args.block, args.timeout_ms, wait=not args.no_wait)
    _print_record(ctx, record)
    return 0


async def cmd_set_flags(ctx: Context, args: argparse.Namespace) -> int:
    """Set a block's simulation flags."""
    if args.isolation_fails is None and args.unmovable_pages is None and args.migration_ms is None:
        raise UsageError(
            "give at least one of --isolation-fails, --unmovable-pages, --migration-ms"
        )
    block = await ctx.client.patch_block(
        args.block,
        isolation_fails=args.isolation_fails,
        unmovable_pages=args.unmovable_pages,
        migration_ms=args.migration_ms,
    )
    if ctx.out.json:
        ctx.out.data(block)
    else:
        ctx.out.table(BLOCK_COLUMNS, block_rows([block]))
    return 0


async def cmd_probe(ctx: Context, args: argparse.Namespace) -> int:
    """Hot-add memory blocks."""
    if args.count is not None and args.node is None:
        raise UsageError("--count needs --node")
    result = await ctx.client.probe(node=args.node, count=args.count, phys_addr=args.phys_addr)
    if ctx.out.json:
        ctx.out.data(result)
        return 0
    blocks = result.get("blocks") or []
    ctx.out.lines([f"added block {b['id']} on node {b.get('node')}" for b in blocks])
    ctx.out.lines(transition_line(t) for t in result.get("transitions") or [])
    return 0


async def cmd_remove(ctx: Context, args: argparse.Namespace) -> int:
    """Hot-remove an offline block."""
    await ctx.client.remove(args.block)
    if ctx.out.json:
        ctx.out.data({"removed": args.block})
    else:
        ctx.out.lines([f"removed block {args.block}"])
    return 0


async def cmd_transitions(ctx: Context, args: argparse.Namespace) -> int:
    """The history, or one transition with its walks."""
    if getattr(args, "id", None):
        return await _show_transition(ctx, args.id)
    records = await ctx.client.transitions(
        limit=args.limit,
        before=args.before,
        operation=args.operation,
        block=args.block,
        node=args.node,
        outcome=args.outcome,
    )
    if ctx.out.json:
        ctx.out.data(records)
    else:
        ctx.out.table(TRANSITION_COLUMNS, transition_rows(records), "no transitions")
    return 0


async def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    """One transition: the per-walk, per-call table."""
    return await _show_transition(ctx, args.id)


async def _show_transition(ctx: Context, transition_id: str) -> int:
    record = await ctx.client.transition(transition_id)
    if ctx.out.json:
        ctx.out.data(record)
        return 0
    ctx.out.lines(transition_header(record))
    for number, walk in enumerate(record.get("walks") or [], start=1):
        calls = call_rows(walk)
        ctx.out.lines(["", f"walk {number}: {walk.get('action')} ({len(calls)} calls)"])
        ctx.out.table(CALL_COLUMNS, calls)
    return 0


async def cmd_abort(ctx: Context, args: argparse.Namespace) -> int:
    """Abort an offline in flight."""
    _print_record(ctx, await ctx.client.abort(args.id))
    return 0


async def cmd_chain(ctx: Context, args: argparse.Namespace) -> int:
    """The call order the next transition will use."""
    chain = await ctx.client.chain()
    if ctx.out.json:
        ctx.out.data(chain)
    else:
        ctx.out.table(CHAIN_COLUMNS, chain_rows(chain), "the chain is empty")
    return 0


async def cmd_subscribers(ctx: Context, args: argparse.Namespace) -> int:
    """list / show / set-priority / remove."""
    action = args.action or "list"
    if action == "list":
        subscribers = await ctx.client.subscribers()
        if ctx.out.json:
            ctx.out.data(subscribers)
        else:
            ctx.out.table(SUBSCRIBER_COLUMNS, subscriber_rows(subscribers), "no subscribers")
        return 0
    if action == "remove":
        await ctx.client.unregister_subscriber(args.id)
        ctx.out.show({"removed": args.id}, [f"removed subscriber {args.id}"])
        return 0
    if action == "set-priority":
        info = await ctx.client.update_subscriber(args.id, priority=args.priority)
    else:
        info = await ctx.client.subscriber(args.id)
    ctx.out.show(info, subscriber_lines(info))
    return 0


def _injection_errno(text: str) -> int:
    """An injected errno: 0 (no error) or any errno in [-4095, -1]."""
    return 0 if text.strip() in ("0", "-0") else parse_errno(text)


def _injection_overrides(args: argparse.Namespace) -> dict[str, int]:
    given = {"MEM_GOING_ONLINE": args.going_online, "MEM_GOING_OFFLINE": args.going_offline}
    try:
        return {
            action: _injection_errno(text) for action, text in given.items() if text is not None
        }
    except ValueError as exc:
        raise UsageError(str(exc)) from None


async def cmd_inject(ctx: Context, args: argparse.Namespace) -> int:
    """Show or change the notifier-error-inject subscriber; changes keep what is not given."""
    overrides = _injection_overrides(args)
    current = await ctx.client.error_injection()
    if overrides or args.enabled is not None or args.priority is not None:
        actions = dict(current.get("actions") or {}) | overrides
        enabled = args.enabled if args.enabled is not None else True
        priority = args.priority if args.priority is not None else current.get("priority", 0)
        current = await ctx.client.set_error_injection(enabled, priority=priority, actions=actions)
    ctx.out.show(current, injection_lines(current))
    return 0


async def cmd_health(ctx: Context, args: argparse.Namespace) -> int:
    """Liveness and readiness; exit 1 when not ready."""
    health = await ctx.client.healthz()
    try:
        ready: dict[str, Any] = await ctx.client.readyz()
        status = 0
    except HotplugError as exc:
        if exc.status is None:
            raise
        ready, status = {"status": "not ready", "detail": str(exc)}, 1
    if ctx.out.json:
        ctx.out.data({"healthz": health, "readyz": ready})
    else:
        ctx.out.lines([f"healthz: {_status(health)}", f"readyz: {_status(ready)}"])
    return status


def _status(body: dict[str, Any]) -> str:
    text = str(body.get("status", "ok"))
    detail = body.get("detail")
    return f"{text} ({detail})" if detail else text


async def cmd_version(ctx: Context, args: argparse.Namespace) -> int:
    """The client's version."""
    if ctx.out.json:
        ctx.out.data({"hotplugctl": __version__})
    else:
        ctx.out.lines([f"hotplugctl {__version__}"])
    return 0
