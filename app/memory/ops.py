"""Hot-add (probe) and hot-remove of blocks: no notifier events (SPEC §2)."""

from __future__ import annotations

from app.chain.values import EBUSY, EEXIST, EINVAL
from app.memory.model import MAX_NODES, Block, BlockState, HotplugError, Memory, OnlineType

AUTO_ONLINE_VALUES = ("offline", "online", "online_kernel", "online_movable")
PHYS_ADDR_LIMIT = 2**64


def check_node(node: int) -> None:
    """Node ids are 0..1023."""
    if not 0 <= node < MAX_NODES:
        raise HotplugError(EINVAL, f"node {node} is outside 0..{MAX_NODES - 1}")


def add_blocks(memory: Memory, node: int, count: int) -> list[Block]:
    """Add ``count`` offline blocks on ``node`` after the highest block id."""
    check_node(node)
    if count < 1:
        raise HotplugError(EINVAL, "count must be at least 1")
    first = max(memory.blocks, default=-1) + 1
    _check_address_space(memory, first + count - 1)
    return [_add(memory, first + i, node) for i in range(count)]


def add_block_at(memory: Memory, block_id: int, node: int) -> Block:
    """Add one offline block with a given id (a ``probe`` of its physical address)."""
    check_node(node)
    if block_id in memory.blocks:
        raise HotplugError(EEXIST, f"memory block {block_id} already exists")
    _check_address_space(memory, block_id)
    return _add(memory, block_id, node)


def remove_block(memory: Memory, block_id: int) -> Block:
    """Remove an offline block; ``-EBUSY`` when it is not offline or in a transition."""
    block = memory.block(block_id)
    if block.state is not BlockState.OFFLINE or block.transition is not None:
        state = "in a transition" if block.transition is not None else block.state.value
        raise HotplugError(EBUSY, f"memory block {block_id} is {state}, not removable now")
    del memory.blocks[block_id]
    return block


def auto_online_type(memory: Memory) -> OnlineType | None:
    """The online type new blocks get automatically, or None (``offline``)."""
    if memory.auto_online_blocks == "offline":
        return None
    return OnlineType(memory.auto_online_blocks)


def _check_address_space(memory: Memory, last_id: int) -> None:
    """Blocks end inside the 64-bit physical address space."""
    if (last_id + 1) * memory.geometry.block_size_bytes > PHYS_ADDR_LIMIT:
        raise HotplugError(EINVAL, "the new blocks would end beyond the 64-bit address space")


def _add(memory: Memory, block_id: int, node: int) -> Block:
    block = Block(id=block_id, node=node)
    memory.blocks[block_id] = block
    memory.nodes.add(node)
    return block
