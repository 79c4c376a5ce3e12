"""The OpenAPI document's shared parts: success and problem responses, the bearer scheme.

Documentation only. Who may do what is enforced by ``app.api.guard`` and
``app.api.deps``; ``bearer`` never refuses a request (``auto_error=False``),
it declares the scheme so that ``/api/docs`` offers its Authorize button.

Routes declare their answers with ``ok(...)`` and ``problems(...)``::

    responses={**ok(BlockPublic, ex.BLOCK, "The block."), **problems(404, 422)}

Every error is ``application/problem+json`` with the ``Problem`` schema, which
``install`` adds to the document's components.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import fastapi.routing
from fastapi import FastAPI, Security
from fastapi.params import Depends
from fastapi.security import HTTPBearer
from starlette.routing import BaseRoute

from app.api import examples as ex
from app.api.problems import PROBLEM_JSON
from app.api.schemas import Problem, component_schemas

JSON = dict[str, Any]
Responses = dict[int | str, JSON]

COMPONENTS = "#/components/schemas/"
PROBLEM_REF: JSON = {"$ref": COMPONENTS + "Problem"}

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description=(
        "The admin token (everything) or the viewer token (reads only). "
        "A subscriber's token opens only its websocket."
    ),
)
AUTHENTICATED: list[Depends] = [Security(bearer)]
"""Router dependencies that document the bearer token on every route (they never refuse)."""

OPTIONAL_TOKEN: JSON = {"security": [{}, {"bearer": []}]}
"""``openapi_extra`` for a route where a token may be required by a setting."""


def header(description: str) -> JSON:
    """An OpenAPI Header Object with a string value."""
    return {"description": description, "schema": {"type": "string"}}


LOCATION = {"Location": header("The transition: /api/v1/transitions/{id}.")}


def ok(
    model: Any,
    example: Any,
    description: str,
    *,
    status: int = 200,
    headers: JSON | None = None,
) -> Responses:
    """A success response with its model (documentation only) and an example."""
    response: JSON = {
        "model": model,
        "description": description,
        "content": {"application/json": {"example": example}},
    }
    if headers:
        response["headers"] = headers
    return {status: response}


def problem(description: str, headers: JSON | None = None, **examples: JSON) -> JSON:
    """An error response: problem details, with named examples (bodies)."""
    named = {name: {"summary": body["detail"], "value": body} for name, body in examples.items()}
    response: JSON = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF, "examples": named}},
    }
    if headers:
        response["headers"] = headers
    return response


UNAUTHORIZED = problem(
    "No token, or a token the service does not know.",
    {"WWW-Authenticate": header('Bearer realm="hotplugd"')},
    unauthorized=ex.UNAUTHORIZED,
)
FORBIDDEN_READ = problem(
    "A subscriber's token: it opens only that subscriber's websocket.",
    subscriber_token=ex.FORBIDDEN_SUBSCRIBER,
)
FORBIDDEN_WRITE = problem(
    "Not the admin token: the viewer token may only read, a subscriber's token only "
    "opens its websocket.",
    viewer_token=ex.FORBIDDEN_VIEWER,
    subscriber_token=ex.FORBIDDEN_SUBSCRIBER,
)
NOT_FOUND = problem(
    "No such block, transition or subscriber.",
    block=ex.BLOCK_NOT_FOUND,
    transition=ex.TRANSITION_NOT_FOUND,
    subscriber=ex.SUBSCRIBER_NOT_FOUND,
)
STATE_CONFLICT = problem(
    "Refused by the current state, with the kernel's errno (e.g. -EBUSY, -EEXIST).",
    not_removable=ex.NOT_REMOVABLE,
    exists=ex.BLOCK_EXISTS,
)
TRANSITION_CONFLICT = problem(
    "The transition did not complete: cancelled by a veto, failed (wrong state: "
    "-EINVAL; isolation or unmovable pages: -EBUSY; timeouts) or aborted (-EINTR). "
    "``outcome``, ``errno`` and ``vetoed_by`` say how; ``transition`` is the record.",
    vetoed=ex.VETOED,
    wrong_state=ex.WRONG_STATE,
)
ABORT_CONFLICT = problem(
    "Only an offline before its commit can be aborted; ``transition`` is the record.",
    finished=ex.ALREADY_FINISHED,
)
TOO_LARGE = problem(
    "The request body is larger than HOTPLUG_MAX_BODY_BYTES.",
    too_large=ex.TOO_LARGE,
)
INVALID = problem(
    "The request is invalid: ``errors`` lists every field that failed validation; "
    "a value the service refuses carries ``errno`` (-EINVAL).",
    validation=ex.VALIDATION,
    invalid=ex.INVALID,
)
RETRY_AFTER = {"Retry-After": header("Seconds to wait before retrying.")}
STORAGE_UNAVAILABLE = problem(
    "The database is unavailable; nothing was changed.",
    RETRY_AFTER,
    storage=ex.STORAGE_DOWN,
)
UNAVAILABLE = problem(
    "The transition queue is full (HOTPLUG_MAX_QUEUE), the service is shutting down, "
    "or the database is unavailable.",
    RETRY_AFTER,
    queue_full=ex.QUEUE_FULL,
    shutting_down=ex.SHUTTING_DOWN,
    storage=ex.STORAGE_DOWN,
)

_BY_STATUS = {
    404: NOT_FOUND,
    409: STATE_CONFLICT,
    413: TOO_LARGE,
    422: INVALID,
    503: STORAGE_UNAVAILABLE,
}


def problems(*statuses: int, admin: bool = False) -> Responses:
    """401 and 403 (every ``/api/v1`` route needs a token) plus ``statuses``.

    ``admin``: the route needs the admin token, so 403 also covers the viewer.
    503 is the database's failure; a route that queues transitions sets
    ``503: UNAVAILABLE`` after this, as one with a more specific answer for any
    status does, e.g. ``{**problems(404, admin=True), 409: TRANSITION_CONFLICT}``.
    """
    answers: Responses = {401: UNAUTHORIZED, 403: FORBIDDEN_WRITE if admin else FORBIDDEN_READ}
    answers.update({status: _BY_STATUS[status] for status in statuses})
    return answers


TAGS = [
    {"name": "memory", "description": "The machine, its blocks, and online/offline/add/remove."},
    {"name": "transitions", "description": "The history of transitions, and abort."},
    {"name": "subscribers", "description": "Registered subscribers and the chain's call order."},
    {"name": "debug", "description": "The kernel's memory-notifier-error-inject module."},
    {"name": "health", "description": "Liveness, readiness, metrics, whoami."},
    {"name": "docs", "description": "Machine-readable documentation."},
]
ASYNCAPI = {
    "description": "The websocket channels (subscriber channel, event stream): AsyncAPI 3",
    "url": "/api/v1/asyncapi.json",
}


def install(app: FastAPI) -> None:
    """Complete the generated document: the ``Problem`` schema, tags, the AsyncAPI link.

    Also puts back the ``null`` members of the examples, which FastAPI's
    generator drops everywhere in the document.
    """
    generate: Callable[[], JSON] = app.openapi

    def openapi() -> JSON:
        fresh = app.openapi_schema is None
        document = generate()
        if fresh:  # FastAPI caches the document: complete it once
            complete(document, app.routes)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: JSON, routes: Sequence[BaseRoute]) -> None:
    """Add what the generator cannot know to a document generated from ``routes``."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in component_schemas([Problem], COMPONENTS).items():
        schemas.setdefault(name, schema)
    document.setdefault("tags", TAGS)
    document.setdefault("externalDocs", ASYNCAPI)
    for route in _documented_routes(routes):
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            _restore_examples(operation, route)
            operation["responses"] = dict(sorted(operation["responses"].items()))


def _documented_routes(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """The API routes in the document (each an ``APIRoute`` or FastAPI's view of one)."""
    # Newer FastAPI keeps included routers whole and walks them like this.
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    for route in flatten(routes) if flatten is not None else routes:
        if getattr(route, "include_in_schema", False) and hasattr(route, "responses"):
            yield route


def _restore_examples(operation: JSON, route: Any) -> None:
    for status, response in route.responses.items():
        for media, content in response.get("content", {}).items():
            target = operation["responses"][str(status)]["content"][media]
            for key in ("example", "examples"):
                if key in content:
                    target[key] = copy.deepcopy(content[key])
    body = route.body_field
    examples = getattr(body.field_info, "openapi_examples", None) if body else None
    if examples:
        for content in operation["requestBody"]["content"].values():
            content["examples"] = copy.deepcopy(examples)
