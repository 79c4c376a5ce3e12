"""SPEC §5 auth, through the full service: every route of the app's route table.

No token → 401 with WWW-Authenticate; the viewer token on an admin route →
403; a subscriber token on any REST route → 403; the viewer may read
everything readable. Every error is problem+json. The probes are public
unless ``metrics_require_token`` is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.api import assert_problem
from tests.support.hotplug import ADMIN_TOKEN, VIEWER_TOKEN, Service, running_service
from tests.support.routes import RouteInfo, flat_routes

# Routes that need no token: the probes (SPEC §5 table), the dashboard page and
# its static files (the page holds no data), and the API's own documentation.
PUBLIC = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/",
    "/static/{path:path}",
    "/api/docs",
    "/docs/oauth2-redirect",
    "/api/v1/openapi.json",
    "/api/v1/asyncapi.json",
}
READ_METHODS = {"GET", "HEAD"}


def protected_routes(service: Service) -> list[tuple[str, RouteInfo]]:
    """(method, route) for every token-protected HTTP route of the app."""
    pairs = []
    for route in flat_routes(service.app):
        if route.websocket or route.path in PUBLIC:
            continue
        for method in sorted(route.methods - {"HEAD"}):
            pairs.append((method, route))
    return pairs


async def fixture_values(service: Service) -> dict[str, Any]:
    """Real ids to fill the path parameters with."""
    response = await service.online(13)
    assert response.status_code == 200, response.text
    sub = await service.register("auth-probe")
    return {
        "block_id": 12,
        "subscriber_id": sub["id"],
        "transition_id": response.json()["id"],
        "path": "style.css",
        "_subscriber_token": sub["token"],
    }


async def test_route_table_is_what_the_spec_lists(service: Service) -> None:
    """The walk finds every SPEC §5 route, so the auth sweep below really covers them."""
    found = {(m, r.path) for m, r in protected_routes(service)}
    expected = {
        ("GET", "/api/v1/memory"),
        ("GET", "/api/v1/memory/blocks"),
        ("GET", "/api/v1/memory/blocks/{block_id}"),
        ("POST", "/api/v1/memory/blocks/{block_id}/online"),
        ("POST", "/api/v1/memory/blocks/{block_id}/offline"),
        ("PATCH", "/api/v1/memory/blocks/{block_id}"),
        ("DELETE", "/api/v1/memory/blocks/{block_id}"),
        ("POST", "/api/v1/memory/probe"),
        ("POST", "/api/v1/memory/chmem"),
        ("GET", "/api/v1/transitions"),
        ("GET", "/api/v1/transitions/{transition_id}"),
        ("POST", "/api/v1/transitions/{transition_id}/abort"),
        ("POST", "/api/v1/subscribers"),
        ("GET", "/api/v1/subscribers"),
        ("GET", "/api/v1/subscribers/{subscriber_id}"),
        ("PATCH", "/api/v1/subscribers/{subscriber_id}"),
        ("DELETE", "/api/v1/subscribers/{subscriber_id}"),
        ("GET", "/api/v1/chain"),
        ("GET", "/api/v1/debug/notifier-error-inject"),
        ("PUT", "/api/v1/debug/notifier-error-inject"),
    }
    assert expected <= found, expected - found
    ws = {r.path for r in flat_routes(service.app) if r.websocket}
    assert ws == {"/api/v1/subscribers/{subscriber_id}/ws", "/api/v1/events"}


async def test_no_token_is_401_with_www_authenticate_on_every_route(service: Service) -> None:
    """Every protected route refuses a request without a token: 401, Bearer challenge."""
    values = await fixture_values(service)
    for method, route in protected_routes(service):
        response = await service.anonymous.request(method, route.fill(values))
        assert_problem(response, 401)
        assert response.headers.get("www-authenticate", "").lower().startswith("bearer"), (
            method,
            route.path,
        )


async def test_unknown_token_is_401_on_every_route(service: Service) -> None:
    """A token the service never issued is no token: 401 everywhere."""
    values = await fixture_values(service)
    headers = {"Authorization": "Bearer not-a-token-of-this-service-at-all"}
    for method, route in protected_routes(service):
        response = await service.anonymous.request(method, route.fill(values), headers=headers)
        assert_problem(response, 401)
        assert "www-authenticate" in response.headers


async def test_viewer_token_is_403_on_every_admin_route(service: Service) -> None:
    """The viewer may only read: every non-GET route answers 403 problem+json."""
    values = await fixture_values(service)
    writes = [(m, r) for m, r in protected_routes(service) if m not in READ_METHODS]
    assert len(writes) >= 12
    for method, route in writes:
        response = await service.viewer.request(method, route.fill(values), json={})
        assert_problem(response, 403)
    # nothing was changed by the refused requests
    assert (await service.admin.get(f"/api/v1/subscribers/{values['subscriber_id']}")).is_success
    assert (await service.block(12))["state"] == "offline"


async def test_subscriber_token_is_403_on_every_rest_route(service: Service) -> None:
    """A subscriber token opens only its websocket: 403 on every REST route, reads included."""
    values = await fixture_values(service)
    headers = {"Authorization": f"Bearer {values['_subscriber_token']}"}
    for method, route in protected_routes(service):
        response = await service.anonymous.request(
            method, route.fill(values), headers=headers, json={}
        )
        assert_problem(response, 403)
    assert (await service.block(12))["state"] == "offline"


async def test_viewer_reads_every_readable_route(service: Service) -> None:
    """Every GET route answers the viewer with 200 JSON."""
    values = await fixture_values(service)
    reads = [r for m, r in protected_routes(service) if m == "GET"]
    assert len(reads) >= 9
    for route in reads:
        response = await service.viewer.get(route.fill(values))
        assert response.status_code == 200, (route.path, response.text)
        assert response.headers["content-type"].startswith("application/json")
        response.json()


async def test_admin_may_read_too(service: Service) -> None:
    """The admin token may do everything, reads included."""
    values = await fixture_values(service)
    for route in [r for m, r in protected_routes(service) if m == "GET"]:
        response = await service.admin.get(route.fill(values))
        assert response.status_code == 200, (route.path, response.text)


async def test_malformed_authorization_headers_are_401(service: Service) -> None:
    """Basic auth, an empty bearer, or the token without the scheme are not credentials."""
    for header in (f"Basic {ADMIN_TOKEN}", "Bearer", ADMIN_TOKEN, f"Token {ADMIN_TOKEN}"):
        response = await service.anonymous.get("/api/v1/memory", headers={"Authorization": header})
        assert_problem(response, 401)


async def test_access_token_query_is_not_accepted_on_rest(service: Service) -> None:
    """?access_token= is for websockets only (SPEC §5): REST ignores it and answers 401."""
    response = await service.anonymous.get("/api/v1/memory", params={"access_token": ADMIN_TOKEN})
    assert_problem(response, 401)


async def test_auth_is_checked_before_json_decoding(service: Service) -> None:
    """An anonymous request with a broken JSON body learns nothing: 401, not 422."""
    response = await service.anonymous.post(
        "/api/v1/memory/blocks/12/online",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 401)


async def test_auth_is_checked_before_validation(service: Service) -> None:
    """A viewer's invalid body on an admin route is refused for the token: 403, not 422."""
    response = await service.viewer.post(
        "/api/v1/subscribers", json={"name": "x" * 500, "priority": "high"}
    )
    assert_problem(response, 403)


async def test_unknown_paths_and_methods_are_problems(service: Service) -> None:
    """404 for an unknown path and 405 for a wrong method are problem+json too."""
    assert_problem(await service.admin.get("/api/v1/no-such-thing"), 404)
    assert_problem(await service.admin.put("/api/v1/memory/blocks/12/online", json={}), 405)


async def test_probes_need_no_token(service: Service) -> None:
    """/healthz, /readyz, /metrics and the dashboard page answer without any token."""
    health = await service.anonymous.get("/healthz")
    assert health.status_code == 200
    ready = await service.anonymous.get("/readyz")
    assert ready.status_code == 200
    metrics = await service.anonymous.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in metrics.text
    dashboard = await service.anonymous.get("/")
    assert dashboard.status_code == 200
    assert dashboard.headers["content-type"].startswith("text/html")


async def test_metrics_can_require_the_viewer_token(tmp_path: Path) -> None:
    """With metrics_require_token, /metrics is 401 anonymously and 200 for viewer and admin."""
    async with running_service(tmp_path, metrics_require_token=True) as service:
        response = await service.anonymous.get("/metrics")
        assert_problem(response, 401)
        assert "www-authenticate" in response.headers
        bogus = {"Authorization": "Bearer nope-nope-nope-nope-nope"}
        assert_problem(await service.anonymous.get("/metrics", headers=bogus), 401)
        assert (await service.viewer.get("/metrics")).status_code == 200
        assert (await service.admin.get("/metrics")).status_code == 200
        # the liveness and readiness probes stay public
        assert (await service.anonymous.get("/healthz")).status_code == 200
        assert (await service.anonymous.get("/readyz")).status_code == 200


async def test_metrics_refuses_a_subscriber_token_when_required(tmp_path: Path) -> None:
    """A subscriber token lacks the right to read metrics: 403."""
    async with running_service(tmp_path, metrics_require_token=True) as service:
        sub = await service.register("metrics-probe")
        headers = {"Authorization": f"Bearer {sub['token']}"}
        assert_problem(await service.anonymous.get("/metrics", headers=headers), 403)


@pytest.mark.parametrize("token", [ADMIN_TOKEN, VIEWER_TOKEN])
async def test_whoami_names_the_role(service: Service, token: str) -> None:
    """The role of the presented token (used by the dashboard) matches the token."""
    response = await service.anonymous.get(
        "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json()["role"] == ("admin" if token == ADMIN_TOKEN else "viewer")
