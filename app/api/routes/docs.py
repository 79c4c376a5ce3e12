"""``/api/v1/asyncapi.json``: the websocket channels' AsyncAPI document (public)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.asyncapi import ASYNCAPI_VERSION, asyncapi_document

router = APIRouter(tags=["docs"])

EXAMPLE = {
    "asyncapi": ASYNCAPI_VERSION,
    "info": {"title": "hotplugd websocket channels", "version": "0.1.0"},
    "servers": {"hotplugd": {"host": "127.0.0.1:8000", "protocol": "ws"}},
    "channels": {
        "subscriber": {"address": "/api/v1/subscribers/{subscriberId}/ws"},
        "events": {"address": "/api/v1/events"},
    },
    "operations": {"sendNotify": {"action": "send"}},
    "components": {"messages": {"notify": {"name": "notify"}}},
}


@router.get(
    "/api/v1/asyncapi.json",
    summary="AsyncAPI 3 document of the websocket channels",
    response_model=None,
    responses={
        200: {
            "description": "An AsyncAPI 3.0 document (abridged in this example).",
            "content": {"application/json": {"example": EXAMPLE}},
        }
    },
)
async def read_asyncapi(request: Request) -> dict[str, Any]:
    """The subscriber channel and the event stream, with a JSON Schema per message.

    No token needed, like ``/api/v1/openapi.json``. The server entry names the
    host and scheme this request came in on.
    """
    base = request.base_url
    return asyncapi_document(request.app.version, base.netloc, secure=base.scheme == "https")
