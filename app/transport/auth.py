"""Websocket handshake credentials and refusals.

A refused handshake never reaches ``accept``: no websocket frame, hence no
event, is ever sent to a peer without the right token.
"""

from __future__ import annotations

from http import HTTPStatus

import orjson
from starlette.responses import Response
from starlette.websockets import WebSocket

__all__ = ["bearer_token", "refuse"]

DENIAL_EXTENSION = "websocket.http.response"


def bearer_token(websocket: WebSocket) -> str | None:
    """The token from ``Authorization: Bearer <t>``, else from ``?access_token=``."""
    scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return websocket.query_params.get("access_token") or None


async def refuse(websocket: WebSocket, status: int, detail: str) -> None:
    """Refuse the handshake with an HTTP ``status`` (401, 403, 400, 503).

    Servers without the websocket denial-response extension can only answer
    a close-before-accept, which they turn into HTTP 403.
    """
    if DENIAL_EXTENSION in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(_problem(status, detail))
    else:
        await websocket.close(code=1008)


def _problem(status: int, detail: str) -> Response:
    """An RFC 9457 problem document, like the HTTP API's errors."""
    title = HTTPStatus(status).phrase
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    headers = {"WWW-Authenticate": "Bearer"} if status == HTTPStatus.UNAUTHORIZED else None
    return Response(
        orjson.dumps(body),
        status_code=status,
        headers=headers,
        media_type="application/problem+json",
    )
