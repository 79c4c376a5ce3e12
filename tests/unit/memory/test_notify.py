"""The ``memory_notify`` argument by the v4.20–v5.15 rules (SPEC §3, kernel-notes §4.3)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from app.memory.model import Block, BlockState, Geometry, Memory, NodeState, OnlineType, Zone
from app.memory.notify import NO_NODE, MemoryNotify, offline_arg, online_arg
from app.memory.transition import Finished, MigrateStep, Operation, Outcome, Transition, WalkStep

PAGES = Geometry().pages_per_block


def machine(*blocks: Block, highmem: bool = False) -> Memory:
    """A memory with these blocks and their nodes."""
    return Memory(highmem=highmem, nodes={b.node for b in blocks}, blocks={b.id: b for b in blocks})


def online(block_id: int, node: int, zone: Zone) -> Block:
    """An online block in a zone."""
    return Block(id=block_id, node=node, state=BlockState.ONLINE, zone=zone)


def arg(
    block_id: int, normal: int = NO_NODE, high: int = NO_NODE, nid: int = NO_NODE
) -> dict[str, int]:
    """The expected wire form of the argument for a block."""
    return {
        "start_pfn": block_id * PAGES,
        "nr_pages": PAGES,
        "status_change_nid_normal": normal,
        "status_change_nid_high": high,
        "status_change_nid": nid,
    }


# --- explicit cases ---------------------------------------------------------------------


def test_wire_form_is_the_seed_struct_in_order() -> None:
    """to_dict gives the five fields of the seed's struct memory_notify, in struct order."""
    value = MemoryNotify(start_pfn=5, nr_pages=7)
    assert list(value.to_dict()) == [
        "start_pfn",
        "nr_pages",
        "status_change_nid_normal",
        "status_change_nid_high",
        "status_change_nid",
    ]
    assert value.to_dict() == {
        "start_pfn": 5,
        "nr_pages": 7,
        "status_change_nid_normal": -1,
        "status_change_nid_high": -1,
        "status_change_nid": -1,
    }


def test_online_first_normal_memory_of_memoryless_node() -> None:
    """Onlining Normal memory on a memoryless node sets _normal and status_change_nid; no _high."""
    memory = machine(Block(id=3, node=2))
    block = memory.block(3)
    assert online_arg(memory, block, Zone.NORMAL).to_dict() == arg(3, normal=2, nid=2)


def test_online_first_normal_memory_with_highmem_sets_high_too() -> None:
    """In the highmem model, first Normal memory also makes the node enter N_HIGH_MEMORY."""
    memory = machine(Block(id=0, node=1), highmem=True)
    assert online_arg(memory, memory.block(0), Zone.NORMAL).to_dict() == arg(
        0, normal=1, high=1, nid=1
    )


def test_online_first_highmem_memory() -> None:
    """First HighMem memory makes the node enter N_HIGH_MEMORY and N_MEMORY, not N_NORMAL."""
    memory = machine(Block(id=0, node=1, default_zone=Zone.HIGHMEM), highmem=True)
    assert online_arg(memory, memory.block(0), Zone.HIGHMEM).to_dict() == arg(0, high=1, nid=1)


def test_online_first_movable_memory_sets_only_status_change_nid() -> None:
    """Movable memory on a memoryless node only makes it enter N_MEMORY."""
    memory = machine(Block(id=0, node=4), highmem=True)
    assert online_arg(memory, memory.block(0), Zone.MOVABLE).to_dict() == arg(0, nid=4)


def test_online_normal_on_node_with_only_movable() -> None:
    """Normal memory on a node that has only Movable memory sets _normal, not status_change_nid."""
    memory = machine(online(0, 1, Zone.MOVABLE), Block(id=1, node=1))
    assert online_arg(memory, memory.block(1), Zone.NORMAL).to_dict() == arg(1, normal=1)


def test_online_on_node_already_in_every_state_changes_nothing() -> None:
    """Onlining onto a node already in all node states gives -1 everywhere."""
    memory = machine(online(0, 0, Zone.NORMAL), Block(id=1, node=0), highmem=True)
    assert online_arg(memory, memory.block(1), Zone.NORMAL).to_dict() == arg(1)


def test_offline_last_normal_block_of_node_with_movable() -> None:
    """Offlining the last Normal block of a node that keeps Movable memory sets only _normal."""
    memory = machine(online(0, 1, Zone.NORMAL), online(1, 1, Zone.MOVABLE))
    assert offline_arg(memory, memory.block(0)).to_dict() == arg(0, normal=1)


def test_offline_last_block_of_node() -> None:
    """Offlining a node's only block sets _normal and status_change_nid (_high stays -1)."""
    memory = machine(online(0, 2, Zone.NORMAL))
    assert offline_arg(memory, memory.block(0)).to_dict() == arg(0, normal=2, nid=2)


def test_offline_last_block_of_node_with_highmem() -> None:
    """With highmem the last Normal block also leaves N_HIGH_MEMORY."""
    memory = machine(online(0, 2, Zone.NORMAL), highmem=True)
    assert offline_arg(memory, memory.block(0)).to_dict() == arg(0, normal=2, high=2, nid=2)


def test_offline_one_of_two_normal_blocks_changes_nothing() -> None:
    """Offlining one of several Normal blocks of a node leaves every field -1."""
    memory = machine(online(0, 0, Zone.NORMAL), online(1, 0, Zone.NORMAL), highmem=True)
    assert offline_arg(memory, memory.block(1)).to_dict() == arg(1)


def test_offline_last_movable_block_with_normal_left() -> None:
    """Offlining the last Movable block while Normal memory remains changes nothing."""
    memory = machine(online(0, 0, Zone.NORMAL), online(1, 0, Zone.MOVABLE))
    assert offline_arg(memory, memory.block(1)).to_dict() == arg(1)


def test_offline_last_highmem_block_with_movable_left() -> None:
    """Offlining the last HighMem block with Movable left leaves N_HIGH_MEMORY only."""
    memory = machine(online(0, 3, Zone.HIGHMEM), online(1, 3, Zone.MOVABLE), highmem=True)
    assert offline_arg(memory, memory.block(0)).to_dict() == arg(0, high=3)


def test_offline_counts_pages_of_other_going_offline_blocks() -> None:
    """Present pages are counted before the change: a going-offline block still counts."""
    going = Block(id=0, node=0, state=BlockState.GOING_OFFLINE, zone=Zone.NORMAL)
    memory = machine(going, online(1, 0, Zone.NORMAL))
    assert offline_arg(memory, memory.block(1)).to_dict() == arg(1)


# --- property: an independent reference over random sequences ---------------------------


@dataclass
class RefNode:
    """The reference's own view of one node: present pages per zone and node states."""

    present: dict[Zone, int] = field(default_factory=dict)
    states: set[str] = field(default_factory=set)


@dataclass
class Reference:
    """SPEC §3 by hand: computes arguments and applies node_states_set/clear_node itself."""

    highmem: bool
    nodes: dict[int, RefNode] = field(default_factory=dict)

    def node(self, nid: int) -> RefNode:
        """A node's reference state."""
        return self.nodes.setdefault(nid, RefNode())

    def online(self, nid: int, zone: Zone) -> tuple[int, int, int]:
        """Argument for onlining one block into ``zone``; then apply the change."""
        node = self.node(nid)
        normal = nid if zone is Zone.NORMAL and "N_NORMAL_MEMORY" not in node.states else -1
        high = -1
        if self.highmem and zone is not Zone.MOVABLE and "N_HIGH_MEMORY" not in node.states:
            high = nid
        any_memory = nid if "N_MEMORY" not in node.states else -1
        node.present[zone] = node.present.get(zone, 0) + PAGES
        if normal >= 0:
            node.states.add("N_NORMAL_MEMORY")
        if high >= 0 or (not self.highmem and normal >= 0):
            node.states.add("N_HIGH_MEMORY")  # without highmem an alias of N_NORMAL_MEMORY
        if any_memory >= 0:
            node.states.add("N_MEMORY")
        return normal, high, any_memory

    def offline(self, nid: int, zone: Zone) -> tuple[int, int, int]:
        """Argument for offlining one block of ``zone``; then apply the change."""
        node = self.node(nid)
        normal_pages = node.present.get(Zone.NORMAL, 0)
        high_pages = normal_pages + node.present.get(Zone.HIGHMEM, 0)
        all_pages = high_pages + node.present.get(Zone.MOVABLE, 0)
        normal = nid if zone is Zone.NORMAL and normal_pages <= PAGES else -1
        high = -1
        if self.highmem and zone is not Zone.MOVABLE and high_pages <= PAGES:
            high = nid
        any_memory = nid if all_pages <= PAGES else -1
        node.present[zone] -= PAGES
        if not node.present[zone]:
            del node.present[zone]
        if normal >= 0:
            node.states.discard("N_NORMAL_MEMORY")
        if high >= 0 or (not self.highmem and normal >= 0):
            node.states.discard("N_HIGH_MEMORY")
        if any_memory >= 0:
            node.states.discard("N_MEMORY")
        return normal, high, any_memory


def run_to_end(transition: Transition) -> list[WalkStep]:
    """Drive a transition with no veto to its end; return the walks it asked for."""
    walks = []
    step = transition.start()
    while not isinstance(step, Finished):
        if isinstance(step, MigrateStep):
            step = transition.migration_done()
        else:
            walks.append(step)
            step = transition.walk_done(0)
    assert step == Finished(Outcome.COMPLETED)
    return walks


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[bool, list[tuple[int, Zone]], list[tuple[int, OnlineType]]]:
    """A model, blocks (node, default zone) over several nodes, and a sequence of requests."""
    highmem = draw(st.booleans())
    zones = [Zone.NORMAL, Zone.MOVABLE] + ([Zone.HIGHMEM] if highmem else [])
    blocks = draw(
        st.lists(st.tuples(st.integers(0, 3), st.sampled_from(zones)), min_size=1, max_size=10)
    )
    requests = draw(
        st.lists(
            st.tuples(st.integers(0, len(blocks) - 1), st.sampled_from(list(OnlineType))),
            max_size=40,
        )
    )
    return highmem, blocks, requests


@settings(deadline=None)
@given(scenarios())
def test_memory_notify_matches_reference(
    scenario: tuple[bool, list[tuple[int, Zone]], list[tuple[int, OnlineType]]],
) -> None:
    """Over random online/offline sequences across nodes and zones, args and node states match."""
    highmem, layout, requests = scenario
    memory = Memory(highmem=highmem)
    for block_id, (nid, default_zone) in enumerate(layout):
        memory.blocks[block_id] = Block(id=block_id, node=nid, default_zone=default_zone)
        memory.nodes.add(nid)
    ref = Reference(highmem)
    zone_of: dict[int, Zone] = {}
    for block_id, online_type in requests:
        nid = layout[block_id][0]
        if block_id in zone_of:
            zone = zone_of.pop(block_id)
            expected = ref.offline(nid, zone)
            transition = Transition(memory, Operation.OFFLINE, block_id, None)
        else:
            zone = {
                OnlineType.ONLINE: layout[block_id][1],
                OnlineType.ONLINE_KERNEL: Zone.NORMAL,
                OnlineType.ONLINE_MOVABLE: Zone.MOVABLE,
            }[online_type]
            zone_of[block_id] = zone
            expected = ref.online(nid, zone)
            transition = Transition(memory, Operation.ONLINE, block_id, online_type)
        run_to_end(transition)
        assert transition.arg == MemoryNotify(
            block_id * PAGES, PAGES, expected[0], expected[1], expected[2]
        )
        for n in range(4):
            assert memory.present_pages(n) == ref.node(n).present
            assert {s.value for s in memory.node_states(n)} == ref.node(n).states
    assert {b.id: b.zone for b in memory.blocks.values() if b.zone} == zone_of


@settings(deadline=None)
@given(st.integers(0, 1023), st.integers(0, 10_000))
def test_start_pfn_and_nr_pages(nid: int, block_id: int) -> None:
    """start_pfn is id * pages_per_block and nr_pages is pages_per_block, on or off."""
    block = Block(id=block_id, node=nid)
    memory = machine(block)
    assert online_arg(memory, block, Zone.NORMAL).start_pfn == block_id * PAGES
    block.state, block.zone = BlockState.ONLINE, Zone.NORMAL
    value = offline_arg(memory, block)
    assert (value.start_pfn, value.nr_pages) == (block_id * PAGES, PAGES)
    assert value.status_change_nid == nid
    assert NodeState.N_MEMORY in memory.node_states(nid)
