"""``/healthz``, ``/readyz``, ``/metrics`` and ``/api/v1/whoami``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import Viewer, bearer_token, context, role_of
from app.api.openapi import (
    AUTHENTICATED,
    FORBIDDEN_READ,
    OPTIONAL_TOKEN,
    UNAUTHORIZED,
    ok,
    problems,
)
from app.api.schemas import Health, WhoAmI

router = APIRouter(tags=["health"])

METRICS_EXAMPLE = """\
# HELP hotplug_transitions_total Finished transitions by operation and outcome.
# TYPE hotplug_transitions_total counter
hotplug_transitions_total{operation="offline",outcome="cancelled"} 1.0
# HELP hotplug_queue_depth Requests waiting for their turn.
# TYPE hotplug_queue_depth gauge
hotplug_queue_depth 0.0
"""


@router.get(
    "/healthz",
    summary="Liveness",
    response_model=None,
    responses=ok(Health, {"status": "ok"}, "The process answers."),
)
async def healthz() -> dict[str, str]:
    """The process answers.

    No token needed.
    """
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: storage open and recovery done",
    response_model=None,
    responses={
        **ok(Health, {"status": "ready"}, "Storage is open and crash recovery is done."),
        503: {
            "description": "Still recovering unfinished transitions (not a problem document).",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/Health"},
                    "example": {"status": "recovering"},
                }
            },
        },
    },
)
async def readyz(request: Request) -> Response:
    """503 until crash recovery has finished.

    No token needed. At start-up the service first finishes the transitions a
    crash interrupted (after a grace period for their subscribers to reconnect).
    """
    engine = context(request).engine
    if engine.ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "recovering"}, status_code=503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "The Prometheus text exposition format.",
            "content": {"text/plain": {"example": METRICS_EXAMPLE}},
        },
        401: UNAUTHORIZED,
        403: FORBIDDEN_READ,
    },
    openapi_extra=OPTIONAL_TOKEN,
)
async def metrics(request: Request) -> Response:
    """Prometheus text format.

    No token needed, unless ``HOTPLUG_METRICS_REQUIRE_TOKEN`` is set: then the
    viewer or admin token (401/403 otherwise).
    """
    ctx = context(request)
    if ctx.metrics_require_token:
        role_of(ctx, bearer_token(request))
    return Response(generate_latest(ctx.engine.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/api/v1/whoami",
    summary="The role of the presented token",
    response_model=None,
    dependencies=AUTHENTICATED,
    responses={**ok(WhoAmI, {"role": "viewer"}, "The token's role."), **problems()},
)
async def whoami(role: Viewer) -> dict[str, Any]:
    """``admin`` or ``viewer``: lets a dashboard decide which controls to show."""
    return {"role": role.value}
