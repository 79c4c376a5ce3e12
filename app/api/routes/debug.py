"""``/api/v1/debug/notifier-error-inject``: the kernel's error-injection module."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from app.api import examples as ex
from app.api.deps import Admin, EngineDep, Viewer
from app.api.openapi import AUTHENTICATED, ok, problems
from app.api.schemas import ErrorInjectionPublic, ErrorInjectionPut
from app.chain.actions import Action
from app.engine.injector import ErrorInjection

router = APIRouter(prefix="/api/v1/debug", tags=["debug"], dependencies=AUTHENTICATED)


@router.get(
    "/notifier-error-inject",
    summary="Error injection settings",
    response_model=None,
    responses={
        **ok(ErrorInjectionPublic, ex.ERROR_INJECTION, "The settings."),
        **problems(),
    },
)
async def read_injection(engine: EngineDep, _: Viewer) -> dict[str, Any]:
    """Enabled, priority, and the errno per action.

    The kernel's ``memory-notifier-error-inject`` module, built in.
    """
    return engine.injection.to_json()


@router.put(
    "/notifier-error-inject",
    summary="Enable, change or disable error injection",
    response_model=None,
    responses={
        **ok(ErrorInjectionPublic, ex.ERROR_INJECTION, "The new settings."),
        **problems(413, 422, 503, admin=True),
    },
)
async def put_injection(
    body: Annotated[ErrorInjectionPut, Body(openapi_examples=ex.ERROR_INJECTION_BODIES)],
    engine: EngineDep,
    _: Admin,
) -> dict[str, Any]:
    """While enabled, the built-in subscriber answers notifier_from_errno(errno).

    It sits in the chain at ``priority`` (after existing subscribers of equal
    priority) and answers ``notifier_from_errno(errno)`` for ``MEM_GOING_ONLINE``
    and ``MEM_GOING_OFFLINE`` (errno in -4095..0; 0 means ``NOTIFY_OK``) and
    ``NOTIFY_OK`` for every other event. Disabling removes it.
    """
    injection = ErrorInjection(
        enabled=body.enabled,
        priority=body.priority,
        errors={
            Action.MEM_GOING_ONLINE: body.actions.MEM_GOING_ONLINE,
            Action.MEM_GOING_OFFLINE: body.actions.MEM_GOING_OFFLINE,
        },
    )
    return await engine.set_injection(injection)
