"""Authentication before anything else: the token is checked before a body is read.

Reads (GET, HEAD) under ``/api/v1`` need the viewer or admin token; every
other method needs the admin token (SPEC §5: the viewer "may only read").
The routes declare the same rule with dependencies, which also documents it
in OpenAPI; this guard makes sure an unauthenticated request never gets as
far as body parsing (no 422 leaking what a valid body looks like).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import bearer_token, role_of
from app.api.problems import Problem, problem_response
from app.engine.auth import Role

PUBLIC_PATHS = frozenset({"/api/v1/openapi.json", "/api/v1/asyncapi.json"})
READ_METHODS = frozenset({"GET", "HEAD"})


class AuthGuard:
    """ASGI middleware enforcing admin/viewer tokens on ``/api/v1`` HTTP requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _guarded(scope["path"]):
            try:
                _check(Request(scope), scope["method"])
            except Problem as exc:
                response = problem_response(exc.status, exc.detail, exc.slug, exc.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _guarded(path: str) -> bool:
    return path.startswith("/api/v1/") and path not in PUBLIC_PATHS


def _check(request: Request, method: str) -> None:
    role = role_of(request.app.state.api, bearer_token(request))
    if method not in READ_METHODS and role is not Role.ADMIN:
        raise Problem(403, "this action needs the admin token")
