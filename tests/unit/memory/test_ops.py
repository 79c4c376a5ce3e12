"""Hot-add (probe) and hot-remove of blocks, and auto-online (SPEC §2)."""

from __future__ import annotations

import pytest

from app.chain.values import EBUSY, EEXIST, EINVAL
from app.memory.model import Block, BlockState, HotplugError, Memory, OnlineType, Zone
from app.memory.ops import (
    AUTO_ONLINE_VALUES,
    add_block_at,
    add_blocks,
    auto_online_type,
    check_node,
    remove_block,
)


def machine() -> Memory:
    """Blocks 0 (online, node 0) and 1 (offline, node 0)."""
    memory = Memory(nodes={0})
    memory.blocks[0] = Block(id=0, node=0, state=BlockState.ONLINE, zone=Zone.NORMAL)
    memory.blocks[1] = Block(id=1, node=0)
    return memory


def test_add_blocks_after_highest_id_on_a_new_node() -> None:
    """Probe adds offline removable blocks after the highest id and creates the node."""
    memory = machine()
    added = add_blocks(memory, node=5, count=3)
    assert [b.id for b in added] == [2, 3, 4]
    assert all(b.node == 5 and b.state is BlockState.OFFLINE and b.removable for b in added)
    assert all(memory.blocks[b.id] is b for b in added)
    assert memory.nodes == {0, 5}


def test_add_blocks_to_empty_machine_starts_at_zero() -> None:
    """On a machine without blocks the first added block has id 0."""
    memory = Memory()
    assert [b.id for b in add_blocks(memory, node=0, count=1)] == [0]


@pytest.mark.parametrize("count", [0, -1])
def test_add_blocks_needs_a_positive_count(count: int) -> None:
    """A count below 1 is -EINVAL and adds nothing."""
    memory = machine()
    with pytest.raises(HotplugError) as info:
        add_blocks(memory, node=0, count=count)
    assert info.value.errno == EINVAL
    assert sorted(memory.blocks) == [0, 1]


@pytest.mark.parametrize("node", [-1, 1024, 5000])
def test_node_ids_outside_0_to_1023_are_refused(node: int) -> None:
    """Node ids must be 0..1023 (-EINVAL), for both kinds of probe."""
    memory = machine()
    with pytest.raises(HotplugError, match=r"0\.\.1023") as info:
        add_blocks(memory, node=node, count=1)
    assert info.value.errno == EINVAL
    with pytest.raises(HotplugError):
        add_block_at(memory, 7, node)
    assert node not in memory.nodes


@pytest.mark.parametrize("node", [0, 1023])
def test_node_ids_at_the_bounds_are_accepted(node: int) -> None:
    """Node ids 0 and 1023 are valid."""
    check_node(node)


def test_add_block_at_a_given_id() -> None:
    """Probing a physical address adds that block, leaving a gap if needed."""
    memory = machine()
    block = add_block_at(memory, 10, 2)
    assert (block.id, block.node, block.state) == (10, 2, BlockState.OFFLINE)
    assert memory.nodes == {0, 2}
    assert [b.id for b in add_blocks(memory, 2, 1)] == [11]


def test_add_block_at_an_existing_id_is_eexist() -> None:
    """Probing an existing block is -EEXIST and changes nothing."""
    memory = machine()
    with pytest.raises(HotplugError) as info:
        add_block_at(memory, 1, 3)
    assert info.value.errno == EEXIST
    assert memory.block(1).node == 0
    assert 3 not in memory.nodes


def test_remove_offline_block() -> None:
    """An offline block not in a transition can be removed."""
    memory = machine()
    removed = remove_block(memory, 1)
    assert removed.id == 1
    assert 1 not in memory.blocks


@pytest.mark.parametrize(
    ("state", "transition"),
    [
        (BlockState.ONLINE, None),
        (BlockState.GOING_OFFLINE, "t-1"),
        (BlockState.OFFLINE, "t-2"),
    ],
)
def test_remove_busy_block_is_ebusy(state: BlockState, transition: str | None) -> None:
    """Removing a block that is not offline, or is in a transition, is -EBUSY."""
    memory = machine()
    block = memory.block(1)
    block.state, block.transition = state, transition
    with pytest.raises(HotplugError) as info:
        remove_block(memory, 1)
    assert info.value.errno == EBUSY
    assert 1 in memory.blocks


def test_remove_unknown_block_is_lookup_error() -> None:
    """Removing a block that does not exist raises LookupError."""
    with pytest.raises(LookupError):
        remove_block(machine(), 42)


@pytest.mark.parametrize(
    ("value", "online_type"),
    [
        ("offline", None),
        ("online", OnlineType.ONLINE),
        ("online_kernel", OnlineType.ONLINE_KERNEL),
        ("online_movable", OnlineType.ONLINE_MOVABLE),
    ],
)
def test_auto_online_type(value: str, online_type: OnlineType | None) -> None:
    """auto_online_blocks maps to the online type new blocks get, None for offline."""
    assert auto_online_type(Memory(auto_online_blocks=value)) is online_type


def test_auto_online_values_are_the_sysfs_strings() -> None:
    """The accepted auto_online_blocks values are those of the sysfs file, offline first."""
    assert AUTO_ONLINE_VALUES == ("offline", "online", "online_kernel", "online_movable")


def test_probe_beyond_the_64_bit_address_space_is_refused() -> None:
    """Blocks must end inside the 64-bit physical address space (-EINVAL otherwise)."""
    memory = Memory()
    last = 2**64 // memory.geometry.block_size_bytes - 1
    add_block_at(memory, last, 0)
    with pytest.raises(HotplugError) as refused:
        add_blocks(memory, 0, 1)
    assert refused.value.errno == EINVAL
    with pytest.raises(HotplugError):
        add_block_at(memory, last + 1, 0)
    assert sorted(memory.blocks) == [last]
