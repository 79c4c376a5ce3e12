"""Real REST responses against the OpenAPI document the server serves.

Each call names its operation (path template, method); its status must be
documented for that operation, with the media type it came with, and its
body must match the documented schema with no member the schema does not
declare. So the response models, which are documentation only, stay
exactly what the routes send.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.docs import SchemaCheck, pointer
from tests.support.hotplug import (
    Service,
    answer_by_action,
    wait_finished,
)
from tests.support.server import wait_for


class Documented:
    """Calls the service and checks every answer against its documented response."""

    def __init__(self, service: Service, document: dict[str, Any]) -> None:
        self.service = service
        self.document = document
        self.schemas = SchemaCheck(document, strict=True)
        self.seen: set[tuple[str, str, str]] = set()

    async def call(
        self,
        method: str,
        template: str,
        client: httpx.AsyncClient | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """``method`` on ``template`` filled with ``path`` values; checked against the docs."""
        path = template.format(**kwargs.pop("path", {}))
        client = client or self.service.admin
        response = await client.request(method, path, **kwargs)
        self.check(method, template, response)
        return response

    def check(self, method: str, template: str, response: httpx.Response) -> None:
        """The response's status, media type and body are the documented ones."""
        status = str(response.status_code)
        operation = self.document["paths"][template][method.lower()]
        assert status in operation["responses"], (method, template, status, response.text)
        self.seen.add((method.lower(), template, status))
        content = operation["responses"][status].get("content")
        if content is None:
            assert not response.content, (method, template, status)
            return
        media = response.headers["content-type"].split(";")[0]
        assert media in content, (method, template, status, media, list(content))
        if media.endswith("json"):
            at = pointer("paths", template, method.lower(), "responses", status, "content", media)
            self.schemas.check(response.json(), at + "/schema")


async def documented(service: Service) -> Documented:
    """A checker for this server's own /api/v1/openapi.json."""
    response = await service.anonymous.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return Documented(service, response.json())


MEMORY = "/api/v1/memory"
BLOCKS = "/api/v1/memory/blocks"
BLOCK = "/api/v1/memory/blocks/{block_id}"
ONLINE = "/api/v1/memory/blocks/{block_id}/online"
OFFLINE = "/api/v1/memory/blocks/{block_id}/offline"
TRANSITIONS = "/api/v1/transitions"
TRANSITION = "/api/v1/transitions/{transition_id}"
ABORT = "/api/v1/transitions/{transition_id}/abort"
SUBSCRIBERS = "/api/v1/subscribers"
SUBSCRIBER = "/api/v1/subscribers/{subscriber_id}"
INJECT = "/api/v1/debug/notifier-error-inject"


async def test_rest_answers_match_the_openapi_document(service: Service) -> None:
    """Reads, triggers (200, 202, 409), hot-add/remove, subscribers, injection, errors."""
    api = await documented(service)

    call = api.call

    veto = answer_by_action({"MEM_GOING_OFFLINE": {"errno": -16, "message": "pinned pages"}})
    balloon = await service.subscriber("balloon", answer=veto)
    await service.subscriber("page-cache", priority=10, actions=["MEM_ONLINE", "MEM_OFFLINE"])

    assert (await call("GET", MEMORY)).status_code == 200
    assert (await call("GET", BLOCKS, params={"node": 1})).status_code == 200
    assert (await call("GET", BLOCK, path={"block_id": 8})).status_code == 200
    assert (await call("GET", BLOCK, path={"block_id": 999})).status_code == 404
    assert (await call("GET", BLOCK, path={"block_id": "x"})).status_code == 422

    online = {"online_type": "online_movable"}
    assert (await call("POST", ONLINE, path={"block_id": 12}, json=online)).status_code == 200
    assert (await call("POST", ONLINE, path={"block_id": 12}, json=online)).status_code == 409
    assert (await call("POST", OFFLINE, path={"block_id": 12})).status_code == 409  # vetoed
    queued = await call("POST", ONLINE, path={"block_id": 13}, params={"wait": "false"})
    assert queued.status_code == 202
    await wait_finished(service, queued.json()["id"])
    assert (await call("POST", ONLINE, path={"block_id": 999}, json={})).status_code == 404
    bad = {"online_type": "online_sideways"}
    assert (await call("POST", ONLINE, path={"block_id": 13}, json=bad)).status_code == 422

    # an offline slow enough to abort, then one too late to abort
    flags = {"migration_ms": 5000}
    assert (await call("PATCH", BLOCK, path={"block_id": 13}, json=flags)).status_code == 200
    await service.admin.patch(f"/api/v1/subscribers/{balloon.id}", json={"actions": []})
    assert (await call("POST", OFFLINE, path={"block_id": 12})).status_code == 200
    slow = await call("POST", OFFLINE, path={"block_id": 13}, params={"wait": "false"})
    assert slow.status_code == 202
    record = slow.json()

    async def migrating() -> bool:
        current = await service.admin.get(f"/api/v1/transitions/{record['id']}")
        return bool(current.json()["phase"] == "migrating")

    await wait_for(migrating)
    assert (await call("POST", ABORT, path={"transition_id": record["id"]})).status_code == 200
    assert (await wait_finished(service, record["id"]))["outcome"] == "failed"
    assert (await call("POST", ABORT, path={"transition_id": record["id"]})).status_code == 409
    assert (await call("POST", ABORT, path={"transition_id": "tr-999"})).status_code == 404

    assert (await call("GET", TRANSITIONS, params={"limit": 2})).status_code == 200
    assert (await call("GET", TRANSITIONS, params={"before": "nope"})).status_code == 422
    assert (await call("GET", TRANSITION, path={"transition_id": record["id"]})).status_code == 200
    assert (await call("GET", TRANSITION, path={"transition_id": "tr-999"})).status_code == 404

    probe = {"node": 3, "count": 1}
    assert (await call("POST", "/api/v1/memory/probe", json=probe)).status_code == 201
    assert (await call("POST", "/api/v1/memory/probe", json={"node": 3})).status_code == 422
    misaligned = {"phys_addr": "0x7"}
    assert (await call("POST", "/api/v1/memory/probe", json=misaligned)).status_code == 422
    assert (await call("DELETE", BLOCK, path={"block_id": 28})).status_code == 200
    assert (await call("DELETE", BLOCK, path={"block_id": 8})).status_code == 409
    chmem = {"enable": True, "blocks": "14-15"}
    assert (await call("POST", "/api/v1/memory/chmem", json=chmem)).status_code == 200
    chmem = {"enable": True, "blocks": "16", "zone": "Normal"}
    assert (await call("POST", "/api/v1/memory/chmem", json=chmem)).status_code == 200
    chmem = {"enable": True, "size": "100"}
    assert (await call("POST", "/api/v1/memory/chmem", json=chmem)).status_code == 422
    auto = {"auto_online_blocks": "offline"}
    assert (await call("PATCH", MEMORY, json=auto)).status_code == 200

    created = await call("POST", SUBSCRIBERS, json={"name": "dbcache", "nodes": [1]})
    assert created.status_code == 201
    new_id = created.json()["id"]
    assert (await call("POST", SUBSCRIBERS, json={"name": ""})).status_code == 422
    assert (await call("GET", SUBSCRIBERS)).status_code == 200
    assert (await call("GET", SUBSCRIBER, path={"subscriber_id": balloon.id})).status_code == 200
    assert (await call("GET", SUBSCRIBER, path={"subscriber_id": "sub-none"})).status_code == 404
    change = {"priority": 20}
    assert (
        await call("PATCH", SUBSCRIBER, path={"subscriber_id": new_id}, json=change)
    ).status_code == 200
    assert (await call("DELETE", SUBSCRIBER, path={"subscriber_id": new_id})).status_code == 204
    assert (await call("DELETE", SUBSCRIBER, path={"subscriber_id": new_id})).status_code == 404

    inject = {"enabled": True, "priority": 100, "actions": {"MEM_GOING_ONLINE": -12}}
    assert (await call("PUT", INJECT, json=inject)).status_code == 200
    assert (await call("GET", INJECT)).status_code == 200
    assert (await call("GET", "/api/v1/chain")).status_code == 200
    assert (await call("GET", "/api/v1/whoami", client=service.viewer)).status_code == 200
    await api.call("PUT", INJECT, json={"enabled": False})

    # auth and limits
    assert (await call("GET", MEMORY, client=service.anonymous)).status_code == 401
    assert (
        await call("POST", ONLINE, path={"block_id": 14}, client=service.viewer)
    ).status_code == 403
    nosy = httpx.AsyncClient(
        base_url=service.server.http, headers={"Authorization": f"Bearer {balloon.info['token']}"}
    )
    async with nosy:
        assert (await call("GET", "/api/v1/chain", client=nosy)).status_code == 403
    big = b'{"name": "' + b"x" * 70_000 + b'"}'
    headers = {"content-type": "application/json"}
    response = await call("POST", SUBSCRIBERS, content=big, headers=headers)
    assert response.status_code == 413

    for path in ("/healthz", "/readyz", "/metrics", "/api/v1/asyncapi.json"):
        assert (await call("GET", path, client=service.anonymous)).status_code == 200

    # every documented success status was produced at least once
    successes = {
        (method, path, status)
        for path, item in api.document["paths"].items()
        for method, operation in item.items()
        for status in operation["responses"]
        if status.startswith("2")
    }
    assert successes <= api.seen, sorted(successes - api.seen)
