"""The service starts, answers, and runs a chain over real websockets."""

from __future__ import annotations

from tests.support.hotplug import Service


async def test_online_calls_subscribers_in_priority_order(service: Service) -> None:
    """Higher priority first; every subscriber gets GOING_ONLINE then ONLINE."""
    low = await service.subscriber("low", priority=-5)
    high = await service.subscriber("high", priority=10)
    response = await service.online(12)
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["outcome"] == "completed"
    assert [w["action"] for w in record["walks"]] == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    assert [c["name"] for c in record["walks"][0]["calls"]] == ["high", "low"]
    assert service.log == [
        ("high", "MEM_GOING_ONLINE", 12),
        ("low", "MEM_GOING_ONLINE", 12),
        ("high", "MEM_ONLINE", 12),
        ("low", "MEM_ONLINE", 12),
    ]
    assert high.hello is not None
    assert high.hello["type"] == "hello"
    assert low.notifications[0]["arg"]["status_change_nid"] == 1
