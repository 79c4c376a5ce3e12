"""Blocks, zones, nodes and node states (SPEC §1)."""

from __future__ import annotations

import pytest

from app.memory.model import (
    MAX_NODES,
    Block,
    BlockState,
    Geometry,
    HotplugError,
    Memory,
    NodeState,
    OnlineType,
    Zone,
)

PAGES = Geometry().pages_per_block
N_MEMORY, N_NORMAL, N_HIGH = NodeState.N_MEMORY, NodeState.N_NORMAL_MEMORY, NodeState.N_HIGH_MEMORY


def machine(*blocks: Block, highmem: bool = False) -> Memory:
    """A memory with these blocks and their nodes."""
    return Memory(
        highmem=highmem,
        nodes={b.node for b in blocks},
        blocks={b.id: b for b in blocks},
    )


def online(block_id: int, node: int, zone: Zone) -> Block:
    """An online block in a zone."""
    return Block(id=block_id, node=node, state=BlockState.ONLINE, zone=zone)


def test_zones_are_ordered_normal_highmem_movable() -> None:
    """Zones rank Normal < HighMem < Movable, with their sysfs names."""
    assert sorted(Zone, key=lambda z: z.rank) == [Zone.NORMAL, Zone.HIGHMEM, Zone.MOVABLE]
    assert [z.value for z in Zone] == ["Normal", "HighMem", "Movable"]


def test_there_is_no_going_online_state() -> None:
    """§9.9: the block states are exactly online, offline and going-offline."""
    assert {s.value for s in BlockState} == {"online", "offline", "going-offline"}


def test_online_types_are_the_sysfs_strings() -> None:
    """The online types are the strings the sysfs state file accepts."""
    assert {t.value for t in OnlineType} == {"online", "online_kernel", "online_movable"}


def test_block_defaults() -> None:
    """A new block is offline, zoneless, default zone Normal, removable, with no flags."""
    block = Block(id=3, node=1)
    assert (block.state, block.zone, block.default_zone) == (BlockState.OFFLINE, None, Zone.NORMAL)
    assert block.removable
    assert not block.isolation_fails
    assert not block.unmovable_pages
    assert (block.migration_ms, block.transition) == (0, None)


@pytest.mark.parametrize(
    ("state", "has_pages"),
    [(BlockState.ONLINE, True), (BlockState.GOING_OFFLINE, True), (BlockState.OFFLINE, False)],
)
def test_pages_stay_present_while_going_offline(state: BlockState, has_pages: bool) -> None:
    """A block's pages are present while online and while going offline, not when offline."""
    assert Block(id=0, node=0, state=state, zone=Zone.NORMAL).has_pages is has_pages


def test_default_geometry() -> None:
    """Default pages are 4096 bytes and blocks 128 MiB: 32768 pages per block."""
    geometry = Geometry()
    assert (geometry.page_size, geometry.block_size_bytes) == (4096, 134217728)
    assert geometry.pages_per_block == 32768
    assert geometry.start_pfn(0) == 0
    assert geometry.start_pfn(3) == 3 * 32768


def test_custom_geometry() -> None:
    """A configured geometry derives pages per block and start_pfn from its sizes."""
    geometry = Geometry(page_size=65536, block_size_bytes=2**30)
    assert geometry.pages_per_block == 16384
    assert geometry.start_pfn(2) == 32768


@pytest.mark.parametrize(
    ("page_size", "block_size", "field"),
    [
        (4096, 3 * 2**20, "block_size_bytes"),
        (3000, 2**27, "page_size"),
        (0, 2**27, "page_size"),
        (-4096, 2**27, "page_size"),
        (4096, 0, "block_size_bytes"),
        (8192, 4096, "multiple of page_size"),
    ],
)
def test_bad_geometry_is_refused(page_size: int, block_size: int, field: str) -> None:
    """Sizes must be powers of two and the block a multiple of the page."""
    with pytest.raises(ValueError, match=field):
        Geometry(page_size=page_size, block_size_bytes=block_size)


def test_block_lookup() -> None:
    """block() returns a block by id and raises LookupError for an unknown one."""
    memory = machine(Block(id=4, node=0))
    assert memory.block(4).id == 4
    with pytest.raises(LookupError, match="memory block 5 does not exist"):
        memory.block(5)


def test_node_blocks() -> None:
    """node_blocks yields only the blocks of that node."""
    memory = machine(Block(id=0, node=0), Block(id=1, node=1), Block(id=2, node=0))
    assert sorted(b.id for b in memory.node_blocks(0)) == [0, 2]
    assert list(memory.node_blocks(9)) == []


def test_present_pages_per_zone() -> None:
    """Present pages count online and going-offline blocks per zone, never offline ones."""
    going = Block(id=2, node=0, state=BlockState.GOING_OFFLINE, zone=Zone.MOVABLE)
    memory = machine(
        online(0, 0, Zone.NORMAL),
        online(1, 0, Zone.NORMAL),
        going,
        Block(id=3, node=0),
        online(4, 1, Zone.MOVABLE),
    )
    assert memory.present_pages(0) == {Zone.NORMAL: 2 * PAGES, Zone.MOVABLE: PAGES}
    assert memory.present_pages(1) == {Zone.MOVABLE: PAGES}
    assert memory.present_pages(2) == {}
    assert memory.present_up_to(0, Zone.NORMAL) == 2 * PAGES
    assert memory.present_up_to(0, Zone.HIGHMEM) == 2 * PAGES
    assert memory.present_up_to(0, Zone.MOVABLE) == 3 * PAGES


def test_node_states_without_highmem() -> None:
    """Without highmem N_HIGH_MEMORY equals N_NORMAL_MEMORY; Movable gives N_MEMORY only."""
    memory = machine(online(0, 0, Zone.NORMAL), online(1, 1, Zone.MOVABLE), Block(id=2, node=2))
    assert memory.node_states(0) == {N_MEMORY, N_NORMAL, N_HIGH}
    assert memory.node_states(1) == {N_MEMORY}
    assert memory.node_states(2) == set()


def test_node_states_with_highmem() -> None:
    """With highmem, HighMem pages put a node in N_HIGH_MEMORY but not N_NORMAL_MEMORY."""
    memory = machine(
        online(0, 0, Zone.NORMAL),
        online(1, 1, Zone.HIGHMEM),
        online(2, 2, Zone.MOVABLE),
        highmem=True,
    )
    assert memory.node_states(0) == {N_MEMORY, N_NORMAL, N_HIGH}
    assert memory.node_states(1) == {N_MEMORY, N_HIGH}
    assert memory.node_states(2) == {N_MEMORY}


def test_valid_zones_of_offline_block_lists_default_first() -> None:
    """valid_zones of an offline block is the default zone, then the other allowed ones."""
    memory = Memory()
    assert memory.valid_zones(Block(id=0, node=0)) == [Zone.NORMAL, Zone.MOVABLE]
    movable = Block(id=1, node=0, default_zone=Zone.MOVABLE)
    assert memory.valid_zones(movable) == [Zone.MOVABLE, Zone.NORMAL]
    high = Block(id=2, node=0, default_zone=Zone.HIGHMEM)
    assert Memory(highmem=True).valid_zones(high) == [Zone.HIGHMEM, Zone.NORMAL, Zone.MOVABLE]


def test_valid_zones_of_online_block_is_its_zone() -> None:
    """valid_zones of an online (or going-offline) block is just its zone."""
    memory = Memory()
    assert memory.valid_zones(online(0, 0, Zone.MOVABLE)) == [Zone.MOVABLE]
    going = Block(id=1, node=0, state=BlockState.GOING_OFFLINE, zone=Zone.NORMAL)
    assert memory.valid_zones(going) == [Zone.NORMAL]


@pytest.mark.parametrize(
    ("online_type", "default_zone", "zone"),
    [
        (OnlineType.ONLINE, Zone.NORMAL, Zone.NORMAL),
        (OnlineType.ONLINE, Zone.MOVABLE, Zone.MOVABLE),
        (OnlineType.ONLINE, Zone.HIGHMEM, Zone.HIGHMEM),
        (OnlineType.ONLINE_KERNEL, Zone.MOVABLE, Zone.NORMAL),
        (OnlineType.ONLINE_MOVABLE, Zone.NORMAL, Zone.MOVABLE),
    ],
)
def test_zone_for_online_type(online_type: OnlineType, default_zone: Zone, zone: Zone) -> None:
    """online takes the default zone, online_kernel Normal, online_movable Movable."""
    block = Block(id=0, node=0, default_zone=default_zone)
    assert Memory(highmem=True).zone_for(block, online_type) is zone


def test_hotplug_error_carries_errno() -> None:
    """HotplugError keeps the kernel errno next to its message."""
    error = HotplugError(-16, "busy")
    assert error.errno == -16
    assert str(error) == "busy"


def test_memory_defaults() -> None:
    """A new Memory has the default geometry, no highmem, auto-online offline, nothing else."""
    memory = Memory()
    assert memory.geometry == Geometry()
    assert (memory.highmem, memory.auto_online_blocks) == (False, "offline")
    assert (memory.nodes, memory.blocks) == (set(), {})
    assert MAX_NODES == 1024
