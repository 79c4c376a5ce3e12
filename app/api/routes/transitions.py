"""``/api/v1/transitions``: history and abort."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response

from app.api import examples as ex
from app.api.deps import Admin, EngineDep, Viewer
from app.api.openapi import ABORT_CONFLICT, AUTHENTICATED, header, ok, problems
from app.api.problems import Problem
from app.api.schemas import TransitionRecord
from app.engine.ports import TransitionQuery

router = APIRouter(prefix="/api/v1/transitions", tags=["transitions"], dependencies=AUTHENTICATED)

NEXT_PAGE = {"Link": header('When the page is full: <...?before=tr-N>; rel="next".')}


@router.get(
    "",
    summary="Transition history, newest first",
    response_model=None,
    responses={
        **ok(
            list[TransitionRecord],
            [ex.OFFLINE_CANCELLED, ex.ONLINE_COMPLETED],
            "A page of records, newest first.",
            headers=NEXT_PAGE,
        ),
        **problems(422, 503),
    },
)
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
    """A page of history; the ``Link`` header (rel=next) gives the next page.

    ``before`` (a transition id) pages back; ``operation``, ``block``, ``node``
    and ``outcome`` filter. A transition still running shows its live record.
    """
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


@router.get(
    "/{transition_id}",
    summary="One transition record",
    response_model=None,
    responses={
        **ok(TransitionRecord, ex.OFFLINE_CANCELLED, "The record."),
        **problems(404, 422, 503),
    },
)
async def read_transition(transition_id: str, engine: EngineDep, _: Viewer) -> dict[str, Any]:
    """The record with every walk and call.

    Each walk lists its calls in order with delivery, result, value, errno,
    message and latency, and which call stopped it; ``vetoed_by`` names the
    subscriber whose reply vetoed.
    """
    return await engine.get_transition(transition_id)


@router.post(
    "/{transition_id}/abort",
    summary="Abort an offline in flight (-EINTR)",
    response_model=None,
    responses={
        **ok(TransitionRecord, ex.OFFLINE_ABORTING, "The live record, abort_requested."),
        **problems(404, 422, 503, admin=True),
        409: ABORT_CONFLICT,
    },
)
async def abort_transition(transition_id: str, engine: EngineDep, _: Admin) -> dict[str, Any]:
    """Like a signal to the writer of ``state``: takes effect after the GOING walk.

    A walk is never interrupted: the abort lands when the ``MEM_GOING_OFFLINE``
    walk ends, or at once during migration; ``MEM_CANCEL_OFFLINE`` is then walked
    and the outcome is ``failed`` with -EINTR. Only an offline before its commit
    can be aborted (409 otherwise).
    """
    return await engine.abort(transition_id)
