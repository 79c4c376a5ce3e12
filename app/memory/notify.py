"""The ``memory_notify`` argument, by the v4.20–v5.15 rules (SPEC §3).

Computed from the node states *before* the change and sent unchanged with
every event of one transition.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.memory.model import Block, Memory, NodeState, Zone

NO_NODE = -1  # NUMA_NO_NODE


@dataclass(frozen=True, slots=True)
class MemoryNotify:
    """``struct memory_notify`` as the seed document shows it."""

    start_pfn: int
    nr_pages: int
    status_change_nid_normal: int = NO_NODE
    status_change_nid_high: int = NO_NODE
    status_change_nid: int = NO_NODE

    def to_dict(self) -> dict[str, int]:
        """The wire form, fields in struct order."""
        return {
            "start_pfn": self.start_pfn,
            "nr_pages": self.nr_pages,
            "status_change_nid_normal": self.status_change_nid_normal,
            "status_change_nid_high": self.status_change_nid_high,
            "status_change_nid": self.status_change_nid,
        }


def online_arg(memory: Memory, block: Block, zone: Zone) -> MemoryNotify:
    """``node_states_check_changes_online``: which node states onlining makes the node enter."""
    nid = block.node
    states = memory.node_states(nid)
    normal = zone.rank <= Zone.NORMAL.rank and NodeState.N_NORMAL_MEMORY not in states
    high = (
        memory.highmem and zone.rank <= Zone.HIGHMEM.rank and NodeState.N_HIGH_MEMORY not in states
    )
    return MemoryNotify(
        start_pfn=memory.geometry.start_pfn(block.id),
        nr_pages=memory.geometry.pages_per_block,
        status_change_nid_normal=nid if normal else NO_NODE,
        status_change_nid_high=nid if high else NO_NODE,
        status_change_nid=nid if NodeState.N_MEMORY not in states else NO_NODE,
    )


def offline_arg(memory: Memory, block: Block) -> MemoryNotify:
    """``node_states_check_changes_offline``: which node states offlining makes the node leave."""
    nid = block.node
    zone = block.zone or block.default_zone
    nr_pages = memory.geometry.pages_per_block
    normal = zone.rank <= Zone.NORMAL.rank and nr_pages >= memory.present_up_to(nid, Zone.NORMAL)
    high = (
        memory.highmem
        and zone.rank <= Zone.HIGHMEM.rank
        and nr_pages >= memory.present_up_to(nid, Zone.HIGHMEM)
    )
    everything = nr_pages >= memory.present_up_to(nid, Zone.MOVABLE)
    return MemoryNotify(
        start_pfn=memory.geometry.start_pfn(block.id),
        nr_pages=nr_pages,
        status_change_nid_normal=nid if normal else NO_NODE,
        status_change_nid_high=nid if high else NO_NODE,
        status_change_nid=nid if everything else NO_NODE,
    )
