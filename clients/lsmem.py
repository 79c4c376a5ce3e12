"""``hotplugctl lsmem``: util-linux lsmem's output, from the blocks of the REST API.

Pure functions, no I/O: give them the blocks of ``GET /api/v1/memory/blocks``
and the block size of ``GET /api/v1/memory``. What they reproduce
(util-linux ``sys-utils/lsmem.c``, kernel-notes §8):

- columns RANGE, SIZE, STATE, REMOVABLE, BLOCK, NODE, ZONES; default RANGE,
  SIZE, STATE, REMOVABLE, BLOCK; ``-o +LIST`` appends to the default;
- adjacent blocks merge into one range unless they differ in a split column
  (by default the displayed STATE, REMOVABLE, NODE, ZONES; or ``-S LIST``,
  ``-S none``); ``-a`` lists every block;
- STATE ``online``, ``offline``, ``on->off`` (going-offline), ``?``;
  REMOVABLE ``yes``/``no`` for online ranges only; ZONES joined by ``/``;
- SIZE in lsmem's one-letter units (``128M``, ``1.5G``) or bytes (``-b``);
- table, ``-J`` (table name "memory"), ``-P`` pairs and ``-r`` raw formats;
- the summary lines "Memory block size:", "Total online memory:",
  "Total offline memory:" (anything not online counts as offline).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from clients._table import Column, format_table
from clients.models import Block

COLUMNS: Final[dict[str, Column]] = {
    "RANGE": Column("RANGE"),
    "SIZE": Column("SIZE", right=True, hint=5),
    "STATE": Column("STATE", right=True),
    "REMOVABLE": Column("REMOVABLE", right=True),
    "BLOCK": Column("BLOCK", right=True),
    "NODE": Column("NODE", right=True),
    "ZONES": Column("ZONES", right=True),
}
COLUMN_HELP: Final[dict[str, str]] = {
    "RANGE": "start and end address of the memory range",
    "SIZE": "size of the memory range",
    "STATE": "online status of the memory range",
    "REMOVABLE": "memory is removable",
    "BLOCK": "memory block number or blocks range",
    "NODE": "numa node of memory",
    "ZONES": "valid zones for the memory range",
}
DEFAULT_COLUMNS: Final = ("RANGE", "SIZE", "STATE", "REMOVABLE", "BLOCK")
SPLIT_COLUMNS: Final = frozenset({"STATE", "REMOVABLE", "NODE", "ZONES"})
ZONE_NAMES: Final = ("DMA", "DMA32", "Normal", "Highmem", "Movable", "Device", "None", "Unknown")
STATE_LABELS: Final = {"online": "online", "offline": "offline", "going-offline": "on->off"}

OutputFormat = Literal["table", "json", "pairs", "raw"]


@dataclass(frozen=True, slots=True)
class MemoryRange:
    """A run of ``count`` blocks from block ``first`` that lsmem shows as one row."""

    first: int
    count: int
    state: str
    removable: bool
    node: int
    zones: tuple[str, ...]

    @property
    def last(self) -> int:
        """The last block of the range."""
        return self.first + self.count - 1


@dataclass(frozen=True, slots=True)
class LsmemOptions:
    """What to print; the defaults are plain ``lsmem``."""

    columns: tuple[str, ...] = DEFAULT_COLUMNS
    split: frozenset[str] | None = None  # None: split by the displayed columns
    list_all: bool = False
    in_bytes: bool = False
    noheadings: bool = False
    output: OutputFormat = "table"
    table: bool = True
    summary: bool = True


def zone_label(zone: str) -> str:
    """A zone name as lsmem prints it (matched case-insensitively, e.g. HighMem → Highmem)."""
    for name in ZONE_NAMES:
        if name.lower() == zone.lower():
            return name
    return "Unknown"


def parse_columns(spec: str, current: Sequence[str] = DEFAULT_COLUMNS) -> tuple[str, ...]:
    """``-o LIST``: replaces the columns, or appends to ``current`` when it starts with ``+``."""
    base = tuple(current) if spec.startswith("+") else ()
    names = [name.strip().upper() for name in spec.lstrip("+").split(",") if name.strip()]
    for name in names:
        if name not in COLUMNS:
            raise ValueError(f"unknown column: {name}")
    if not names:
        raise ValueError("no columns given")
    return base + tuple(names)


def parse_split(spec: str) -> frozenset[str]:
    """``-S LIST`` (or ``none``): the columns whose change starts a new range."""
    if spec.strip().lower() == "none":
        return frozenset()
    return frozenset(name for name in parse_columns(spec, ()) if name in SPLIT_COLUMNS)


def block_range(block: Block) -> MemoryRange:
    """One block as a range of one."""
    zones = tuple(zone_label(z) for z in block.get("valid_zones") or ())
    return MemoryRange(
        first=block["id"],
        count=1,
        state=str(block.get("state", "?")),
        removable=bool(block.get("removable")),
        node=block.get("node", -1),
        zones=zones,
    )


def _mergeable(current: MemoryRange, nxt: MemoryRange, split: Collection[str]) -> bool:
    if current.first + current.count != nxt.first:
        return False
    if "STATE" in split and current.state != nxt.state:
        return False
    if "REMOVABLE" in split and current.removable != nxt.removable:
        return False
    if "NODE" in split and current.node != nxt.node:
        return False
    zones_differ = "Unknown" in current.zones or current.zones != nxt.zones
    return not ("ZONES" in split and zones_differ)


def merge(
    blocks: Iterable[Block], split: Collection[str], list_all: bool = False
) -> list[MemoryRange]:
    """Rows of lsmem: blocks in id order, adjacent ones merged unless a split column differs."""
    rows: list[MemoryRange] = []
    for block in sorted(blocks, key=lambda b: b["id"]):
        item = block_range(block)
        if rows and not list_all and _mergeable(rows[-1], item, split):
            last = rows[-1]
            rows[-1] = MemoryRange(
                last.first, last.count + 1, last.state, last.removable, last.node, last.zones
            )
        else:
            rows.append(item)
    return rows


def size_to_human(size: int) -> str:
    """util-linux ``size_to_human_string(SIZE_SUFFIX_1LETTER, size)``: 128M, 1.5G, 0B."""
    exp = 0
    while exp < 60 and size >= 1 << (exp + 10):
        exp += 10
    letter = "BKMGTPE"[exp // 10]
    whole, frac = (size >> exp, size % (1 << exp)) if exp else (size, 0)
    if frac:
        if frac >= (2**64 - 1) // 1000:
            frac = ((frac // 1024) * 1000) // (1 << (exp - 10))
        else:
            frac = (frac * 1000) // (1 << exp)
        frac = ((frac + 50) // 100) * 10  # round to one digit after the point
        if frac == 100:
            whole, frac = whole + 1, 0
    if frac:
        return f"{whole}.{frac:02d}".rstrip("0") + letter
    return f"{whole}{letter}"


def cell(row: MemoryRange, column: str, block_size: int, in_bytes: bool) -> str:
    """The text of one cell ('' for an empty one)."""
    if column == "RANGE":
        start = row.first * block_size
        return f"0x{start:016x}-0x{start + row.count * block_size - 1:016x}"
    if column == "SIZE":
        size = row.count * block_size
        return str(size) if in_bytes else size_to_human(size)
    if column == "STATE":
        return STATE_LABELS.get(row.state, "?")
    if column == "REMOVABLE":
        return ("yes" if row.removable else "no") if row.state == "online" else ""
    if column == "BLOCK":
        return str(row.first) if row.count == 1 else f"{row.first}-{row.last}"
    if column == "NODE":
        return str(row.node)
    if column == "ZONES":
        return "/".join(row.zones)
    raise ValueError(f"unknown column: {column}")


def summary_lines(blocks: Iterable[Block], block_size: int, in_bytes: bool) -> list[str]:
    """lsmem's three summary lines."""
    states = [block.get("state") for block in blocks]
    online = sum(block_size for state in states if state == "online")
    offline = len(states) * block_size - online
    values = (
        ("Memory block size:", block_size),
        ("Total online memory:", online),
        ("Total offline memory:", offline),
    )
    if in_bytes:
        return [f"{label:<23} {value:>15}" for label, value in values]
    return [f"{label:<23} {size_to_human(value):>5}" for label, value in values]


def render(blocks: Sequence[Block], block_size: int, options: LsmemOptions) -> str:
    """Everything ``lsmem`` would print for these blocks."""
    lines: list[str] = []
    if options.table:
        split = SPLIT_COLUMNS & set(options.columns) if options.split is None else options.split
        rows = merge(blocks, split, options.list_all)
        cells = [
            [cell(row, name, block_size, options.in_bytes) for name in options.columns]
            for row in rows
        ]
        lines.extend(_format(options, cells))
        if options.summary:
            lines.append("")
    if options.summary:
        lines.extend(summary_lines(blocks, block_size, options.in_bytes))
    return "".join(f"{line}\n" for line in lines)


def _format(options: LsmemOptions, cells: list[list[str]]) -> list[str]:
    columns = options.columns
    if options.output == "json":
        return json_lines(columns, cells, options.in_bytes)
    if options.output == "pairs":
        return [
            " ".join(f"{n}={_quoted(v)}" for n, v in zip(columns, r, strict=True)) for r in cells
        ]
    if options.output == "raw":
        rows = cells if options.noheadings or not cells else [list(columns), *cells]
        return [" ".join(_nonblank(value) for value in row) for row in rows]
    layout = [COLUMNS[name] for name in columns]
    return format_table(layout, cells, headings=not options.noheadings)


def _json_value(column: str, value: str, in_bytes: bool) -> str:
    if column == "NODE" or (column == "SIZE" and in_bytes):
        return value or "null"
    if column == "REMOVABLE":
        return "true" if value and value[0] not in "0nN" else "false"
    return json.dumps(value)


def json_lines(columns: Sequence[str], cells: Sequence[Sequence[str]], in_bytes: bool) -> list[str]:
    """The ``-J`` output, laid out like libsmartcols' JSON writer."""
    lines = ["{", '   "memory": [']
    for index, row in enumerate(cells):
        lines.append("      {" if index == 0 else "      },{")
        fields = [
            f'         "{name.lower()}": {_json_value(name, value, in_bytes)}'
            for name, value in zip(columns, row, strict=True)
        ]
        lines.append(",\n".join(fields))
    if cells:
        lines.append("      }")
    lines.extend(["   ]", "}"])
    return lines


def _quoted(value: str) -> str:
    """util-linux ``fputs_quoted``: double quotes, and ``"\\`$`` and controls as ``\\xHH``."""
    escaped = "".join(
        f"\\x{ord(c):02x}" if c in '"\\`$' or not c.isprintable() else c for c in value
    )
    return f'"{escaped}"'


def _nonblank(value: str) -> str:
    """util-linux ``fputs_nonblank``: blanks and controls as ``\\xHH`` (raw output)."""
    return "".join(f"\\x{ord(c):02x}" if c.isspace() or not c.isprintable() else c for c in value)
