"""Assertions on the REST API's answers (SPEC §5): problem details and records."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; its body."""
    assert response.status_code == status, (
        response.request.method,
        str(response.request.url),
        response.status_code,
        response.text[:2000],
    )
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith(PROBLEM_JSON), (str(response.request.url), content_type)
    body: dict[str, Any] = response.json()
    for key in ("type", "title", "detail"):
        assert isinstance(body.get(key), str), (key, body)
        assert body[key], (key, body)
    assert body.get("status") == status, body
    return body
