"""Machine layouts: parsing TOML/JSON layouts, the built-in default, and state snapshots.

A layout names the geometry and, per range of blocks, their node, initial
state and zone, and simulation flags::

    block_size_bytes = 134217728      # optional, default 128 MiB
    page_size = 4096                  # optional
    highmem = false                   # optional: the 32-bit model with HighMem
    auto_online_blocks = "offline"    # optional: offline|online|online_kernel|online_movable
    nodes = [3]                       # optional: extra nodes with no blocks

    [[blocks]]
    first = 0                         # first block id
    count = 8                         # how many consecutive blocks (default 1)
    node = 0
    state = "online"                  # online|offline (default offline)
    zone = "Normal"                   # zone when online (default: default_zone)
    default_zone = "Normal"           # zone of a plain "online" (Normal|Movable|HighMem)
    removable = false                 # default true
    isolation_fails = false
    unmovable_pages = false
    migration_ms = 0

Parsing is pure: the caller reads the file and passes its text and name.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from typing import Any

from app.memory.model import (
    MAX_NODES,
    Block,
    BlockState,
    Geometry,
    Memory,
    Zone,
)
from app.memory.ops import AUTO_ONLINE_VALUES

_TOP_KEYS = {"block_size_bytes", "page_size", "highmem", "auto_online_blocks", "nodes", "blocks"}
_RANGE_KEYS = {
    "first", "count", "node", "state", "zone", "default_zone", "removable",
    "isolation_fails", "unmovable_pages", "migration_ms",
}  # fmt: skip
MAX_BLOCKS = 65536
MAX_MIGRATION_MS = 600_000


class LayoutError(ValueError):
    """A layout that cannot be used; the message names the file and the field."""


def parse_layout(text: str, source: str) -> Memory:
    """Parse a layout file's text; JSON when ``source`` ends in ``.json``, else TOML."""
    try:
        data = json.loads(text) if source.lower().endswith(".json") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise LayoutError(f"{source}: not valid {_format(source)}: {exc}") from None
    return build_layout(data, source)


def build_layout(data: object, source: str = "layout") -> Memory:
    """Build a ``Memory`` from a decoded layout document."""
    doc = _mapping(data, source, "the document")
    _no_unknown(doc, _TOP_KEYS, source, "")
    try:
        geometry = Geometry(
            page_size=_int(doc, "page_size", 4096, source, ""),
            block_size_bytes=_int(doc, "block_size_bytes", 134217728, source, ""),
        )
    except ValueError as exc:
        raise LayoutError(f"{source}: {exc}") from None
    memory = Memory(
        geometry=geometry,
        highmem=_bool(doc, "highmem", False, source, ""),
        auto_online_blocks=_choice(doc, "auto_online_blocks", AUTO_ONLINE_VALUES, source, ""),
    )
    for i, node in enumerate(_list(doc, "nodes", source)):
        memory.nodes.add(_node_id(node, source, f"nodes[{i}]"))
    for i, entry in enumerate(_list(doc, "blocks", source)):
        _add_range(memory, _mapping(entry, source, f"blocks[{i}]"), source, f"blocks[{i}].")
    return memory


def default_layout() -> Memory:
    """The built-in machine: every interesting case at a glance.

    Node 0: boot memory, blocks 0-7 online in Normal, not removable, and
    blocks 8-11 online in Movable (hot-added earlier, removable). Node 1:
    blocks 12-19 offline and removable, default zone Normal (a memoryless
    node). Node 2: blocks 20-27 offline and removable, default zone Movable
    (another memoryless node, as with ``movable_node``).
    """
    return build_layout(
        {
            "blocks": [
                {"first": 0, "count": 8, "node": 0, "state": "online", "removable": False},
                {"first": 8, "count": 4, "node": 0, "state": "online", "zone": "Movable"},
                {"first": 12, "count": 8, "node": 1},
                {"first": 20, "count": 8, "node": 2, "default_zone": "Movable"},
            ]
        },
        "built-in layout",
    )


def memory_to_dict(memory: Memory) -> dict[str, Any]:
    """A JSON-ready snapshot of the whole machine (what storage keeps)."""
    return {
        "page_size": memory.geometry.page_size,
        "block_size_bytes": memory.geometry.block_size_bytes,
        "highmem": memory.highmem,
        "auto_online_blocks": memory.auto_online_blocks,
        "nodes": sorted(memory.nodes),
        "blocks": [_block_to_dict(b) for b in sorted(memory.blocks.values(), key=_block_id)],
    }


def memory_from_dict(data: Mapping[str, Any]) -> Memory:
    """Rebuild a machine from ``memory_to_dict`` output."""
    memory = Memory(
        geometry=Geometry(page_size=data["page_size"], block_size_bytes=data["block_size_bytes"]),
        highmem=data["highmem"],
        auto_online_blocks=data["auto_online_blocks"],
        nodes=set(data["nodes"]),
    )
    for raw in data["blocks"]:
        block = Block(
            id=raw["id"],
            node=raw["node"],
            state=BlockState(raw["state"]),
            zone=Zone(raw["zone"]) if raw["zone"] else None,
            default_zone=Zone(raw["default_zone"]),
            removable=raw["removable"],
            isolation_fails=raw["isolation_fails"],
            unmovable_pages=raw["unmovable_pages"],
            migration_ms=raw["migration_ms"],
            transition=raw["transition"],
        )
        memory.blocks[block.id] = block
    return memory


def _block_to_dict(block: Block) -> dict[str, Any]:
    return {
        "id": block.id,
        "node": block.node,
        "state": block.state.value,
        "zone": block.zone.value if block.zone else None,
        "default_zone": block.default_zone.value,
        "removable": block.removable,
        "isolation_fails": block.isolation_fails,
        "unmovable_pages": block.unmovable_pages,
        "migration_ms": block.migration_ms,
        "transition": block.transition,
    }


def _block_id(block: Block) -> int:
    return block.id


def _add_range(memory: Memory, entry: Mapping[str, Any], source: str, where: str) -> None:
    _no_unknown(entry, _RANGE_KEYS, source, where)
    if "first" not in entry or "node" not in entry:
        raise LayoutError(f"{source}: {where}first and {where}node are required")
    first = _int(entry, "first", 0, source, where, low=0)
    count = _int(entry, "count", 1, source, where, low=1)
    if first + count > MAX_BLOCKS:
        raise LayoutError(f"{source}: {where}first+count exceeds {MAX_BLOCKS} blocks")
    node = _node_id(entry["node"], source, f"{where}node")
    state = _choice(entry, "state", ("offline", "online"), source, where)
    default_zone = _zone(entry, "default_zone", Zone.NORMAL, memory, source, where)
    zone = _zone(entry, "zone", default_zone, memory, source, where)
    for block_id in range(first, first + count):
        if block_id in memory.blocks:
            raise LayoutError(f"{source}: {where}first: block {block_id} is defined twice")
        memory.blocks[block_id] = Block(
            id=block_id,
            node=node,
            state=BlockState(state),
            zone=zone if state == "online" else None,
            default_zone=default_zone,
            removable=_bool(entry, "removable", True, source, where),
            isolation_fails=_bool(entry, "isolation_fails", False, source, where),
            unmovable_pages=_bool(entry, "unmovable_pages", False, source, where),
            migration_ms=_int(entry, "migration_ms", 0, source, where, 0, MAX_MIGRATION_MS),
        )
    memory.nodes.add(node)


def _format(source: str) -> str:
    return "JSON" if source.lower().endswith(".json") else "TOML"


def _mapping(value: object, source: str, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise LayoutError(f"{source}: {where} must be a table/object")
    return value


def _list(doc: Mapping[str, Any], key: str, source: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise LayoutError(f"{source}: {key} must be a list")
    return value


def _no_unknown(doc: Mapping[str, Any], known: set[str], source: str, where: str) -> None:
    unknown = sorted(set(doc) - known)
    if unknown:
        raise LayoutError(f"{source}: {where}{unknown[0]}: unknown field")


def _int(
    doc: Mapping[str, Any],
    key: str,
    default: int,
    source: str,
    where: str,
    low: int | None = None,
    high: int | None = None,
) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise LayoutError(f"{source}: {where}{key} must be an integer")
    if low is not None and value < low:
        raise LayoutError(f"{source}: {where}{key} must be at least {low}, got {value}")
    if high is not None and value > high:
        raise LayoutError(f"{source}: {where}{key} must be at most {high}, got {value}")
    return value


def _bool(doc: Mapping[str, Any], key: str, default: bool, source: str, where: str) -> bool:
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise LayoutError(f"{source}: {where}{key} must be true or false")
    return value


def _choice(
    doc: Mapping[str, Any], key: str, choices: tuple[str, ...], source: str, where: str
) -> str:
    value = doc.get(key, choices[0])
    if value not in choices:
        raise LayoutError(f"{source}: {where}{key} must be one of {', '.join(choices)}")
    return str(value)


def _zone(
    doc: Mapping[str, Any], key: str, default: Zone, memory: Memory, source: str, where: str
) -> Zone:
    if key not in doc:
        return default
    allowed = [z.value for z in Zone if memory.highmem or z is not Zone.HIGHMEM]
    if doc[key] not in allowed:
        raise LayoutError(f"{source}: {where}{key} must be one of {', '.join(allowed)}")
    return Zone(doc[key])


def _node_id(value: object, source: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_NODES:
        raise LayoutError(f"{source}: {where} must be a node id in 0..{MAX_NODES - 1}")
    return value
