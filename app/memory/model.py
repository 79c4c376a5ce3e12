"""Memory blocks, zones and nodes, and the node states derived from them.

Present pages are never stored: they are the pages of the blocks that are
online (or going offline: their pages stay present until the offline commits).
Everything a node state or a ``memory_notify`` argument needs is derived.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_NODES = 1024


class Zone(enum.Enum):
    """A zone, ordered Normal < HighMem < Movable as in the kernel."""

    NORMAL = "Normal"
    HIGHMEM = "HighMem"
    MOVABLE = "Movable"

    @property
    def rank(self) -> int:
        """Position in the kernel's zone order."""
        return _ZONE_RANK[self]


_ZONE_RANK = {Zone.NORMAL: 0, Zone.HIGHMEM: 1, Zone.MOVABLE: 2}


class OnlineType(enum.Enum):
    """What a sysfs ``state`` write asks for."""

    ONLINE = "online"
    ONLINE_KERNEL = "online_kernel"
    ONLINE_MOVABLE = "online_movable"


class BlockState(enum.Enum):
    """The sysfs ``state`` of a block; there is no ``going-online``."""

    ONLINE = "online"
    OFFLINE = "offline"
    GOING_OFFLINE = "going-offline"


class NodeState(enum.Enum):
    """The node states a memory transition can change."""

    N_MEMORY = "N_MEMORY"
    N_NORMAL_MEMORY = "N_NORMAL_MEMORY"
    N_HIGH_MEMORY = "N_HIGH_MEMORY"


class HotplugError(Exception):
    """A memory operation refused with a kernel errno."""

    def __init__(self, errno: int, message: str) -> None:
        super().__init__(message)
        self.errno = errno


@dataclass(slots=True)
class Block:
    """One memory block: its place, state and simulation flags."""

    id: int
    node: int
    state: BlockState = BlockState.OFFLINE
    zone: Zone | None = None
    default_zone: Zone = Zone.NORMAL
    removable: bool = True
    isolation_fails: bool = False
    unmovable_pages: bool = False
    migration_ms: int = 0
    transition: str | None = None

    @property
    def has_pages(self) -> bool:
        """Whether its pages count as present (online or going offline)."""
        return self.state is not BlockState.OFFLINE


@dataclass(frozen=True, slots=True)
class Geometry:
    """Page and block sizes of the machine."""

    page_size: int = 4096
    block_size_bytes: int = 134217728

    def __post_init__(self) -> None:
        for name in ("page_size", "block_size_bytes"):
            value = getattr(self, name)
            if value <= 0 or value & (value - 1):
                raise ValueError(f"{name} must be a power of two, got {value}")
        if self.block_size_bytes % self.page_size:
            raise ValueError("block_size_bytes must be a multiple of page_size")

    @property
    def pages_per_block(self) -> int:
        """``nr_pages`` of every block."""
        return self.block_size_bytes // self.page_size

    def start_pfn(self, block_id: int) -> int:
        """First page frame number of a block."""
        return block_id * self.pages_per_block


@dataclass(slots=True)
class Memory:
    """The machine: geometry, nodes and blocks."""

    geometry: Geometry = field(default_factory=Geometry)
    highmem: bool = False
    auto_online_blocks: str = "offline"
    nodes: set[int] = field(default_factory=set)
    blocks: dict[int, Block] = field(default_factory=dict)

    def block(self, block_id: int) -> Block:
        """A block by id; ``LookupError`` when there is none."""
        try:
            return self.blocks[block_id]
        except KeyError:
            raise LookupError(f"memory block {block_id} does not exist") from None

    def node_blocks(self, node: int) -> Iterator[Block]:
        """The blocks of one node."""
        return (b for b in self.blocks.values() if b.node == node)

    def present_pages(self, node: int) -> dict[Zone, int]:
        """Present pages per zone of a node (zones without pages omitted)."""
        pages: dict[Zone, int] = {}
        per_block = self.geometry.pages_per_block
        for block in self.node_blocks(node):
            if block.has_pages and block.zone is not None:
                pages[block.zone] = pages.get(block.zone, 0) + per_block
        return pages

    def present_up_to(self, node: int, zone: Zone) -> int:
        """Present pages of a node in zones up to and including ``zone``."""
        pages = self.present_pages(node)
        return sum(n for z, n in pages.items() if z.rank <= zone.rank)

    def node_states(self, node: int) -> set[NodeState]:
        """The node states a node is in now."""
        pages = self.present_pages(node)
        states: set[NodeState] = set()
        if pages:
            states.add(NodeState.N_MEMORY)
        if pages.get(Zone.NORMAL, 0):
            states.add(NodeState.N_NORMAL_MEMORY)
        high_limit = Zone.HIGHMEM if self.highmem else Zone.NORMAL
        if any(n for z, n in pages.items() if z.rank <= high_limit.rank):
            states.add(NodeState.N_HIGH_MEMORY)
        return states

    def valid_zones(self, block: Block) -> list[Zone]:
        """``valid_zones`` as sysfs shows it: the zone if online, else default first."""
        if block.zone is not None:
            return [block.zone]
        others = [z for z in (Zone.NORMAL, Zone.MOVABLE) if z is not block.default_zone]
        return [block.default_zone, *others]

    def zone_for(self, block: Block, online_type: OnlineType) -> Zone:
        """The zone an online request puts a block in."""
        if online_type is OnlineType.ONLINE_KERNEL:
            return Zone.NORMAL
        if online_type is OnlineType.ONLINE_MOVABLE:
            return Zone.MOVABLE
        return block.default_zone
