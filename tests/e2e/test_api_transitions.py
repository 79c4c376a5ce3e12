"""SPEC §5 through the full service: transition history, one record, abort."""

from __future__ import annotations

from typing import Any

from tests.support.api import assert_problem
from tests.support.hotplug import Service
from tests.support.server import wait_for

CALL_FIELDS = {
    "subscriber",
    "name",
    "priority",
    "delivery",
    "result",
    "value",
    "errno",
    "message",
    "latency_ms",
}
ARG_FIELDS = {
    "start_pfn",
    "nr_pages",
    "status_change_nid_normal",
    "status_change_nid_high",
    "status_change_nid",
}


async def make_history(service: Service) -> list[str]:
    """Five finished transitions, oldest first: their ids."""
    ids = []
    for response in (
        await service.online(12),
        await service.online(13, "online_movable"),
        await service.online(20, "online_movable"),
        await service.offline(12),
        await service.online(0),  # already online: failed, -EINVAL
    ):
        assert response.status_code in (200, 409), response.text
        body = response.json()
        ids.append(body["transition"]["id"] if "transition" in body else body["id"])
    return ids


async def history(service: Service, **params: Any) -> list[dict[str, Any]]:
    """GET /transitions with these query parameters (200 expected)."""
    response = await service.viewer.get("/api/v1/transitions", params=params)
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()
    return records


async def test_history_is_newest_first(service: Service) -> None:
    """The history lists every transition, newest first."""
    ids = await make_history(service)
    assert [r["id"] for r in await history(service)] == ids[::-1]


async def test_history_pagination_with_limit_and_before(service: Service) -> None:
    """limit cuts a page, before= continues after a given id, pages never overlap."""
    ids = await make_history(service)
    page1 = await history(service, limit=2)
    assert [r["id"] for r in page1] == ids[::-1][:2]
    page2 = await history(service, limit=2, before=page1[-1]["id"])
    assert [r["id"] for r in page2] == ids[::-1][2:4]
    page3 = await history(service, limit=2, before=page2[-1]["id"])
    assert [r["id"] for r in page3] == ids[::-1][4:]
    assert await history(service, before=ids[0]) == []


async def test_history_link_header_points_to_the_next_page(service: Service) -> None:
    """A full page carries a Link rel=next that yields the following page."""
    ids = await make_history(service)
    response = await service.viewer.get("/api/v1/transitions", params={"limit": 3})
    link = response.headers["link"]
    assert 'rel="next"' in link
    url = link[link.index("<") + 1 : link.index(">")]
    following = await service.viewer.get(url)
    assert [r["id"] for r in following.json()] == ids[::-1][3:]


async def test_history_filters(service: Service) -> None:
    """operation, block, node and outcome filter the history."""
    ids = await make_history(service)
    assert [r["id"] for r in await history(service, operation="offline")] == [ids[3]]
    assert [r["id"] for r in await history(service, block=12)] == [ids[3], ids[0]]
    assert [r["id"] for r in await history(service, node=2)] == [ids[2]]
    assert [r["id"] for r in await history(service, outcome="failed")] == [ids[4]]
    completed = await history(service, outcome="completed", operation="online")
    assert [r["id"] for r in completed] == [ids[2], ids[1], ids[0]]
    assert await history(service, outcome="aborted") == []


async def test_history_rejects_bad_parameters(service: Service) -> None:
    """Zero, negative or huge limits, bad before ids and unknown filter values are 422."""
    await make_history(service)
    for params in (
        {"limit": 0},
        {"limit": -1},
        {"limit": 10**30},
        {"limit": "ten"},
        {"before": "x" * 1000},
        {"before": "not-an-id"},
        {"operation": "reboot"},
        {"outcome": "done"},
        {"block": -1},
        {"node": 5000},
    ):
        response = await service.viewer.get("/api/v1/transitions", params=params)
        assert_problem(response, 422)


async def test_history_huge_block_filter_is_422(service: Service) -> None:
    """A block filter beyond any block id (an overflowing integer) is bad input: 422, not 500."""
    await make_history(service)
    for block in (10**30, 2**63):
        response = await service.viewer.get("/api/v1/transitions", params={"block": block})
        assert_problem(response, 422)


async def test_history_huge_before_is_not_a_server_error(service: Service) -> None:
    """A before= id with a huge number is a client problem or a full page, never 500."""
    ids = await make_history(service)
    for before in ("tr-" + "9" * 30, "tr-" + "9" * 18):
        response = await service.viewer.get("/api/v1/transitions", params={"before": before})
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            assert [r["id"] for r in response.json()] == ids[::-1]
        else:
            assert_problem(response, 422)


async def test_one_transition_record(service: Service) -> None:
    """A record has the SPEC fields: walks with calls, each call with its delivery and result."""
    sub = await service.subscriber("replier", priority=7, answer=lambda _f: {"result": 1})
    response = await service.online(12)
    assert response.status_code == 200
    transition = response.json()["id"]
    record = (await service.viewer.get(f"/api/v1/transitions/{transition}")).json()
    assert record["id"] == transition
    assert (record["operation"], record["block"], record["node"]) == ("online", 12, 1)
    assert (record["online_type"], record["zone"]) == ("online", "Normal")
    assert set(record["arg"]) == ARG_FIELDS
    assert record["arg"]["start_pfn"] == 12 * 32768
    assert record["arg"]["nr_pages"] == 32768
    assert record["arg"]["status_change_nid"] == 1
    assert (record["outcome"], record["errno"], record["vetoed_by"]) == ("completed", None, None)
    for stamp in ("created_at", "started_at", "finished_at"):
        assert isinstance(record[stamp], str)
        assert record[stamp]
    assert [w["action"] for w in record["walks"]] == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    for walk in record["walks"]:
        assert "stopped_by" in walk
        [call] = walk["calls"]
        assert set(call) >= CALL_FIELDS
        assert (call["subscriber"], call["name"], call["priority"]) == (sub.id, "replier", 7)
        assert (call["delivery"], call["result"], call["value"]) == ("replied", "NOTIFY_OK", 1)
        assert call["latency_ms"] >= 0


async def test_unknown_transition_is_404(service: Service) -> None:
    """Reading or aborting a transition that does not exist is a 404 problem."""
    assert_problem(await service.viewer.get("/api/v1/transitions/tr-424242"), 404)
    assert_problem(await service.viewer.get("/api/v1/transitions/whatever"), 404)
    assert_problem(await service.admin.post("/api/v1/transitions/tr-424242/abort"), 404)


async def test_abort_an_offline_in_flight(service: Service) -> None:
    """Abort during migration: the offline fails with -EINTR; aborting it again is 409."""
    sub = await service.subscriber("watcher")
    await service.admin.patch("/api/v1/memory/blocks/9", json={"migration_ms": 30_000})
    response = await service.admin.post(
        "/api/v1/memory/blocks/9/offline", params={"wait": "false"}, json={}
    )
    assert response.status_code == 202
    transition = response.json()["id"]
    await wait_for(lambda: sub.actions() == ["MEM_GOING_OFFLINE"])
    aborted = await service.admin.post(f"/api/v1/transitions/{transition}/abort")
    assert aborted.status_code == 200, aborted.text

    async def finished() -> bool:
        record = (await service.viewer.get(f"/api/v1/transitions/{transition}")).json()
        return bool(record["outcome"] not in ("pending", "running"))

    await wait_for(finished)
    record = (await service.viewer.get(f"/api/v1/transitions/{transition}")).json()
    assert (record["outcome"], record["errno"], record["errno_name"]) == ("failed", -4, "EINTR")
    assert [w["action"] for w in record["walks"]] == ["MEM_GOING_OFFLINE", "MEM_CANCEL_OFFLINE"]
    assert (await service.block(9))["state"] == "online"
    body = assert_problem(await service.admin.post(f"/api/v1/transitions/{transition}/abort"), 409)
    assert "transition" in body


async def test_abort_an_online_is_refused(service: Service) -> None:
    """Only an offline can be aborted: aborting a running online is a 409 problem."""
    sub = await service.subscriber("holder", answer=None)
    response = await service.admin.post(
        "/api/v1/memory/blocks/12/online", params={"wait": "false"}, json={}
    )
    transition = response.json()["id"]
    frame = await sub.next_frame()
    assert_problem(await service.admin.post(f"/api/v1/transitions/{transition}/abort"), 409)
    await sub.reply(frame["id"])
    await sub.reply((await sub.next_frame())["id"])
