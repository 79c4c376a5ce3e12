"""The OpenAPI document: every operation described, exemplified, and its errors documented.

Built from ``create_app`` without serving it. Every example in the document
is checked against the schema it illustrates, and the problem bodies that
``app.api.problems`` builds against the ``Problem`` schema, so neither can
drift from the other.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from app.api import examples as ex
from app.api import schemas
from app.api.guard import PUBLIC_PATHS
from app.api.problems import PROBLEM_JSON, problem_body, transition_problem
from app.main import create_app
from app.settings import Settings
from tests.support.docs import SchemaCheck, pointer, refs, resolve

Operation = tuple[str, str, dict[str, Any]]

# /readyz answers 503 with a readiness status, not an error document.
NOT_PROBLEMS = {("/readyz", "get", "503")}
PUBLIC = {"/healthz", "/readyz", "/metrics", *PUBLIC_PATHS}
READ_METHODS = {"get", "head"}
PROBLEM_MEMBERS = {
    "type",
    "title",
    "status",
    "detail",
    "errno",
    "errno_name",
    "transition",
    "vetoed_by",
    "outcome",
    "errors",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The service, not started (its lifespan never runs)."""
    data_dir = tmp_path_factory.mktemp("openapi") / "data"
    return create_app(Settings(data_dir=data_dir, admin_token="admin-token-0123456789abcdef"))


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document as /api/v1/openapi.json serves it."""
    return app.openapi()


def operations(document: dict[str, Any]) -> list[Operation]:
    """Every (path, method, operation) of the document."""
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_the_document_lists_the_whole_api(document: dict[str, Any]) -> None:
    """The resources of SPEC §5 are all there (and nothing of the dashboard)."""
    paths = set(document["paths"])
    assert {
        "/api/v1/memory",
        "/api/v1/memory/blocks",
        "/api/v1/memory/blocks/{block_id}",
        "/api/v1/memory/blocks/{block_id}/online",
        "/api/v1/memory/blocks/{block_id}/offline",
        "/api/v1/memory/probe",
        "/api/v1/memory/chmem",
        "/api/v1/transitions",
        "/api/v1/transitions/{transition_id}",
        "/api/v1/transitions/{transition_id}/abort",
        "/api/v1/subscribers",
        "/api/v1/subscribers/{subscriber_id}",
        "/api/v1/chain",
        "/api/v1/debug/notifier-error-inject",
        "/api/v1/asyncapi.json",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= paths
    assert not {"/", "/static/{path}"} & paths
    assert len(operations(document)) >= 26


def test_every_operation_has_a_summary_and_a_description(document: dict[str, Any]) -> None:
    """Summary and description (the handler's docstring) on every operation."""
    for path, method, operation in operations(document):
        assert operation.get("summary", "").strip(), (method, path)
        assert len(operation.get("description", "").strip()) >= 20, (method, path)


def test_every_success_with_a_body_has_an_example(document: dict[str, Any]) -> None:
    """At least one 2xx response, and each 2xx response with content has an example."""
    for path, method, operation in operations(document):
        successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert successes, (method, path)
        with_body = {s: r for s, r in successes.items() if "content" in r}
        # DELETE /subscribers/{id} answers 204: nothing to exemplify.
        assert with_body or set(successes) == {"204"}, (method, path)
        for status, response in with_body.items():
            for media, content in response["content"].items():
                assert "example" in content or "examples" in content, (method, path, status, media)


def test_every_request_body_has_examples(document: dict[str, Any]) -> None:
    """A request body comes with named examples."""
    bodies = [(p, m, o["requestBody"]) for p, m, o in operations(document) if "requestBody" in o]
    assert len(bodies) >= 9
    for path, method, body in bodies:
        content = body["content"]["application/json"]
        assert content.get("examples"), (method, path)


def test_guarded_operations_document_401_and_403(document: dict[str, Any]) -> None:
    """Every /api/v1 route needs a token: 401 without one, 403 with a subscriber's."""
    for path, method, operation in operations(document):
        if path in PUBLIC:
            continue
        responses = operation["responses"]
        assert {"401", "403"} <= set(responses), (method, path)
        assert operation["security"] == [{"bearer": []}], (method, path)
        forbidden = responses["403"]["content"][PROBLEM_JSON]["examples"]
        assert "subscriber_token" in forbidden, (method, path)
        if method not in READ_METHODS:  # admin only: the viewer gets 403 too
            assert "viewer_token" in forbidden, (method, path)
            assert "admin token" in responses["403"]["description"], (method, path)


def test_public_operations_need_no_token(document: dict[str, Any]) -> None:
    """Health, readiness and the AsyncAPI document are open; /metrics may need a token."""
    by_path = {(p, m): o for p, m, o in operations(document)}
    for path in ("/healthz", "/readyz", "/api/v1/asyncapi.json"):
        assert "security" not in by_path[path, "get"], path
        assert "401" not in by_path[path, "get"]["responses"], path
    assert by_path["/metrics", "get"]["security"] == [{}, {"bearer": []}]


def test_422_is_documented_wherever_input_is_validated(document: dict[str, Any]) -> None:
    """Operations taking parameters or a body document 422; the others cannot answer it."""
    for path, method, operation in operations(document):
        takes_input = bool(operation.get("parameters")) or "requestBody" in operation
        assert ("422" in operation["responses"]) == takes_input, (method, path)


def test_body_limits_queue_and_storage_are_documented(document: dict[str, Any]) -> None:
    """413 wherever a body is read; 503 wherever something is stored or queued."""
    for path, method, operation in operations(document):
        if "requestBody" in operation:
            assert "413" in operation["responses"], (method, path)
        if path.startswith("/api/v1/") and method not in READ_METHODS:
            unavailable = operation["responses"]["503"]
            assert "storage" in unavailable["content"][PROBLEM_JSON]["examples"], (method, path)
            assert "Retry-After" in unavailable["headers"], (method, path)
    for verb in ("online", "offline"):
        path = f"/api/v1/memory/blocks/{{block_id}}/{verb}"
        responses = document["paths"][path]["post"]["responses"]
        assert {"200", "202", "404", "409", "413", "422", "503"} <= set(responses)
        assert "Location" in responses["202"]["headers"]
        conflicts = responses["409"]["content"][PROBLEM_JSON]["examples"]
        assert {"vetoed", "wrong_state"} <= set(conflicts)
        assert "queue_full" in responses["503"]["content"][PROBLEM_JSON]["examples"]


def test_every_error_is_a_problem_document(document: dict[str, Any]) -> None:
    """Each 4xx/5xx response is application/problem+json with the Problem schema, and examples."""
    seen = 0
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if status[0] not in "45" or (path, method, status) in NOT_PROBLEMS:
                continue
            seen += 1
            assert set(response["content"]) == {PROBLEM_JSON}, (method, path, status)
            content = response["content"][PROBLEM_JSON]
            assert content["schema"] == {"$ref": "#/components/schemas/Problem"}
            assert content["examples"], (method, path, status)
            assert all(e["value"]["status"] == int(status) for e in content["examples"].values())
    assert seen > 80


def test_the_problem_schema_has_every_member(document: dict[str, Any]) -> None:
    """type, title, status, detail always; errno, errno_name, transition, ... where they apply."""
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == PROBLEM_MEMBERS
    assert set(problem["required"]) == {"type", "title", "status", "detail"}


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    """No dangling ``$ref`` anywhere."""
    found = list(refs(document))
    assert len(found) > 100
    for where, ref in found:
        try:
            resolve(document, ref)
        except (KeyError, IndexError):
            pytest.fail(f"{where}: {ref} does not resolve")


def test_every_example_matches_its_schema(document: dict[str, Any]) -> None:
    """Response and request examples validate against their schema, with no undeclared member."""
    check = SchemaCheck(document, strict=True)
    checked = 0
    for path, method, operation in operations(document):
        places = [("responses", s, "content") for s in operation["responses"]]
        if "requestBody" in operation:
            places.append(("requestBody", "content"))
        for place in places:
            node = operation
            for key in place:
                node = node.get(key, {})
            for media, content in node.items():
                if "schema" not in content or not media.endswith("json"):
                    continue
                at = pointer("paths", path, method, *place, media, "schema")
                values = [content["example"]] if "example" in content else []
                values += [e["value"] for e in content.get("examples", {}).values()]
                for value in values:
                    check.check(value, at)
                    checked += 1
    assert checked > 120


def test_problem_bodies_the_service_builds_match_the_schema(document: dict[str, Any]) -> None:
    """What app.api.problems really sends fits the Problem schema."""
    check = SchemaCheck(document, strict=True)
    at = pointer("components", "schemas", "Problem")
    for status in (401, 403, 404, 409, 413, 422, 500, 503):
        check.check(problem_body(status, "detail"), at)
    check.check(problem_body(503, "the database is unavailable; retry later", "storage"), at)
    check.check(problem_body(409, "busy", errno=-16, transition=ex.OFFLINE_CANCELLED), at)
    errors = [{"loc": ["body", "name"], "msg": "too short", "type": "string_too_short"}]
    check.check(problem_body(422, "body.name: too short", "validation", errors=errors), at)
    for record in (ex.OFFLINE_CANCELLED, ex.ONLINE_REFUSED):
        response = transition_problem(record)
        assert response.media_type == PROBLEM_JSON
        check.check(httpx.Response(409, content=response.body).json(), at)


REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "OnlineRequest": schemas.OnlineRequest,
    "OfflineRequest": schemas.OfflineRequest,
    "BlockUpdate": schemas.BlockUpdate,
    "MemoryUpdate": schemas.MemoryUpdate,
    "ProbeRequest": schemas.ProbeRequest,
    "ChmemBody": schemas.ChmemBody,
    "SubscriberCreate": schemas.SubscriberCreate,
    "SubscriberUpdate": schemas.SubscriberUpdate,
    "ErrorInjectionPut": schemas.ErrorInjectionPut,
}


def test_request_examples_are_accepted_by_the_service(document: dict[str, Any]) -> None:
    """Each request example passes the request model's own validators (not only the schema)."""
    for path, method, operation in operations(document):
        if "requestBody" not in operation:
            continue
        content = operation["requestBody"]["content"]["application/json"]
        schema = content["schema"]
        ref = schema.get("$ref") or schema["anyOf"][0]["$ref"]
        model = REQUEST_MODELS[ref.rsplit("/", 1)[1]]
        for name, example in content["examples"].items():
            model.model_validate(example["value"])  # raises when the example is refused
            assert example["summary"], (method, path, name)


async def test_both_documents_are_served_without_a_token(app: FastAPI) -> None:
    """GET /api/v1/openapi.json and /api/v1/asyncapi.json need no token."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hotplugd.test") as client:
        openapi = await client.get("/api/v1/openapi.json")
        asyncapi = await client.get("/api/v1/asyncapi.json")
        guarded = await client.get("/api/v1/memory")
    assert openapi.status_code == 200
    assert openapi.json()["components"]["schemas"]["Problem"]
    assert asyncapi.status_code == 200
    assert asyncapi.json()["asyncapi"] == "3.0.0"
    assert asyncapi.json()["servers"]["hotplugd"] == {
        "host": "hotplugd.test",
        "protocol": "ws",
        "description": "This hotplugd.",
    }
    assert guarded.status_code == 401


def test_the_docs_page_has_an_authorize_button(document: dict[str, Any]) -> None:
    """The bearer scheme is declared (Swagger UI shows Authorize), and linked to AsyncAPI."""
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["externalDocs"]["url"] == "/api/v1/asyncapi.json"
    assert {tag["name"] for tag in document["tags"]} >= {"memory", "transitions", "subscribers"}


def test_documentation_models_cover_every_problem_member() -> None:
    """The Problem model and app.api.problems agree on the optional members."""
    assert set(schemas.Problem.model_fields) == PROBLEM_MEMBERS


def test_generating_twice_gives_the_same_document(app: FastAPI, document: dict[str, Any]) -> None:
    """The completed document is cached, not completed again."""
    assert app.openapi() is document
