"""Human output of ``hotplugctl``: tables and one-line summaries, colour on a terminal.

Every function takes the JSON the service sent and returns lines; `Output`
writes them (or the JSON itself with ``--json``). Colour is used only when
stdout is a terminal and ``NO_COLOR`` is unset (https://no-color.org).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from clients._table import Column, format_table
from clients.errors import describe_veto
from clients.events import CloudEvent
from clients.lsmem import size_to_human
from clients.models import (
    Block,
    ChainEntry,
    ErrorInjection,
    MemoryInfo,
    SubscriberInfo,
    Transition,
    Walk,
)
from clients.notifier import NOTIFY_STOP_MASK, format_errno, result_name
from clients.subscriber import Answer

GREEN, RED, YELLOW, DIM = "32", "31", "33", "2"

_STYLES: dict[str, dict[str, str]] = {
    "STATE": {"online": GREEN, "going-offline": YELLOW},
    "OUTCOME": {
        "completed": GREEN,
        "cancelled": RED,
        "failed": RED,
        "aborted": RED,
        "pending": YELLOW,
        "running": YELLOW,
    },
    "CONNECTED": {"yes": GREEN, "no": RED},
    "DELIVERY": {"timeout": RED, "disconnected": RED, "unregistered": YELLOW},
}


def style_for(header: str, value: str) -> str | None:
    """The colour of a table cell, by column and value."""
    if header == "RESULT" and ("NOTIFY_BAD" in value or "-E" in value):
        return RED
    return _STYLES.get(header, {}).get(value)


def use_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (or TERM is dumb)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@dataclass
class Output:
    """Where and how ``hotplugctl`` prints."""

    json: bool = False
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    color: bool = False

    def lines(self, lines: Iterable[str]) -> None:
        """Print lines to stdout."""
        for line in lines:
            print(line, file=self.stdout)

    def write(self, text: str) -> None:
        """Print text as it is."""
        self.stdout.write(text)

    def data(self, value: Any) -> None:
        """Print JSON, indented."""
        print(json.dumps(value, indent=2, sort_keys=False), file=self.stdout)

    def json_line(self, value: Any) -> None:
        """Print one JSON line (streams) and flush."""
        print(json.dumps(value, separators=(",", ":")), file=self.stdout, flush=True)

    def note(self, text: str) -> None:
        """A message for the person, on stderr."""
        print(text, file=self.stderr, flush=True)

    def show(self, value: Any, lines: Iterable[str]) -> None:
        """Print ``value`` as JSON with ``--json``, else the human ``lines``."""
        if self.json:
            self.data(value)
        else:
            self.lines(lines)

    def table(
        self, columns: Sequence[Column], rows: Sequence[Sequence[str]], empty: str = ""
    ) -> None:
        """Print a table, coloured when allowed; ``empty`` (on stderr) when it has no rows."""
        if not rows and empty:
            self.note(empty)
        colorize = style_for if self.color else None
        self.lines(line.rstrip() for line in format_table(columns, rows, colorize=colorize))

    def paint(self, text: str, style: str | None) -> str:
        """``text`` in colour when allowed."""
        return f"\033[{style}m{text}\033[0m" if self.color and style else text


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value) or "-"
    return str(value)


def _errno(value: Any) -> str:
    return format_errno(value) if isinstance(value, int) and value else "-"


def block_flags(block: Mapping[str, Any]) -> str:
    """The simulation flags that are set, for the FLAGS column."""
    flags = []
    if block.get("isolation_fails"):
        flags.append("isolation-fails")
    if block.get("unmovable_pages"):
        flags.append("unmovable-pages")
    if block.get("migration_ms"):
        flags.append(f"migration={block['migration_ms']}ms")
    return ",".join(flags) or "-"


BLOCK_COLUMNS = [
    Column("BLOCK", right=True),
    Column("START_PFN", right=True),
    Column("NODE", right=True),
    Column("STATE"),
    Column("ZONE"),
    Column("REMOVABLE"),
    Column("VALID_ZONES"),
    Column("TRANSITION"),
    Column("FLAGS"),
]


def block_rows(blocks: Iterable[Block]) -> list[list[str]]:
    """One row per block."""
    return [
        [
            str(b["id"]),
            f"{b.get('start_pfn', 0):#x}",
            _text(b.get("node")),
            _text(b.get("state")),
            _text(b.get("zone")),
            _text(b.get("removable")),
            "/".join(b.get("valid_zones") or []) or "-",
            _text(b.get("transition")),
            block_flags(b),
        ]
        for b in sorted(blocks, key=lambda b: b["id"])
    ]


def memory_lines(memory: MemoryInfo) -> list[str]:
    """Block size, auto-online policy, totals."""
    size = memory.get("block_size_bytes", 0)
    lines = [
        f"block size:         {size_to_human(size)} ({size} bytes)",
        f"page size:          {memory.get('page_size')}",
        f"auto_online_blocks: {memory.get('auto_online_blocks')}",
    ]
    summary = memory.get("summary") or {}
    width = max([19, *(len(key) + 1 for key in summary)])
    for key, value in summary.items():
        text = _text(value)
        if key.endswith("_bytes") and isinstance(value, int):
            text = f"{size_to_human(value)} ({value} bytes)"
        lines.append(f"{key + ':':<{width}} {text}")
    return lines


NODE_COLUMNS = [Column("NODE", right=True), Column("STATES"), Column("PRESENT")]


def node_rows(memory: MemoryInfo) -> list[list[str]]:
    """One row per node: its node states and present memory per zone."""
    page_size = memory.get("page_size", 4096)
    rows = []
    for node in memory.get("nodes") or []:
        present = node.get("present_pages") or {}
        zones = " ".join(f"{z}={size_to_human(p * page_size)}" for z, p in present.items() if p)
        rows.append([str(node.get("id")), _text(node.get("states")), zones or "-"])
    return rows


def short_id(value: Any) -> str:
    """Transition and subscriber ids as given (ids are opaque strings)."""
    return _text(value)


def transition_line(record: Transition) -> str:
    """``offline block 17 (node 1): cancelled: vetoed by 'x' ... [transition ID]``."""
    operation = record.get("operation", "?")
    text = f"{operation} block {record.get('block')} (node {record.get('node')})"
    text += f": {record.get('outcome', '?')}"
    vetoed_by = record.get("vetoed_by")
    if vetoed_by:
        text += f": {describe_veto(vetoed_by, record.get('errno'))}"
    elif record.get("errno"):
        text += f": {_errno(record.get('errno'))}"
    return f"{text} [transition {record.get('id')}]"


TRANSITION_COLUMNS = [
    Column("ID"),
    Column("OPERATION"),
    Column("BLOCK", right=True),
    Column("NODE", right=True),
    Column("OUTCOME"),
    Column("ERRNO"),
    Column("VETOED_BY"),
    Column("CREATED"),
]


def transition_rows(records: Iterable[Transition]) -> list[list[str]]:
    """One row per transition."""
    return [
        [
            short_id(r.get("id")),
            _text(r.get("operation")),
            _text(r.get("block")),
            _text(r.get("node")),
            _text(r.get("outcome")),
            _errno(r.get("errno")),
            _text((r.get("vetoed_by") or {}).get("name")),
            _text(r.get("created_at")),
        ]
        for r in records
    ]


def transition_header(record: Transition) -> list[str]:
    """The record's identity, outcome and argument, before the walks."""
    arg: Mapping[str, Any] = record.get("arg") or {}
    where = record.get("zone") or record.get("online_type")
    lines = [
        f"transition {record.get('id')}: {transition_line(record).rsplit(' [', 1)[0]}",
        f"  zone/type: {_text(where)}  errno: {_errno(record.get('errno'))}",
        "  arg: " + " ".join(f"{key}={value}" for key, value in arg.items()),
    ]
    times = {"created": record.get("created_at"), "started": record.get("started_at")}
    times["finished"] = record.get("finished_at")
    stamps = [f"{name}={stamp}" for name, stamp in times.items() if stamp]
    if stamps:
        lines.append("  " + "  ".join(stamps))
    return lines


CALL_COLUMNS = [
    Column("#", right=True),
    Column("NAME"),
    Column("SUBSCRIBER"),
    Column("PRIO", right=True),
    Column("DELIVERY"),
    Column("RESULT"),
    Column("ERRNO"),
    Column("LATENCY", right=True),
    Column("NOTE"),
]


def _stopper(walk: Walk) -> int | None:
    """Index of the call whose stop bit ended the walk: from the record, else inferred."""
    stopped_by = walk.get("stopped_by")
    if isinstance(stopped_by, int) and not isinstance(stopped_by, bool):
        return stopped_by
    for index, call in enumerate(walk.get("calls") or []):
        value = call.get("value")
        if isinstance(value, int) and value & NOTIFY_STOP_MASK:
            return index
    return None


def call_rows(walk: Walk) -> list[list[str]]:
    """One row per call of a walk; NOTE marks the call that stopped it."""
    stop = _stopper(walk)
    rows = []
    for index, call in enumerate(walk.get("calls") or []):
        latency = call.get("latency_ms")
        value = call.get("value")
        result = call.get("result") or (result_name(value) if isinstance(value, int) else "-")
        note = "stopped the walk" if index == stop else ""
        message = call.get("message")
        rows.append(
            [
                str(index + 1),
                _text(call.get("name")),
                _text(call.get("subscriber")),
                _text(call.get("priority")),
                _text(call.get("delivery")),
                result,
                _errno(call.get("errno")),
                f"{latency:.1f}ms" if isinstance(latency, int | float) else "-",
                "; ".join(part for part in (note, message) if part),
            ]
        )
    return rows


SUBSCRIBER_COLUMNS = [
    Column("ID"),
    Column("NAME"),
    Column("PRIORITY", right=True),
    Column("CONNECTED"),
    Column("ACTIONS"),
    Column("NODES"),
    Column("TIMEOUT_MS", right=True),
    Column("POLICY"),
]


def subscriber_rows(subscribers: Iterable[SubscriberInfo]) -> list[list[str]]:
    """One row per subscriber."""
    return [
        [
            short_id(s.get("id")),
            _text(s.get("name")),
            _text(s.get("priority")),
            _text(s.get("connected")),
            _text(s.get("actions") or "all"),
            _text(s.get("nodes") or "all"),
            _text(s.get("timeout_ms")),
            _text(s.get("failure_policy")),
        ]
        for s in subscribers
    ]


def subscriber_lines(info: SubscriberInfo) -> list[str]:
    """Every field of one subscriber, one per line."""
    return [f"{key + ':':<16} {_detail(value)}" for key, value in info.items()]


def _detail(value: Any) -> str:
    if isinstance(value, Mapping):
        return " ".join(f"{k}={_text(v)}" for k, v in value.items()) or "-"
    return _text(value)


CHAIN_COLUMNS = [
    Column("ORDER", right=True),
    Column("PRIORITY", right=True),
    Column("NAME"),
    Column("ID"),
    Column("CONNECTED"),
]


def chain_rows(chain: Iterable[ChainEntry]) -> list[list[str]]:
    """The call order, first called first."""
    return [
        [
            str(index + 1),
            _text(entry.get("priority")),
            _text(entry.get("name")),
            short_id(entry.get("id")),
            _text(entry.get("connected")),
        ]
        for index, entry in enumerate(chain)
    ]


def injection_lines(settings: ErrorInjection) -> list[str]:
    """The error-injection settings."""
    lines = [
        f"notifier-error-inject: {'enabled' if settings.get('enabled') else 'disabled'}",
        f"priority: {settings.get('priority', 0)}",
    ]
    for action, errno in (settings.get("actions") or {}).items():
        lines.append(f"{action}: {_errno(errno) if errno else '0 (no error)'}")
    return lines


def answer_line(answer: Answer) -> str:
    """``subscribe``: one notification and the reply it got."""
    n, reply = answer.notification, answer.reply
    arg = n.arg
    text = (
        f"#{n.id} {n.action} block {n.block} node {n.node} "
        f"pfn {arg.start_pfn:#x}+{arg.nr_pages} nid_normal={arg.status_change_nid_normal} "
        f"nid_high={arg.status_change_nid_high} nid={arg.status_change_nid} -> "
    )
    if reply.errno:
        text += f"{reply.value:#06x} errno {format_errno(reply.errno)}"
    else:
        text += reply.result
    if reply.message:
        text += f": {reply.message}"
    return f"{text} [{answer.source.value}, {answer.elapsed * 1000:.1f} ms]"


def answer_json(answer: Answer) -> dict[str, Any]:
    """``subscribe --json``: one notification and its reply."""
    return {
        "notification": answer.notification.to_wire(),
        "reply": answer.reply.to_frame(),
        "source": answer.source.value,
        "elapsed_ms": round(answer.elapsed * 1000, 3),
    }


def _clock(stamp: str | None) -> str:
    if not stamp:
        return "-"
    try:
        return datetime.fromisoformat(stamp).strftime("%H:%M:%S.%f")[:-3]
    except ValueError:
        return stamp


def event_line(event: CloudEvent) -> str:
    """``watch``: one event as ``time #id type subject key=value ...``."""
    kind = event.type.removeprefix("hotplug.")
    data = event.data if isinstance(event.data, Mapping) else {"data": event.data}
    fields = " ".join(
        f"{key}={_text(value)}"
        for key, value in data.items()
        if not isinstance(value, Mapping) and not (isinstance(value, list) and len(value) > 8)
    )
    subject = f" {event.subject}" if event.subject else ""
    return f"{_clock(event.time)} #{event.id} {kind}{subject} {fields}".rstrip()
