"""SPEC §2 add/remove (probe, hot-remove) and the chmem batch of §5."""

from __future__ import annotations

from typing import Any

from tests.support.hotplug import Service, get_json, wait_finished

BLOCK = 0x8000000  # 128 MiB
ENOMEM, EBUSY = -12, -16


async def probe(service: Service, **body: Any) -> dict[str, Any]:
    """POST /memory/probe expecting 201; the body."""
    response = await service.admin.post("/api/v1/memory/probe", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def chmem(service: Service, status: int = 200, **body: Any) -> dict[str, Any]:
    """POST /memory/chmem; the body."""
    response = await service.admin.post("/api/v1/memory/chmem", json=body)
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


async def states(service: Service, *blocks: int) -> list[str]:
    """The states of some blocks."""
    return [(await service.block(b))["state"] for b in blocks]


def tried(result: dict[str, Any]) -> list[int]:
    """The blocks a chmem call tried, in order."""
    return [r["block"] for r in result["results"]]


async def test_probe_by_node_and_count(service: Service) -> None:
    """Probe with node+count adds offline blocks after the highest id, with no events."""
    sub = await service.subscriber("sub")
    body = await probe(service, node=1, count=2)
    assert [b["id"] for b in body["blocks"]] == [28, 29]
    for block in body["blocks"]:
        assert block["state"] == "offline"
        assert block["node"] == 1
    assert await states(service, 28, 29) == ["offline", "offline"]
    assert sub.notifications == []


async def test_probe_creates_node(service: Service) -> None:
    """Probing onto an unknown node creates it, memoryless."""
    await probe(service, node=7, count=1)
    memory = await get_json(service, "/api/v1/memory")
    [node] = [n for n in memory["nodes"] if n["id"] == 7]
    assert node["states"] == []
    assert (await service.block(28))["node"] == 7
    response = await service.admin.post("/api/v1/memory/probe", json={"node": 1024, "count": 1})
    assert response.status_code == 422, response.text


async def test_probe_by_phys_addr(service: Service) -> None:
    """Probe by block-aligned phys_addr adds that block, on node 0 unless a node is given."""
    body = await probe(service, phys_addr=hex(32 * BLOCK))
    assert [(b["id"], b["node"]) for b in body["blocks"]] == [(32, 0)]
    body = await probe(service, phys_addr=hex(64 * BLOCK), node=3)
    assert [(b["id"], b["node"]) for b in body["blocks"]] == [(64, 3)]
    assert (await service.block(64))["state"] == "offline"


async def test_probe_misaligned_phys_addr_is_422(service: Service) -> None:
    """A phys_addr not aligned to the block size is refused with 422 and adds nothing."""
    response = await service.admin.post(
        "/api/v1/memory/probe", json={"phys_addr": hex(32 * BLOCK + 0x1000)}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await service.admin.get("/api/v1/memory/blocks/32")).status_code == 404


async def test_auto_online_blocks_onlines_probed_blocks_through_chain(service: Service) -> None:
    """With auto_online_blocks=online_movable, probed blocks are onlined through the chain."""
    response = await service.admin.patch(
        "/api/v1/memory", json={"auto_online_blocks": "online_movable"}
    )
    assert response.status_code == 200, response.text
    assert (await get_json(service, "/api/v1/memory"))["auto_online_blocks"] == "online_movable"
    sub = await service.subscriber("sub")
    body = await probe(service, node=4, count=2)
    assert [b["id"] for b in body["blocks"]] == [28, 29]
    assert [t["block"] for t in body["transitions"]] == [28, 29]
    for started in body["transitions"]:
        assert (await wait_finished(service, started["id"]))["outcome"] == "completed"
    assert await states(service, 28, 29) == ["online", "online"]
    assert [(await service.block(b))["zone"] for b in (28, 29)] == ["Movable", "Movable"]
    assert service.log == [
        ("sub", "MEM_GOING_ONLINE", 28),
        ("sub", "MEM_ONLINE", 28),
        ("sub", "MEM_GOING_ONLINE", 29),
        ("sub", "MEM_ONLINE", 29),
    ]
    assert sub.notifications[0]["arg"]["status_change_nid"] == 4
    assert sub.notifications[0]["arg"]["status_change_nid_normal"] == -1


async def test_remove_offline_block(service: Service) -> None:
    """Removing an offline block deletes it without notifier events."""
    sub = await service.subscriber("sub")
    response = await service.admin.delete("/api/v1/memory/blocks/12")
    assert response.is_success, response.text
    assert (await service.admin.get("/api/v1/memory/blocks/12")).status_code == 404
    assert sub.notifications == []


async def test_remove_online_block_is_ebusy(service: Service) -> None:
    """Removing an online block is refused with 409 -EBUSY; the block stays."""
    response = await service.admin.delete("/api/v1/memory/blocks/8")
    assert response.status_code == 409, response.text
    assert response.json()["errno"] == EBUSY
    assert response.json()["errno_name"] == "EBUSY"
    assert (await service.block(8))["state"] == "online"
    response = await service.admin.delete("/api/v1/memory/blocks/4242")
    assert response.status_code == 404, response.text


async def test_chmem_enable_size_in_mib_lowest_first(service: Service) -> None:
    """chmem -e 256 (MiB) onlines the two lowest-numbered offline blocks."""
    sub = await service.subscriber("sub")
    result = await chmem(service, enable=True, size="256")
    assert tried(result) == [12, 13]
    assert [r["outcome"] for r in result["results"]] == ["completed", "completed"]
    assert (result["succeeded"], result["failed"]) == (2, 0)
    assert await states(service, 12, 13, 14) == ["online", "online", "offline"]
    assert [(a, b) for _, a, b in service.log] == [
        ("MEM_GOING_ONLINE", 12),
        ("MEM_ONLINE", 12),
        ("MEM_GOING_ONLINE", 13),
        ("MEM_ONLINE", 13),
    ]
    assert len(sub.notifications) == 4


async def test_chmem_enable_size_with_suffix(service: Service) -> None:
    """chmem -e 1G onlines eight 128 MiB blocks, lowest first."""
    result = await chmem(service, enable=True, size="1G")
    assert tried(result) == list(range(12, 20))
    assert result["succeeded"] == 8
    assert await states(service, 19, 20) == ["online", "offline"]


async def test_chmem_disable_size_highest_first(service: Service) -> None:
    """chmem -d 256 offlines the two highest-numbered online blocks."""
    result = await chmem(service, disable=True, size="256")
    assert tried(result) == [11, 10]
    assert (result["succeeded"], result["failed"]) == (2, 0)
    assert await states(service, 9, 10, 11) == ["online", "offline", "offline"]


async def test_chmem_size_not_multiple_of_block_is_422(service: Service) -> None:
    """A size that is not a multiple of the block size is a 422; nothing changes."""
    await chmem(service, 422, enable=True, size="100")
    assert await states(service, 12) == ["offline"]


async def test_chmem_range_end_is_last_byte(service: Service) -> None:
    """chmem -e 0xSTART-0xEND onlines the blocks of that range, END being its last byte."""
    result = await chmem(service, enable=True, range=f"{12 * BLOCK:#x}-{14 * BLOCK - 1:#x}")
    assert tried(result) == [12, 13]
    assert await states(service, 12, 13, 14) == ["online", "online", "offline"]


async def test_chmem_misaligned_range_is_422(service: Service) -> None:
    """A range whose START or END+1 is not block-aligned is a 422."""
    await chmem(service, 422, enable=True, range=f"{12 * BLOCK:#x}-{14 * BLOCK - 2:#x}")
    await chmem(service, 422, enable=True, range=f"{12 * BLOCK + 0x1000:#x}-{14 * BLOCK - 1:#x}")
    assert await states(service, 12, 13) == ["offline", "offline"]


async def test_chmem_blocks_skip_those_in_target_state(service: Service) -> None:
    """chmem -b -e 11-13 skips the already-online block 11; -d 12-14 skips offline 13, 14."""
    result = await chmem(service, enable=True, blocks="11-13")
    assert tried(result) == [12, 13]
    assert result["succeeded"] == 2
    await chmem(service, disable=True, blocks="13")
    result = await chmem(service, disable=True, blocks="12-14")
    assert tried(result) == [12]
    assert await states(service, 11, 12, 13) == ["online", "offline", "offline"]


async def test_chmem_veto_shows_in_results(service: Service) -> None:
    """A veto of one block shows in its result with the errno; the others still run."""

    def veto_13(frame: dict[str, Any]) -> dict[str, Any]:
        if frame["action"] == "MEM_GOING_ONLINE" and frame["block"] == 13:
            return {"result": "NOTIFY_BAD", "errno": ENOMEM}
        return {"result": "NOTIFY_OK"}

    vetoer = await service.subscriber("vetoer", veto_13)
    result = await chmem(service, enable=True, blocks="12-14")
    assert tried(result) == [12, 13, 14]
    by_block = {r["block"]: r for r in result["results"]}
    assert by_block[12]["outcome"] == "completed"
    assert by_block[13]["outcome"] == "cancelled"
    assert by_block[13]["errno"] == ENOMEM
    assert by_block[13]["transition"]
    assert by_block[14]["outcome"] == "completed"
    assert (result["succeeded"], result["failed"]) == (2, 1)
    assert await states(service, 12, 13, 14) == ["online", "offline", "online"]
    record = await get_json(service, f"/api/v1/transitions/{by_block[13]['transition']}")
    assert record["vetoed_by"]["subscriber"] == vetoer.id


async def test_chmem_size_goes_on_past_a_veto(service: Service) -> None:
    """chmem -e SIZE keeps trying higher blocks until SIZE is onlined, as util-linux does."""
    await service.subscriber(
        "vetoer",
        lambda f: (
            {"result": "NOTIFY_BAD"}
            if f["action"] == "MEM_GOING_ONLINE" and f["block"] == 12
            else {"result": "NOTIFY_OK"}
        ),
    )
    result = await chmem(service, enable=True, size="256")
    assert tried(result) == [12, 13, 14]
    assert [r["outcome"] for r in result["results"]] == ["cancelled", "completed", "completed"]
    assert (result["succeeded"], result["failed"]) == (2, 1)


async def test_chmem_zone(service: Service) -> None:
    """chmem -z picks the zone: Normal onlines into Normal, Movable into Movable."""
    await chmem(service, enable=True, blocks="12", zone="Normal")
    await chmem(service, enable=True, blocks="13", zone="Movable")
    assert (await service.block(12))["zone"] == "Normal"
    assert (await service.block(13))["zone"] == "Movable"
