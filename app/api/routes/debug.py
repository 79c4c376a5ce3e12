"""``/api/v1/debug/notifier-error-inject``: the kernel's error-injection module."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import Admin, EngineDep, Viewer
from app.api.schemas import ErrorInjectionPut
from app.chain.actions import Action
from app.engine.injector import ErrorInjection

router = APIRouter(prefix="/api/v1/debug", tags=["debug"])


@router.get("/notifier-error-inject", summary="Error injection settings")
async def read_injection(engine: EngineDep, _: Viewer) -> dict[str, Any]:
    """Enabled, priority, and the errno per action."""
    return engine.injection.to_json()


@router.put("/notifier-error-inject", summary="Enable, change or disable error injection")
async def put_injection(body: ErrorInjectionPut, engine: EngineDep, _: Admin) -> dict[str, Any]:
    """While enabled, the built-in subscriber answers notifier_from_errno(errno)."""
    injection = ErrorInjection(
        enabled=body.enabled,
        priority=body.priority,
        errors={
            Action.MEM_GOING_ONLINE: body.actions.MEM_GOING_ONLINE,
            Action.MEM_GOING_OFFLINE: body.actions.MEM_GOING_OFFLINE,
        },
    )
    return await engine.set_injection(injection)
