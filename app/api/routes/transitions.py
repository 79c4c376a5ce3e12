"""``/api/v1/transitions``: history and abort."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import Admin, EngineDep, Viewer
from app.api.problems import Problem
from app.engine.ports import TransitionQuery

router = APIRouter(prefix="/api/v1/transitions", tags=["transitions"])


@router.get("", summary="Transition history, newest first")
async def list_transitions(
    request: Request,
    response: Response,
    engine: EngineDep,
    _: Viewer,
    limit: int = Query(50, ge=1, le=1000),
    before: str | None = Query(None, max_length=64, description="A transition id: older ones."),
    operation: Literal["online", "offline"] | None = None,
    block: int | None = Query(None, ge=0, le=2**40),
    node: int | None = Query(None, ge=0, lt=1024),
    outcome: Literal["pending", "running", "completed", "cancelled", "failed", "aborted"]
    | None = None,
) -> list[dict[str, Any]]:
    """A page of history; the ``Link`` header (rel=next) gives the next page."""
    before_seq = None
    if before is not None:
        before_seq = engine.transition_seq(before)
        if before_seq is None:
            raise Problem(422, f"before: {before!r} is not a transition id")
    query = TransitionQuery(limit, before_seq, operation, block, node, outcome)
    records = await engine.storage.list_transitions(query)
    records = [engine.live_record(r) for r in records]
    if len(records) == limit:
        next_url = request.url.include_query_params(before=records[-1]["id"])
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return records


@router.get("/{transition_id}", summary="One transition record")
async def read_transition(transition_id: str, engine: EngineDep, _: Viewer) -> dict[str, Any]:
    """The record with every walk and call."""
    return await engine.get_transition(transition_id)


@router.post("/{transition_id}/abort", summary="Abort an offline in flight (-EINTR)")
async def abort_transition(transition_id: str, engine: EngineDep, _: Admin) -> dict[str, Any]:
    """Like a signal to the writer of ``state``: takes effect after the GOING walk."""
    return await engine.abort(transition_id)
