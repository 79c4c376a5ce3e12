"""SPEC §3: the memory_notify argument, computed before the change, the same in every event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.hotplug import Service, answer_by_action, get_json, running_service

PAGES = 32768  # 128 MiB blocks of 4 KiB pages
ARG_KEYS = {
    "start_pfn",
    "nr_pages",
    "status_change_nid_normal",
    "status_change_nid_high",
    "status_change_nid",
}

HIGHMEM_LAYOUT = """
highmem = true

[[blocks]]
first = 0
count = 4
node = 0
state = "online"
removable = false

[[blocks]]
first = 4
count = 2
node = 1
default_zone = "HighMem"

[[blocks]]
first = 6
count = 2
node = 2
"""


def arg(block: int, nid: int = -1, normal: int = -1, high: int = -1) -> dict[str, int]:
    """The expected memory_notify of a 128 MiB block."""
    return {
        "start_pfn": block * PAGES,
        "nr_pages": PAGES,
        "status_change_nid_normal": normal,
        "status_change_nid_high": high,
        "status_change_nid": nid,
    }


async def transition_arg(
    service: Service, operation: str, block: int, **body: Any
) -> dict[str, Any]:
    """Run one transition with a fresh logging subscriber; the arg, checked identical everywhere."""
    watcher = await service.subscriber(f"watch-{operation}-{block}", priority=1000)
    if operation == "online":
        response = await service.online(block, **body)
    else:
        response = await service.offline(block, **body)
    record = response.json().get("transition", response.json())
    assert record["arg"] is not None, response.text
    frames = watcher.notifications
    assert len(frames) == len(record["walks"]) >= 2
    for frame in frames:
        assert set(frame["arg"]) == ARG_KEYS
        assert frame["arg"] == record["arg"], frame["action"]
    await service.admin.delete(f"/api/v1/subscribers/{watcher.id}")
    result: dict[str, Any] = record["arg"]
    return result


async def node_states(service: Service, node: int) -> list[str]:
    """The node states ``GET /api/v1/memory`` shows for one node."""
    memory = await get_json(service, "/api/v1/memory")
    [entry] = [n for n in memory["nodes"] if n["id"] == node]
    states: list[str] = entry["states"]
    return sorted(states)


async def test_first_block_of_memoryless_node(service: Service) -> None:
    """Onlining the first Normal block of node 1 sets status_change_nid and _normal; _high -1."""
    assert await node_states(service, 1) == []
    assert await transition_arg(service, "online", 12) == arg(12, nid=1, normal=1)
    assert await node_states(service, 1) == ["N_HIGH_MEMORY", "N_MEMORY", "N_NORMAL_MEMORY"]


async def test_second_block_on_same_node(service: Service) -> None:
    """A second block on a node already in every state changes no node state."""
    await transition_arg(service, "online", 12)
    assert await transition_arg(service, "online", 13) == arg(13)


async def test_movable_then_kernel_on_memoryless_node(service: Service) -> None:
    """online_movable first: only status_change_nid; online_kernel next: only _normal."""
    assert await transition_arg(service, "online", 12, online_type="online_movable") == arg(
        12, nid=1
    )
    assert (await service.block(12))["zone"] == "Movable"
    assert await node_states(service, 1) == ["N_MEMORY"]
    assert await transition_arg(service, "online", 13, online_type="online_kernel") == arg(
        13, normal=1
    )
    assert (await service.block(13))["zone"] == "Normal"


async def test_default_movable_zone_node(service: Service) -> None:
    """A plain online on node 2 (default zone Movable) enters N_MEMORY only."""
    assert await transition_arg(service, "online", 20) == arg(20, nid=2)
    block = await service.block(20)
    assert block["zone"] == "Movable"
    assert block["valid_zones"] == ["Movable"]


async def test_offline_last_block_of_node(service: Service) -> None:
    """Offlining a node's only block: it leaves N_MEMORY and N_NORMAL_MEMORY."""
    await transition_arg(service, "online", 12)
    assert await transition_arg(service, "offline", 12) == arg(12, nid=1, normal=1)
    assert await node_states(service, 1) == []


async def test_offline_one_of_several(service: Service) -> None:
    """Offlining one of several blocks of a node changes no node state."""
    await transition_arg(service, "online", 12)
    await transition_arg(service, "online", 13)
    assert await transition_arg(service, "offline", 13) == arg(13)
    assert await transition_arg(service, "offline", 8) == arg(8)


async def test_offline_last_normal_block_with_movable_left(service: Service) -> None:
    """The last Normal block leaves N_NORMAL_MEMORY only; the last Movable one leaves N_MEMORY."""
    await transition_arg(service, "online", 12, online_type="online_kernel")
    await transition_arg(service, "online", 13, online_type="online_movable")
    assert await transition_arg(service, "offline", 12) == arg(12, normal=1)
    assert await transition_arg(service, "offline", 13) == arg(13, nid=1)


async def test_arg_identical_in_cancel_walk(service: Service) -> None:
    """A vetoed offline of a node's last block sends the same arg in GOING and CANCEL."""
    await transition_arg(service, "online", 12)
    vetoer = await service.subscriber(
        "vetoer", answer_by_action({"MEM_GOING_OFFLINE": {"result": "NOTIFY_BAD"}})
    )
    response = await service.offline(12)
    assert response.status_code == 409, response.text
    expected = arg(12, nid=1, normal=1)
    assert response.json()["transition"]["arg"] == expected
    assert [f["action"] for f in vetoer.notifications] == [
        "MEM_GOING_OFFLINE",
        "MEM_CANCEL_OFFLINE",
    ]
    assert all(frame["arg"] == expected for frame in vetoer.notifications)


async def test_highmem_layout_status_change_nid_high(tmp_path: Path) -> None:
    """In the highmem model _high follows N_HIGH_MEMORY for zones up to HighMem."""
    layout = tmp_path / "highmem.toml"
    layout.write_text(HIGHMEM_LAYOUT)
    async with running_service(tmp_path, layout=layout) as service:
        memory = await get_json(service, "/api/v1/memory")
        assert memory["highmem"] is True
        # HighMem on a memoryless node: N_MEMORY and N_HIGH_MEMORY, not N_NORMAL_MEMORY.
        assert await transition_arg(service, "online", 4) == arg(4, nid=1, high=1)
        assert (await service.block(4))["zone"] == "HighMem"
        assert await node_states(service, 1) == ["N_HIGH_MEMORY", "N_MEMORY"]
        # Normal on a node already in N_HIGH_MEMORY: only _normal.
        assert await transition_arg(service, "online", 5, online_type="online_kernel") == arg(
            5, normal=1
        )
        # Offline the Normal block: it leaves N_NORMAL_MEMORY, HighMem pages remain.
        assert await transition_arg(service, "offline", 5) == arg(5, normal=1)
        # Offline the last (HighMem) block: N_HIGH_MEMORY and N_MEMORY, not _normal.
        assert await transition_arg(service, "offline", 4) == arg(4, nid=1, high=1)
        # Normal on a memoryless node enters all three states.
        assert await transition_arg(service, "online", 6, online_type="online_kernel") == arg(
            6, nid=2, normal=2, high=2
        )
        # Movable on a node with memory: nothing.
        assert await transition_arg(service, "online", 7, online_type="online_movable") == arg(7)
