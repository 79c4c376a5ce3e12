"""Dependencies of the routes: the engine, and who is asking (SPEC §5 auth)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.api.problems import Problem
from app.engine.auth import Role, Tokens
from app.engine.service import Engine


@dataclass(slots=True)
class ApiContext:
    """What the routes need, put on ``app.state.api`` by ``create_app``."""

    engine: Engine
    tokens: Tokens
    metrics_require_token: bool = False


def context(request: Request) -> ApiContext:
    """The service's API context."""
    ctx: ApiContext = request.app.state.api
    return ctx


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def role_of(ctx: ApiContext, token: str | None) -> Role | None:
    """Admin or viewer for a token; raises 403 for a subscriber's token, 401 otherwise."""
    role = ctx.tokens.role_of(token)
    if role is not None:
        return role
    if token and ctx.engine.registry.owner_of(token) is not None:
        raise Problem(403, "a subscriber token may only open its subscriber websocket")
    raise Problem(
        401,
        "a valid bearer token is required",
        headers={"WWW-Authenticate": 'Bearer realm="hotplugd"'},
    )


# Dependencies are ``async def``: FastAPI runs a plain ``def`` in a thread pool.
async def require_viewer(request: Request) -> Role:
    """Any reader: the viewer or the admin token."""
    role = role_of(context(request), bearer_token(request))
    assert role is not None
    return role


async def require_admin(request: Request) -> Role:
    """Only the admin token."""
    role = await require_viewer(request)
    if role is not Role.ADMIN:
        raise Problem(403, "this action needs the admin token")
    return role


async def get_engine(request: Request) -> Engine:
    """The running engine."""
    return context(request).engine


EngineDep = Annotated[Engine, Depends(get_engine)]
Viewer = Annotated[Role, Depends(require_viewer)]
Admin = Annotated[Role, Depends(require_admin)]
