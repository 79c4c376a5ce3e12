"""Request bodies are typed strictly: a string is not a number or a boolean."""

from __future__ import annotations

import pytest

from tests.support.hotplug import Service


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/memory/blocks/12/online", {"timeout_ms": "100"}),
        ("patch", "/api/v1/memory/blocks/12", {"isolation_fails": "true"}),
        ("patch", "/api/v1/memory/blocks/12", {"migration_ms": 1.5}),
        ("post", "/api/v1/subscribers", {"name": "x", "priority": "5"}),
        ("post", "/api/v1/memory/probe", {"node": "1", "count": 1}),
    ],
)
async def test_coercible_strings_are_422(
    service: Service, method: str, path: str, body: dict[str, object]
) -> None:
    """ "100" for an int or "true" for a bool is refused, not silently converted."""
    response = await service.admin.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    block = await service.block(12)
    assert (block["state"], block["isolation_fails"]) == ("offline", False)
