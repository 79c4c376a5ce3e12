"""SPEC §1/§5 through the full service: the memory API's shapes and status codes.

The built-in layout: node 0 blocks 0-7 online Normal (not removable) and 8-11
online Movable; node 1 blocks 12-19 offline (default Normal); node 2 blocks
20-27 offline (default Movable).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.support.api import assert_problem
from tests.support.hotplug import Service, running_service
from tests.support.server import seconds, wait_for

PAGES = 32768  # pages per 128 MiB block
EINVAL, EBUSY = -22, -16


async def test_memory_overview_fields(service: Service) -> None:
    """GET /memory: geometry, auto_online_blocks, nodes with states and present pages, totals."""
    response = await service.viewer.get("/api/v1/memory")
    assert response.status_code == 200
    memory = response.json()
    assert memory["block_size_bytes"] == 134217728
    assert memory["page_size"] == 4096
    assert memory["auto_online_blocks"] == "offline"
    nodes = {node["id"]: node for node in memory["nodes"]}
    assert sorted(nodes) == [0, 1, 2]
    assert set(nodes[0]["states"]) == {"N_MEMORY", "N_NORMAL_MEMORY", "N_HIGH_MEMORY"}
    assert nodes[0]["present_pages"]["Normal"] == 8 * PAGES
    assert nodes[0]["present_pages"]["Movable"] == 4 * PAGES
    for nid in (1, 2):  # memoryless at start
        assert nodes[nid]["states"] == []
        assert sum(nodes[nid]["present_pages"].values()) == 0
    summary = memory["summary"]
    assert summary["blocks"] == 28
    assert summary["online_blocks"] == 12
    assert summary["offline_blocks"] == 16


async def test_node_states_follow_onlining(service: Service) -> None:
    """Onlining a Normal block puts node 1 in every state; a Movable one puts node 2 in N_MEMORY."""
    assert (await service.online(12)).status_code == 200
    assert (await service.online(20, "online_movable")).status_code == 200
    memory = (await service.viewer.get("/api/v1/memory")).json()
    nodes = {node["id"]: node for node in memory["nodes"]}
    assert set(nodes[1]["states"]) == {"N_MEMORY", "N_NORMAL_MEMORY", "N_HIGH_MEMORY"}
    assert nodes[1]["present_pages"]["Normal"] == PAGES
    assert nodes[2]["states"] == ["N_MEMORY"]
    assert nodes[2]["present_pages"]["Movable"] == PAGES
    assert memory["summary"]["online_blocks"] == 14


async def test_blocks_list_and_filters(service: Service) -> None:
    """The blocks list is ordered by id and filters by state and node (together too)."""

    async def ids(**params: object) -> list[int]:
        response = await service.viewer.get("/api/v1/memory/blocks", params=params)
        assert response.status_code == 200, response.text
        return [block["id"] for block in response.json()]

    assert await ids() == list(range(28))
    assert await ids(state="online") == list(range(12))
    assert await ids(state="offline") == list(range(12, 28))
    assert await ids(state="going-offline") == []
    assert await ids(node=1) == list(range(12, 20))
    assert await ids(node=0, state="offline") == []
    assert await ids(node=2, state="offline") == list(range(20, 28))
    assert await ids(node=7) == []


async def test_blocks_list_rejects_bad_filters(service: Service) -> None:
    """An unknown state, a negative, overflowing or non-numeric node are 422 problems."""
    for params in (
        {"state": "going-online"},
        {"state": "ONLINE"},
        {"node": "-1"},
        {"node": "abc"},
        {"node": str(10**30)},
        {"node": "1.5"},
    ):
        response = await service.viewer.get("/api/v1/memory/blocks", params=params)
        assert_problem(response, 422)


async def test_one_block_fields(service: Service) -> None:
    """A block shows id, start_pfn, nr_pages, node, state, zone, removable, valid_zones,
    transition and its simulation flags."""
    boot = await service.block(0)
    assert boot["id"] == 0
    assert boot["start_pfn"] == 0
    assert boot["nr_pages"] == PAGES
    assert boot["node"] == 0
    assert boot["state"] == "online"
    assert boot["zone"] == "Normal"
    assert boot["removable"] is False
    assert boot["valid_zones"] == ["Normal"]
    assert boot["transition"] is None
    assert boot["isolation_fails"] is False
    assert boot["unmovable_pages"] is False
    assert boot["migration_ms"] == 0

    movable = await service.block(8)
    assert (movable["state"], movable["zone"], movable["valid_zones"]) == (
        "online",
        "Movable",
        ["Movable"],
    )
    assert movable["removable"] is True

    hotplugged = await service.block(12)
    assert hotplugged["start_pfn"] == 12 * PAGES
    assert hotplugged["state"] == "offline"
    assert hotplugged["node"] == 1
    assert hotplugged["zone"] is None
    assert hotplugged["valid_zones"] == ["Normal", "Movable"]
    movable_node = await service.block(20)
    assert movable_node["valid_zones"] == ["Movable", "Normal"]


async def test_block_shows_its_transition_while_one_runs(service: Service) -> None:
    """While onlining, a block stays `offline` and names the transition in flight."""
    sub = await service.subscriber("holder", answer=None)
    response = await service.admin.post(
        "/api/v1/memory/blocks/12/online", params={"wait": "false"}, json={}
    )
    assert response.status_code == 202
    transition = response.json()["id"]
    frame = await sub.next_frame()
    block = await service.block(12)
    assert block["state"] == "offline"  # there is no going-online
    assert block["transition"] == transition
    await sub.reply(frame["id"])
    frame = await sub.next_frame()
    assert frame["action"] == "MEM_ONLINE"
    await sub.reply(frame["id"])
    await wait_for(lambda: service.app.state.api.engine.memory.blocks[12].transition is None)
    block = await service.block(12)
    assert (block["state"], block["transition"]) == ("online", None)


async def test_block_shows_going_offline(service: Service) -> None:
    """While offlining, the block reads `going-offline`; then `offline`."""
    sub = await service.subscriber("holder", answer=None)
    response = await service.admin.post(
        "/api/v1/memory/blocks/9/offline", params={"wait": "false"}, json={}
    )
    assert response.status_code == 202
    frame = await sub.next_frame()
    assert frame["action"] == "MEM_GOING_OFFLINE"
    block = await service.block(9)
    assert block["state"] == "going-offline"
    listed = await service.viewer.get("/api/v1/memory/blocks", params={"state": "going-offline"})
    assert [b["id"] for b in listed.json()] == [9]
    await sub.reply(frame["id"])
    frame = await sub.next_frame()
    assert frame["action"] == "MEM_OFFLINE"
    await sub.reply(frame["id"])
    await wait_for(lambda: service.app.state.api.engine.memory.blocks[9].transition is None)
    assert (await service.block(9))["state"] == "offline"


async def test_patch_flags(service: Service) -> None:
    """An admin sets the simulation flags; the block shows them; absent fields stay."""
    response = await service.admin.patch(
        "/api/v1/memory/blocks/9", json={"isolation_fails": True, "migration_ms": 25}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["isolation_fails"], body["unmovable_pages"], body["migration_ms"]) == (
        True,
        False,
        25,
    )
    response = await service.admin.patch("/api/v1/memory/blocks/9", json={"unmovable_pages": True})
    block = response.json()
    assert (block["isolation_fails"], block["unmovable_pages"], block["migration_ms"]) == (
        True,
        True,
        25,
    )
    assert await service.block(9) == block


async def test_isolation_fails_is_ebusy_without_events(service: Service) -> None:
    """isolation_fails: offline fails with -EBUSY and no subscriber hears anything."""
    sub = await service.subscriber("watcher")
    await service.admin.patch("/api/v1/memory/blocks/9", json={"isolation_fails": True})
    response = await service.offline(9)
    body = assert_problem(response, 409)
    assert body["errno"] == EBUSY
    assert body["errno_name"] == "EBUSY"
    assert body["transition"]["outcome"] == "failed"
    assert body["transition"]["walks"] == []
    assert sub.notifications == []
    assert (await service.block(9))["state"] == "online"


async def test_patch_flags_rejects_bad_bodies(service: Service) -> None:
    """Unknown fields, wrong types and out-of-range values are 422; nothing changes."""
    before = await service.block(9)
    for body in (
        {"isolation_fails": True, "colour": "red"},
        {"removable": False},
        {"state": "offline"},
        {"migration_ms": -1},
        {"migration_ms": 2**64},
        {"migration_ms": 1.5},
        {"migration_ms": [1]},
        {"isolation_fails": {"yes": True}},
        {"unmovable_pages": [True]},
        [],
        "isolation_fails",
    ):
        response = await service.admin.patch("/api/v1/memory/blocks/9", json=body)
        assert_problem(response, 422)
    assert await service.block(9) == before


async def test_unknown_block_is_404_everywhere(service: Service) -> None:
    """Every block route answers 404 problem+json for a block that does not exist."""
    assert_problem(await service.viewer.get("/api/v1/memory/blocks/999"), 404)
    assert_problem(await service.online(999), 404)
    assert_problem(await service.offline(999), 404)
    assert_problem(
        await service.admin.patch("/api/v1/memory/blocks/999", json={"migration_ms": 1}), 404
    )
    assert_problem(await service.admin.delete("/api/v1/memory/blocks/999"), 404)
    history = await service.viewer.get("/api/v1/transitions")
    assert history.json() == []  # a request for no block leaves no record


async def test_block_id_that_is_not_a_number_is_422(service: Service) -> None:
    """A block id that is not an integer is bad input."""
    assert_problem(await service.viewer.get("/api/v1/memory/blocks/abc"), 422)
    assert_problem(await service.viewer.get("/api/v1/memory/blocks/1.5"), 422)


async def test_negative_or_huge_block_ids_are_client_errors(service: Service) -> None:
    """Negative and overflowing block ids are a 404 or 422 problem, never a server error."""
    for block in ("-1", str(2**63), str(10**40)):
        for response in (
            await service.viewer.get(f"/api/v1/memory/blocks/{block}"),
            await service.admin.post(f"/api/v1/memory/blocks/{block}/online", json={}),
            await service.admin.post(f"/api/v1/memory/blocks/{block}/offline", json={}),
        ):
            assert response.status_code in (404, 422), (block, response.text)
            assert_problem(response, response.status_code)


async def test_online_rejects_bad_input(service: Service) -> None:
    """Bad online_type, negative/zero/overflowing timeout_ms, wrong types, unknown fields: 422."""
    for body in (
        {"online_type": "online_foo"},
        {"online_type": "offline"},
        {"online_type": 1},
        {"online_type": None},
        {"online_type": "online", "timeout_ms": 0},
        {"online_type": "online", "timeout_ms": -5},
        {"online_type": "online", "timeout_ms": 2**63},
        {"online_type": "online", "timeout_ms": 10**30},
        {"online_type": "online", "timeout_ms": 1.5},
        {"online_type": "online", "timeout_ms": [100]},
        {"online_type": "online", "zone": "Normal"},
        ["online"],
        42,
    ):
        response = await service.admin.post("/api/v1/memory/blocks/12/online", json=body)
        assert_problem(response, 422)
    for body in ({"timeout_ms": 0}, {"timeout_ms": -1}, {"timeout_ms": 10**30}, {"force": True}):
        assert_problem(await service.admin.post("/api/v1/memory/blocks/9/offline", json=body), 422)
    assert (await service.block(12))["state"] == "offline"
    assert (await service.block(9))["state"] == "online"
    assert (await service.viewer.get("/api/v1/transitions")).json() == []


async def test_broken_json_is_422(service: Service) -> None:
    """A body that is not JSON at all is a 422 problem."""
    response = await service.admin.post(
        "/api/v1/memory/blocks/12/online",
        content=b'{"online_type": "online"',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 422)


async def test_wrong_content_type_is_refused(service: Service) -> None:
    """A body that is not declared JSON is refused (415/422) and nothing runs."""
    for path, body in (
        ("/api/v1/memory/blocks/12/online", b'{"online_type": "online_movable"}'),
        ("/api/v1/memory/blocks/9/offline", b'{"timeout_ms": 100}'),
    ):
        response = await service.admin.post(
            path, content=body, headers={"Content-Type": "text/plain"}
        )
        assert response.status_code in (415, 422), (path, response.status_code, response.text)
        assert_problem(response, response.status_code)
    response = await service.admin.patch(
        "/api/v1/memory/blocks/9",
        content=b'{"isolation_fails": true}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code in (415, 422)
    assert_problem(response, response.status_code)
    assert (await service.block(12))["state"] == "offline"
    assert (await service.block(9))["state"] == "online"
    assert (await service.block(9))["isolation_fails"] is False


async def test_oversized_body_is_413(service: Service) -> None:
    """A body over the limit is refused with 413 problem+json, declared or chunked."""
    big = b'{"online_type": "online", "pad": "' + b"x" * 70_000 + b'"}'
    response = await service.admin.post(
        "/api/v1/memory/blocks/12/online",
        content=big,
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 413)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    response = await service.admin.post(
        "/api/v1/memory/blocks/12/online",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 413)
    big_name = {"name": "x" * 80_000}
    assert_problem(await service.admin.post("/api/v1/subscribers", json=big_name), 413)
    assert (await service.block(12))["state"] == "offline"


async def test_online_returns_the_record_with_location(service: Service) -> None:
    """A completed online is 200 with the record and a Location to it."""
    response = await service.online(12, "online_movable")
    assert response.status_code == 200
    record = response.json()
    assert record["outcome"] == "completed"
    assert (record["operation"], record["block"], record["node"]) == ("online", 12, 1)
    assert (record["online_type"], record["zone"]) == ("online_movable", "Movable")
    assert response.headers["location"].endswith(f"/api/v1/transitions/{record['id']}")
    again = await service.viewer.get(response.headers["location"])
    assert again.status_code == 200
    assert again.json()["outcome"] == "completed"


async def test_wait_false_is_202_with_location(service: Service) -> None:
    """?wait=false answers 202 at once with a Location; the record completes later."""
    response = await service.admin.post(
        "/api/v1/memory/blocks/12/online", params={"wait": "false"}, json={}
    )
    assert response.status_code == 202
    location = response.headers["location"]
    assert location.endswith(f"/api/v1/transitions/{response.json()['id']}")
    assert response.json()["outcome"] in ("pending", "running", "completed")

    async def completed() -> bool:
        return bool((await service.viewer.get(location)).json()["outcome"] == "completed")

    await wait_for(completed)


async def test_wrong_state_is_409_einval_without_events(service: Service) -> None:
    """Onlining an online block or offlining an offline one: 409, -EINVAL, no events."""
    sub = await service.subscriber("watcher")
    for response in (await service.online(0), await service.offline(12)):
        body = assert_problem(response, 409)
        assert body["errno"] == EINVAL
        assert body["errno_name"] == "EINVAL"
        assert body["transition"]["walks"] == []
    assert sub.notifications == []


async def test_veto_is_409_with_record_and_vetoer(service: Service) -> None:
    """A veto answers 409 with errno, the vetoer and the full record."""
    sub = await service.subscriber(
        "vetoer", answer=lambda _f: {"result": "NOTIFY_BAD", "message": "not now"}
    )
    body = assert_problem(await service.online(12), 409)
    assert body["errno"] == -1
    assert body["errno_name"] == "EPERM"
    record = body["transition"]
    assert record["outcome"] == "cancelled"
    assert record["vetoed_by"]["subscriber"] == sub.id
    assert record["vetoed_by"]["name"] == "vetoer"
    assert record["vetoed_by"]["errno"] == -1
    assert record["vetoed_by"]["message"] == "not now"
    assert [w["action"] for w in record["walks"]] == ["MEM_GOING_ONLINE", "MEM_CANCEL_ONLINE"]


async def test_remove_block(service: Service) -> None:
    """DELETE removes an offline block (404 after); an online one is 409 -EBUSY."""
    body = assert_problem(await service.admin.delete("/api/v1/memory/blocks/9"), 409)
    assert body["errno"] == EBUSY
    response = await service.admin.delete("/api/v1/memory/blocks/27")
    assert response.status_code in (200, 204)
    assert_problem(await service.viewer.get("/api/v1/memory/blocks/27"), 404)
    assert (await service.viewer.get("/api/v1/memory")).json()["summary"]["blocks"] == 27


async def test_probe_adds_blocks(service: Service) -> None:
    """Probe by node+count creates offline blocks after the highest id, even on a new node."""
    response = await service.admin.post("/api/v1/memory/probe", json={"node": 5, "count": 2})
    assert response.status_code == 201, response.text
    blocks = response.json()["blocks"]
    assert [(b["id"], b["node"], b["state"]) for b in blocks] == [
        (28, 5, "offline"),
        (29, 5, "offline"),
    ]
    nodes = [n["id"] for n in (await service.viewer.get("/api/v1/memory")).json()["nodes"]]
    assert 5 in nodes
    response = await service.admin.post(
        "/api/v1/memory/probe", json={"phys_addr": hex(40 * 134217728)}
    )
    assert response.status_code == 201, response.text
    assert [(b["id"], b["node"]) for b in response.json()["blocks"]] == [(40, 0)]


async def test_probe_rejects_bad_input(service: Service) -> None:
    """Misaligned phys_addr, node out of 0..1023, bad count or mixed forms: 422."""
    for body in (
        {"phys_addr": "0x1000"},
        {"phys_addr": "1234"},
        {"node": 1024, "count": 1},
        {"node": -1, "count": 1},
        {"node": 1, "count": 0},
        {"node": 1, "count": 2**40},
        {"node": 1},
        {"node": 1, "count": 1, "phys_addr": "0x0"},
        {},
    ):
        assert_problem(await service.admin.post("/api/v1/memory/probe", json=body), 422)
    assert (await service.viewer.get("/api/v1/memory")).json()["summary"]["blocks"] == 28


async def test_chmem_shape(service: Service) -> None:
    """chmem answers 200 with one result per block tried and the counts."""
    response = await service.admin.post(
        "/api/v1/memory/chmem", json={"enable": True, "blocks": "12-13"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["succeeded"] == 2
    assert body["failed"] == 0
    assert [r["block"] for r in body["results"]] == [12, 13]
    for result in body["results"]:
        assert result["outcome"] == "completed"
        assert isinstance(result["transition"], str)
        assert "errno" in result
    assert_problem(
        await service.admin.post("/api/v1/memory/chmem", json={"enable": True, "size": "100"}),
        422,
    )
    assert_problem(
        await service.admin.post(
            "/api/v1/memory/chmem", json={"enable": True, "disable": True, "blocks": "12"}
        ),
        422,
    )


async def test_full_queue_is_503_and_leaves_no_record(tmp_path: Path) -> None:
    """With max_queue=1, a request beyond the queue is 503 and never enters the history."""
    async with running_service(tmp_path, max_queue=1) as service:
        sub = await service.subscriber("holder", answer=None)
        first = await service.admin.post(
            "/api/v1/memory/blocks/12/online", params={"wait": "false"}, json={}
        )
        assert first.status_code == 202
        frame = await sub.next_frame()  # the first is running, held by our reply
        second = await service.admin.post(
            "/api/v1/memory/blocks/13/online", params={"wait": "false"}, json={}
        )
        assert second.status_code == 202  # it waits in the queue
        # a waiting request (wait=true) of another client is refused too
        third = await service.online(14)
        body = assert_problem(third, 503)
        assert "queue" in body["detail"].lower()
        offline = await service.offline(9)
        assert_problem(offline, 503)
        history = (await service.viewer.get("/api/v1/transitions")).json()
        assert sorted(r["block"] for r in history) == [12, 13]
        await sub.reply(frame["id"])
        for _ in range(3):  # MEM_ONLINE of 12, then GOING_ONLINE and ONLINE of 13
            await sub.reply((await sub.next_frame())["id"])

        async def both_done() -> bool:
            records = (await service.viewer.get("/api/v1/transitions")).json()
            return all(r["outcome"] == "completed" for r in records)

        await wait_for(both_done)
        history = (await service.viewer.get("/api/v1/transitions")).json()
        assert sorted(r["block"] for r in history) == [12, 13]
        assert (await service.block(14))["state"] == "offline"
        # once the queue drained, requests are accepted again
        assert (await service.admin.delete(f"/api/v1/subscribers/{sub.id}")).status_code == 204
        assert (await service.online(14)).status_code == 200


async def test_concurrent_waiting_requests_are_serialised(service: Service) -> None:
    """Requests sent together each get their own 200; transitions never overlap."""
    sub = await service.subscriber("recorder")
    responses = await asyncio.wait_for(
        asyncio.gather(*(service.online(block) for block in (12, 13, 14, 15))), seconds(20)
    )
    assert [r.status_code for r in responses] == [200] * 4
    blocks = [frame["block"] for frame in sub.notifications]
    # each transition's GOING_ONLINE is followed by its own ONLINE before the next starts
    assert [blocks[i] for i in range(0, 8, 2)] == [blocks[i] for i in range(1, 8, 2)]
    assert sorted(set(blocks)) == [12, 13, 14, 15]


async def test_memory_patch_auto_online(service: Service) -> None:
    """An admin may change auto_online_blocks; bad values are 422."""
    response = await service.admin.patch(
        "/api/v1/memory", json={"auto_online_blocks": "online_movable"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["auto_online_blocks"] == "online_movable"
    assert_problem(
        await service.admin.patch("/api/v1/memory", json={"auto_online_blocks": "sometimes"}), 422
    )
    response = await service.admin.post("/api/v1/memory/probe", json={"node": 1, "count": 1})
    assert response.status_code == 201
    body = response.json()
    assert len(body["transitions"]) == 1  # the auto-online transition of the new block
    location = f"/api/v1/transitions/{body['transitions'][0]['id']}"

    async def completed() -> bool:
        return bool((await service.viewer.get(location)).json()["outcome"] == "completed")

    await wait_for(completed)
    block = await service.block(body["blocks"][0]["id"])
    assert (block["state"], block["zone"]) == ("online", "Movable")


async def test_http_client_sees_json_content_type(service: Service) -> None:
    """Successful answers are application/json."""
    async with httpx.AsyncClient(base_url=service.server.http) as client:
        response = await client.get("/healthz")
        assert response.headers["content-type"].startswith("application/json")
    response = await service.viewer.get("/api/v1/memory/blocks/0")
    assert response.headers["content-type"].startswith("application/json")
