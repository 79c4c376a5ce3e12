"""``/api/v1/subscribers`` and ``/api/v1/chain``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request, Response

from app.api.deps import Admin, EngineDep, Viewer
from app.api.schemas import SubscriberCreate, SubscriberCreated, SubscriberUpdate
from app.chain.actions import Action
from app.chain.chain import FailurePolicy, Subscription

router = APIRouter(prefix="/api/v1", tags=["subscribers"])


@router.post(
    "/subscribers",
    status_code=201,
    response_model=SubscriberCreated,
    summary="Register a subscriber",
)
async def register_subscriber(
    body: SubscriberCreate, request: Request, response: Response, engine: EngineDep, _: Admin
) -> dict[str, Any]:
    """Returns its ``id``, its ``token`` (shown once) and its websocket URL."""
    subscription = Subscription(
        id="",
        name=body.name,
        priority=body.priority,
        actions=_actions(body.actions),
        nodes=frozenset(body.nodes) if body.nodes is not None else None,
        timeout_ms=body.timeout_ms,
        failure_policy=FailurePolicy(body.failure_policy),
    )
    public, token = await engine.register(subscription)
    response.headers["Location"] = f"/api/v1/subscribers/{public['id']}"
    return {**public, "token": token, "ws_url": ws_url(request, public["id"])}


@router.get("/subscribers", summary="Registered subscribers, in registration order")
async def list_subscribers(engine: EngineDep, _: Viewer) -> list[dict[str, Any]]:
    """With ``connected``, last reply and counters."""
    return engine.subscribers()


@router.get("/subscribers/{subscriber_id}", summary="One subscriber")
async def read_subscriber(subscriber_id: str, engine: EngineDep, _: Viewer) -> dict[str, Any]:
    """With ``connected``, last reply and counters."""
    return engine.subscriber(subscriber_id)


@router.patch("/subscribers/{subscriber_id}", summary="Change priority, filters or policy")
async def update_subscriber(
    subscriber_id: str, body: SubscriberUpdate, engine: EngineDep, _: Admin
) -> dict[str, Any]:
    """Takes effect from the next transition; a new priority re-registers at that priority."""
    changes: dict[str, Any] = {}
    given = body.model_fields_set
    for name in ("name", "priority", "timeout_ms"):
        if name in given and getattr(body, name) is not None:
            changes[name] = getattr(body, name)
    if "failure_policy" in given and body.failure_policy is not None:
        changes["failure_policy"] = FailurePolicy(body.failure_policy)
    if "actions" in given:
        changes["actions"] = _actions(body.actions)
    if "nodes" in given:
        changes["nodes"] = frozenset(body.nodes) if body.nodes is not None else None
    return await engine.update_subscriber(subscriber_id, **changes)


@router.delete("/subscribers/{subscriber_id}", status_code=204, summary="Unregister")
async def delete_subscriber(subscriber_id: str, engine: EngineDep, _: Admin) -> Response:
    """Removes it from the chain; its connection closes with 4004."""
    await engine.unregister(subscriber_id)
    return Response(status_code=204)


@router.get("/chain", summary="The call order the next transition will use")
async def read_chain(engine: EngineDep, _: Viewer) -> list[dict[str, Any]]:
    """Higher priority first, registration order among equals."""
    return engine.chain()


def ws_url(request: Request, subscriber_id: str) -> str:
    """The absolute ``ws://`` URL of a subscriber's channel."""
    base = request.base_url
    scheme = "wss" if base.scheme == "https" else "ws"
    return f"{scheme}://{base.netloc}/api/v1/subscribers/{subscriber_id}/ws"


def _actions(names: Sequence[str] | None) -> frozenset[Action] | None:
    return frozenset(Action[name] for name in names) if names is not None else None
