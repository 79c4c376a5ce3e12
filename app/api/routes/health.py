"""``/healthz``, ``/readyz``, ``/metrics`` and ``/api/v1/whoami``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import Viewer, bearer_token, context, role_of

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: storage open and recovery done")
async def readyz(request: Request) -> Response:
    """503 until crash recovery has finished."""
    engine = context(request).engine
    if engine.ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "recovering"}, status_code=503)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    ctx = context(request)
    if ctx.metrics_require_token:
        role_of(ctx, bearer_token(request))
    return Response(generate_latest(ctx.engine.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/whoami", summary="The role of the presented token")
async def whoami(role: Viewer) -> dict[str, Any]:
    """``admin`` or ``viewer``: lets a dashboard decide which controls to show."""
    return {"role": role.value}
