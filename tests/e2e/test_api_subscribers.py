"""SPEC §5 through the full service: subscribers (register/list/read/patch/delete) and /chain."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.support.api import assert_problem
from tests.support.hotplug import Service
from tests.support.server import wait_for


async def chain_names(service: Service) -> list[str]:
    """The names in GET /chain order."""
    response = await service.viewer.get("/api/v1/chain")
    assert response.status_code == 200
    return [entry["name"] for entry in response.json()]


async def test_register_answers_201_with_id_token_and_ws_url(service: Service) -> None:
    """Registration: 201 with a string id, a token and the channel's absolute ws:// URL."""
    response = await service.admin.post(
        "/api/v1/subscribers",
        json={"name": "cache", "priority": 5, "actions": ["MEM_GOING_OFFLINE"], "nodes": [1]},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body["id"], str)
    assert body["id"]
    assert isinstance(body["token"], str)
    assert len(body["token"]) >= 16
    url = urlsplit(body["ws_url"])
    assert url.scheme == "ws"
    assert url.netloc == f"127.0.0.1:{service.server.port}"
    assert url.path == f"/api/v1/subscribers/{body['id']}/ws"
    assert (body["name"], body["priority"]) == ("cache", 5)


async def test_register_defaults(service: Service) -> None:
    """Priority 0, timeout 5000 ms, failure policy fail, no filters by default."""
    body = await service.register("plain")
    read = (await service.viewer.get(f"/api/v1/subscribers/{body['id']}")).json()
    assert read["priority"] == 0
    assert read["timeout_ms"] == 5000
    assert read["failure_policy"] == "fail"
    assert read["actions"] is None
    assert read["nodes"] is None


async def test_register_rejects_bad_input(service: Service) -> None:
    """Names over 128 characters, timeouts outside 1..60000 and other bad fields are 422."""
    bad: list[Any] = [
        {"name": "x" * 129},
        {"name": ""},
        {},
        {"name": 7},
        {"name": "t", "timeout_ms": 0},
        {"name": "t", "timeout_ms": 60001},
        {"name": "t", "timeout_ms": -1},
        {"name": "t", "timeout_ms": 10**30},
        {"name": "t", "priority": 2**31},
        {"name": "t", "priority": -(2**31) - 1},
        {"name": "t", "priority": "high"},
        {"name": "t", "actions": ["MEM_REBOOT"]},
        {"name": "t", "actions": "MEM_ONLINE"},
        {"name": "t", "nodes": [-1]},
        {"name": "t", "nodes": [1024]},
        {"name": "t", "failure_policy": "maybe"},
        {"name": "t", "colour": "blue"},
        ["t"],
    ]
    for body in bad:
        assert_problem(await service.admin.post("/api/v1/subscribers", json=body), 422)
    assert (await service.viewer.get("/api/v1/subscribers")).json() == []


async def test_register_accepts_the_limits(service: Service) -> None:
    """Exactly 128 characters, timeouts 1 and 60000, the int32 priority extremes are fine."""
    for body in (
        {"name": "n" * 128},
        {"name": "fast", "timeout_ms": 1},
        {"name": "slow", "timeout_ms": 60000},
        {"name": "top", "priority": 2**31 - 1},
        {"name": "bottom", "priority": -(2**31)},
    ):
        response = await service.admin.post("/api/v1/subscribers", json=body)
        assert response.status_code == 201, (body, response.text)


async def test_list_and_read_show_connection_and_counters(service: Service) -> None:
    """Reads show connected, last_reply and counters, and never the token."""
    sub = await service.subscriber(
        "agent", answer=lambda f: {"result": "NOTIFY_OK", "message": f"saw {f['action']}"}
    )
    idle = await service.register("idle", failure_policy="ignore")
    assert (await service.online(12)).status_code == 200
    listed = (await service.viewer.get("/api/v1/subscribers")).json()
    assert [s["name"] for s in listed] == ["agent", "idle"]
    read = (await service.viewer.get(f"/api/v1/subscribers/{sub.id}")).json()
    assert read["connected"] is True
    assert read["counters"]["calls"] == 2
    assert read["counters"]["vetoes"] == 0
    assert read["counters"]["timeouts"] == 0
    assert read["last_reply"]["result"] == "NOTIFY_OK"
    assert read["last_reply"]["message"] == "saw MEM_ONLINE"
    other = (await service.viewer.get(f"/api/v1/subscribers/{idle['id']}")).json()
    assert other["connected"] is False
    for shown in [*listed, read, other]:
        assert "token" not in shown
        assert sub.info["token"] not in str(shown)


async def test_connected_flag_follows_the_connection(service: Service) -> None:
    """connected turns false when the subscriber's websocket closes."""
    sub = await service.subscriber("flaky")
    await sub.close()

    async def disconnected() -> bool:
        read = (await service.viewer.get(f"/api/v1/subscribers/{sub.id}")).json()
        return read["connected"] is False

    await wait_for(disconnected)


async def test_veto_counts_in_the_counters(service: Service) -> None:
    """A veto increments the vetoer's counter."""
    sub = await service.subscriber("vetoer", answer=lambda _f: {"result": "NOTIFY_BAD"})
    assert (await service.online(12)).status_code == 409
    read = (await service.viewer.get(f"/api/v1/subscribers/{sub.id}")).json()
    assert read["counters"]["vetoes"] == 1
    assert read["counters"]["calls"] == 2  # GOING_ONLINE and CANCEL_ONLINE


async def test_patch_changes_priority_filters_and_policy(service: Service) -> None:
    """PATCH changes priority (re-placed in the chain), filters, timeout and policy."""
    a = await service.register("a")
    await service.register("b")
    assert await chain_names(service) == ["a", "b"]
    response = await service.admin.patch(
        f"/api/v1/subscribers/{a['id']}",
        json={
            "priority": -3,
            "actions": ["MEM_ONLINE"],
            "timeout_ms": 100,
            "failure_policy": "ignore",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["priority"], body["actions"], body["timeout_ms"], body["failure_policy"]) == (
        -3,
        ["MEM_ONLINE"],
        100,
        "ignore",
    )
    assert await chain_names(service) == ["b", "a"]
    response = await service.admin.patch(f"/api/v1/subscribers/{a['id']}", json={"actions": None})
    assert response.json()["actions"] is None


async def test_patch_rejects_bad_input(service: Service) -> None:
    """Unknown fields and out-of-range values are 422; an unknown subscriber is 404."""
    a = await service.register("a")
    for body in (
        {"colour": "red"},
        {"timeout_ms": 0},
        {"timeout_ms": 60001},
        {"priority": 2**40},
        {"name": "y" * 129},
        {"failure_policy": "explode"},
    ):
        assert_problem(await service.admin.patch(f"/api/v1/subscribers/{a['id']}", json=body), 422)
    assert_problem(await service.admin.patch("/api/v1/subscribers/nope", json={"priority": 1}), 404)
    read = (await service.viewer.get(f"/api/v1/subscribers/{a['id']}")).json()
    assert (read["priority"], read["timeout_ms"], read["failure_policy"]) == (0, 5000, "fail")


async def test_delete_unregisters(service: Service) -> None:
    """DELETE answers 204; the subscriber is gone from reads and the chain; again is 404."""
    a = await service.register("a")
    response = await service.admin.delete(f"/api/v1/subscribers/{a['id']}")
    assert response.status_code == 204
    assert_problem(await service.viewer.get(f"/api/v1/subscribers/{a['id']}"), 404)
    assert_problem(await service.admin.delete(f"/api/v1/subscribers/{a['id']}"), 404)
    assert await chain_names(service) == []
    assert (await service.viewer.get("/api/v1/subscribers")).json() == []


async def test_unknown_subscriber_is_404(service: Service) -> None:
    """Reading a subscriber that does not exist is a 404 problem."""
    assert_problem(await service.viewer.get("/api/v1/subscribers/sub-000000000000"), 404)


async def test_chain_order(service: Service) -> None:
    """/chain: higher priority first, registration order among equals, with ids and priorities."""
    first = await service.register("first", priority=1)
    await service.register("high", priority=100)
    await service.register("second", priority=1)
    await service.register("low", priority=-100)
    response = await service.viewer.get("/api/v1/chain")
    chain = response.json()
    assert [e["name"] for e in chain] == ["high", "first", "second", "low"]
    assert [e["priority"] for e in chain] == [100, 1, 1, -100]
    assert chain[1]["id"] == first["id"]
    # setting the priority it already has changes nothing
    await service.admin.patch(f"/api/v1/subscribers/{first['id']}", json={"priority": 1})
    assert await chain_names(service) == ["high", "first", "second", "low"]
    # a priority change re-registers at that priority: after the equals
    await service.admin.patch(f"/api/v1/subscribers/{first['id']}", json={"priority": 0})
    await service.admin.patch(f"/api/v1/subscribers/{first['id']}", json={"priority": 1})
    assert await chain_names(service) == ["high", "second", "first", "low"]


async def test_registrations_get_distinct_ids_and_tokens(service: Service) -> None:
    """Registering twice yields different ids and tokens."""
    a = await service.register("same-name")
    b = await service.register("same-name")
    assert a["id"] != b["id"]
    assert a["token"] != b["token"]
