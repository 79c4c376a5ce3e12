"""``/api/v1/subscribers`` and ``/api/v1/chain``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from app.api import examples as ex
from app.api.deps import Admin, EngineDep, Viewer
from app.api.openapi import AUTHENTICATED, header, ok, problems
from app.api.schemas import (
    ChainEntry,
    SubscriberCreate,
    SubscriberCreated,
    SubscriberPublic,
    SubscriberUpdate,
)
from app.chain.actions import Action
from app.chain.chain import FailurePolicy, Subscription

router = APIRouter(prefix="/api/v1", tags=["subscribers"], dependencies=AUTHENTICATED)


@router.post(
    "/subscribers",
    status_code=201,
    response_model=SubscriberCreated,
    summary="Register a subscriber",
    responses={
        **ok(
            SubscriberCreated,
            ex.SUBSCRIBER_CREATED,
            "Registered; the token is shown only here.",
            status=201,
            headers={"Location": header("The subscriber: /api/v1/subscribers/{id}.")},
        ),
        **problems(413, 422, 503, admin=True),
    },
)
async def register_subscriber(
    body: Annotated[SubscriberCreate, Body(openapi_examples=ex.SUBSCRIBER_CREATE_BODIES)],
    request: Request,
    response: Response,
    engine: EngineDep,
    _: Admin,
) -> dict[str, Any]:
    """Returns its ``id``, its ``token`` (shown once) and its websocket URL.

    The subscriber joins the chain after the existing subscribers of its
    priority (higher priority is called first), from the next transition on. It
    then connects to ``ws_url`` with its token and answers each ``notify`` frame
    (see ``/api/v1/asyncapi.json``). ``actions`` and ``nodes`` filter what it is
    sent; ``timeout_ms`` and ``failure_policy`` say how long it may take and what
    silence or absence counts as on a ``MEM_GOING_*`` event.
    """
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


@router.get(
    "/subscribers",
    summary="Registered subscribers, in registration order",
    response_model=None,
    responses={
        **ok(list[SubscriberPublic], [ex.SUBSCRIBER], "The subscribers."),
        **problems(),
    },
)
async def list_subscribers(engine: EngineDep, _: Viewer) -> list[dict[str, Any]]:
    """With ``connected``, last reply and counters.

    The built-in ``notifier-error-inject`` is not listed (see ``/api/v1/chain``).
    """
    return engine.subscribers()


@router.get(
    "/subscribers/{subscriber_id}",
    summary="One subscriber",
    response_model=None,
    responses={**ok(SubscriberPublic, ex.SUBSCRIBER, "The subscriber."), **problems(404, 422)},
)
async def read_subscriber(subscriber_id: str, engine: EngineDep, _: Viewer) -> dict[str, Any]:
    """With ``connected``, last reply and counters.

    ``counters`` counts the calls made to it and how many vetoed, timed out or
    found it disconnected.
    """
    return engine.subscriber(subscriber_id)


@router.patch(
    "/subscribers/{subscriber_id}",
    summary="Change priority, filters or policy",
    response_model=None,
    responses={
        **ok(SubscriberPublic, {**ex.SUBSCRIBER, "priority": 20, "seq": 3}, "The subscriber."),
        **problems(404, 413, 422, 503, admin=True),
    },
)
async def update_subscriber(
    subscriber_id: str,
    body: Annotated[SubscriberUpdate, Body(openapi_examples=ex.SUBSCRIBER_UPDATE_BODIES)],
    engine: EngineDep,
    _: Admin,
) -> dict[str, Any]:
    """Takes effect from the next transition; a new priority re-registers at that priority.

    Absent fields stay as they are; ``null`` for ``actions`` or ``nodes`` removes
    that filter. A transition already running keeps its snapshot of the chain.
    """
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


@router.delete(
    "/subscribers/{subscriber_id}",
    status_code=204,
    summary="Unregister",
    response_model=None,
    responses={
        204: {"description": "Unregistered; its websocket was closed with 4004."},
        **problems(404, 422, 503, admin=True),
    },
)
async def delete_subscriber(subscriber_id: str, engine: EngineDep, _: Admin) -> Response:
    """Removes it from the chain; its connection closes with 4004.

    A transition running now skips it in its later walks (recorded as
    ``unregistered``).
    """
    await engine.unregister(subscriber_id)
    return Response(status_code=204)


@router.get(
    "/chain",
    summary="The call order the next transition will use",
    response_model=None,
    responses={**ok(list[ChainEntry], ex.CHAIN, "The chain, first called first."), **problems()},
)
async def read_chain(engine: EngineDep, _: Viewer) -> list[dict[str, Any]]:
    """Higher priority first, registration order among equals.

    Includes ``notifier-error-inject`` while it is enabled (``builtin``).
    """
    return engine.chain()


def ws_url(request: Request, subscriber_id: str) -> str:
    """The absolute ``ws://`` URL of a subscriber's channel."""
    base = request.base_url
    scheme = "wss" if base.scheme == "https" else "ws"
    return f"{scheme}://{base.netloc}/api/v1/subscribers/{subscriber_id}/ws"


def _actions(names: Sequence[str] | None) -> frozenset[Action] | None:
    return frozenset(Action[name] for name in names) if names is not None else None
