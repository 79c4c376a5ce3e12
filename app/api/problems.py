"""Errors as RFC 9457 problem details, mapped once at the boundary.

Every error the API returns is ``application/problem+json`` with ``type``,
``title``, ``status``, ``detail`` and, where they apply, ``errno``,
``errno_name`` and ``transition`` (the transition record).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.responses import OrjsonResponse
from app.chain.values import errno_name
from app.engine.ports import StorageFailure
from app.engine.service import Conflict, EngineError, Invalid, NotFound, Unavailable

log = logging.getLogger("hotplugd.api")

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    500: "Internal error",
    503: "Service unavailable",
}


class Problem(Exception):
    """An error response the API raises on purpose."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.headers = headers
        self.extra = extra


def problem_body(status: int, detail: str, slug: str | None = None, **extra: Any) -> dict[str, Any]:
    """A problem details object."""
    title = _TITLES.get(status, "Error")
    body: dict[str, Any] = {
        "type": f"urn:hotplugd:problem:{slug or title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    errno = extra.pop("errno", None)
    if errno:
        body["errno"] = errno
        body["errno_name"] = errno_name(errno)
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_response(
    status: int,
    detail: str,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem details response."""
    body = problem_body(status, detail, slug, **extra)
    return OrjsonResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def transition_problem(record: dict[str, Any]) -> JSONResponse:
    """409 for a transition that was cancelled, failed, aborted or refused."""
    outcome = record["outcome"]
    detail = f"{record['operation']} of block {record['block']} {outcome}"
    if record.get("errno_name"):
        detail += f" ({record['errno_name']})"
    vetoed_by = record.get("vetoed_by")
    if vetoed_by:
        detail += f": vetoed by {vetoed_by['name']} ({vetoed_by['subscriber']})"
    return problem_response(
        409,
        detail,
        slug=f"transition-{outcome}",
        errno=record.get("errno"),
        outcome=outcome,
        vetoed_by=vetoed_by,
        transition=record,
    )


_ENGINE_STATUS: dict[type[EngineError], int] = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Unavailable: 503,
}


def install(app: FastAPI) -> None:
    """Map every exception to problem details."""
    app.add_exception_handler(Problem, _on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(EngineError, _on_engine_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(StorageFailure, _on_storage_failure)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)


async def _on_problem(_request: Request, exc: Problem) -> JSONResponse:
    return problem_response(exc.status, exc.detail, exc.slug, exc.headers, **exc.extra)


async def _on_engine_error(_request: Request, exc: EngineError) -> JSONResponse:
    status = _ENGINE_STATUS.get(type(exc), 409)
    headers = {"Retry-After": "1"} if status == 503 else None
    return problem_response(status, str(exc), None, headers, errno=exc.errno, transition=exc.record)


async def _on_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(str(p) for p in first["loc"])
    return problem_response(422, f"{where}: {first['msg']}", "validation", errors=errors)


async def _on_http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 400:  # FastAPI could not decode the body at all
        return problem_response(422, "the request body is not valid JSON", "validation")
    return problem_response(exc.status_code, str(exc.detail), None, headers)


async def _on_storage_failure(_request: Request, exc: StorageFailure) -> JSONResponse:
    log.error("storage failure: %s", exc)
    return problem_response(503, "the database is unavailable; retry later", "storage",
                            {"Retry-After": "5"})  # fmt: skip


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, "internal error; see the service log")
