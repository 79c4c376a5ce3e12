"""``/api/v1/memory``: the machine, its blocks, and the requests that change them."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response

from app.api import examples as ex
from app.api.deps import Admin, EngineDep, Viewer
from app.api.openapi import (
    AUTHENTICATED,
    LOCATION,
    TRANSITION_CONFLICT,
    UNAVAILABLE,
    Responses,
    ok,
    problems,
)
from app.api.problems import Problem, transition_problem
from app.api.responses import OrjsonResponse
from app.api.schemas import (
    BlockPublic,
    BlockUpdate,
    ChmemBody,
    ChmemResult,
    MemoryPublic,
    MemoryUpdate,
    OfflineRequest,
    OnlineRequest,
    ProbeRequest,
    ProbeResult,
    TransitionRecord,
)
from app.engine.chmem import ChmemRequest, run_chmem
from app.engine.runs import Run
from app.engine.service import Engine
from app.memory.model import BlockState, NodeState, OnlineType
from app.memory.transition import Operation

router = APIRouter(prefix="/api/v1/memory", tags=["memory"], dependencies=AUTHENTICATED)

BlockId = int


def trigger_answers(completed: ex.JSON, pending: ex.JSON) -> Responses:
    """What ``online`` and ``offline`` answer."""
    return {
        **ok(
            TransitionRecord,
            completed,
            "The transition completed: its record, with every walk and call.",
            headers=LOCATION,
        ),
        **ok(
            TransitionRecord,
            pending,
            "With ``wait=false``: the transition is queued; ``Location`` is its record.",
            status=202,
            headers=LOCATION,
        ),
        **problems(404, 413, 422, admin=True),
        409: TRANSITION_CONFLICT,
        503: UNAVAILABLE,
    }


WAIT = Query(description="false: answer 202 at once instead of waiting for the outcome.")


@router.get(
    "",
    summary="The machine: geometry, nodes and their states, totals",
    response_model=None,
    responses={**ok(MemoryPublic, ex.MEMORY, "The machine."), **problems()},
)
async def read_memory(engine: EngineDep, _: Viewer) -> dict[str, Any]:
    """Block size, page size, ``auto_online_blocks``, nodes and summary totals.

    Each NUMA node lists its node states (``N_MEMORY``, ``N_NORMAL_MEMORY``,
    ``N_HIGH_MEMORY``) and its present (online) pages per zone.
    """
    return memory_json(engine)


@router.patch(
    "",
    summary="Change auto_online_blocks",
    response_model=None,
    responses={
        **ok(MemoryPublic, ex.MEMORY, "The machine."),
        **problems(413, 422, 503, admin=True),
    },
)
async def update_memory(
    body: Annotated[MemoryUpdate, Body(openapi_examples=ex.MEMORY_UPDATE_BODIES)],
    engine: EngineDep,
    _: Admin,
) -> dict[str, Any]:
    """Set ``auto_online_blocks``: what hot-added blocks do.

    ``offline`` leaves them offline; ``online``, ``online_kernel`` and
    ``online_movable`` online each one by a normal transition through the chain,
    like ``/sys/devices/system/memory/auto_online_blocks``.
    """
    await engine.set_auto_online(body.auto_online_blocks)
    return memory_json(engine)


@router.get(
    "/blocks",
    summary="Memory blocks, filterable by state and node",
    response_model=None,
    responses={**ok(list[BlockPublic], ex.BLOCKS, "The blocks, by id."), **problems(422)},
)
async def list_blocks(
    engine: EngineDep,
    _: Viewer,
    state: Literal["online", "offline", "going-offline"] | None = None,
    node: int | None = Query(None, ge=0, lt=1024),
) -> list[dict[str, Any]]:
    """Every block, by id, optionally only those in one state or on one node.

    What ``lsmem`` reads from ``/sys/devices/system/memory``.
    """
    blocks = sorted(engine.memory.blocks.values(), key=lambda b: b.id)
    return [
        engine.block_json(b)
        for b in blocks
        if (state is None or b.state.value == state) and (node is None or b.node == node)
    ]


@router.get(
    "/blocks/{block_id}",
    summary="One memory block",
    response_model=None,
    responses={**ok(BlockPublic, ex.BLOCK, "The block."), **problems(404, 422)},
)
async def read_block(block_id: BlockId, engine: EngineDep, _: Viewer) -> dict[str, Any]:
    """A block as sysfs would show it, plus its simulation flags.

    ``transition`` is the id of the transition in flight on it, or null.
    """
    return engine.block_json(engine.block(block_id))


@router.post(
    "/blocks/{block_id}/online",
    summary="Online a block (runs the chain)",
    response_model=None,
    responses=trigger_answers(ex.ONLINE_COMPLETED, ex.ONLINE_PENDING),
)
async def online_block(
    block_id: BlockId,
    engine: EngineDep,
    _: Admin,
    body: Annotated[OnlineRequest | None, Body(openapi_examples=ex.ONLINE_BODIES)] = None,
    wait: Annotated[bool, WAIT] = True,
) -> Response:
    """``echo online > state``: waits for the transition unless ``wait=false``.

    Transitions run one at a time, in request order. The chain is walked with
    ``MEM_GOING_ONLINE``; a veto walks ``MEM_CANCEL_ONLINE`` and answers 409,
    otherwise the block is onlined and ``MEM_ONLINE`` is walked. The body may be
    left out (``online_type`` ``online``); ``timeout_ms`` bounds the whole
    ``MEM_GOING_ONLINE`` walk.
    """
    body = body or OnlineRequest()
    run = await engine.submit(
        Operation.ONLINE, block_id, OnlineType(body.online_type), body.timeout_ms, awaited=wait
    )
    return await transition_response(run, wait)


@router.post(
    "/blocks/{block_id}/offline",
    summary="Offline a block (runs the chain)",
    response_model=None,
    responses=trigger_answers(ex.OFFLINE_COMPLETED, ex.OFFLINE_PENDING),
)
async def offline_block(
    block_id: BlockId,
    engine: EngineDep,
    _: Admin,
    body: Annotated[OfflineRequest | None, Body(openapi_examples=ex.OFFLINE_BODIES)] = None,
    wait: Annotated[bool, WAIT] = True,
) -> Response:
    """``echo offline > state``: waits for the transition unless ``wait=false``.

    The block shows ``going-offline`` while the chain is walked with
    ``MEM_GOING_OFFLINE``. A veto, unmovable pages (-EBUSY) or an abort (-EINTR)
    walk ``MEM_CANCEL_OFFLINE`` and answer 409; a page-isolation failure answers
    409 with -EBUSY before any event. Otherwise the block goes offline and
    ``MEM_OFFLINE`` is walked.
    """
    body = body or OfflineRequest()
    run = await engine.submit(Operation.OFFLINE, block_id, None, body.timeout_ms, awaited=wait)
    return await transition_response(run, wait)


@router.patch(
    "/blocks/{block_id}",
    summary="Set a block's simulation flags",
    response_model=None,
    responses={
        **ok(BlockPublic, ex.BLOCK_FLAGGED, "The block."),
        **problems(404, 413, 422, 503, admin=True),
    },
)
async def update_block(
    block_id: BlockId,
    body: Annotated[BlockUpdate, Body(openapi_examples=ex.BLOCK_UPDATE_BODIES)],
    engine: EngineDep,
    _: Admin,
) -> dict[str, Any]:
    """``isolation_fails``, ``unmovable_pages``, ``migration_ms``.

    ``isolation_fails``: an offline fails with -EBUSY before any event.
    ``unmovable_pages``: it fails with -EBUSY after ``MEM_GOING_OFFLINE`` was
    accepted, so ``MEM_CANCEL_OFFLINE`` is walked. ``migration_ms``: simulated
    migration time, during which an abort can land. Absent fields stay as they are.
    """
    flags = body.model_dump(exclude_none=True)
    return engine.block_json(await engine.set_flags(block_id, **flags))


@router.delete(
    "/blocks/{block_id}",
    summary="Hot-remove an offline block",
    response_model=None,
    responses={
        **ok(BlockPublic, ex.BLOCK_REMOVED, "The removed block, as it was."),
        **problems(404, 409, 422, 503, admin=True),
    },
)
async def remove_block(block_id: BlockId, engine: EngineDep, _: Admin) -> dict[str, Any]:
    """Remove an offline block (``-EBUSY`` otherwise); no notifier events."""
    return engine.block_json(await engine.remove(block_id))


@router.post(
    "/probe",
    status_code=201,
    summary="Hot-add blocks",
    response_model=None,
    responses={
        **ok(ProbeResult, ex.PROBE_RESULT, "The new blocks and their transitions.", status=201),
        **problems(409, 413, 422, admin=True),
        503: UNAVAILABLE,
    },
)
async def probe(
    body: Annotated[ProbeRequest, Body(openapi_examples=ex.PROBE_BODIES)],
    engine: EngineDep,
    _: Admin,
) -> dict[str, Any]:
    """New offline blocks on a node (auto-onlined per ``auto_online_blocks``).

    The sysfs ``probe`` file: ``node`` and ``count`` add blocks after the highest
    id; ``phys_addr`` adds one block there (block-aligned, node 0 by default). A new
    node is created. No notifier events; when ``auto_online_blocks`` says so, each
    new block is then onlined by a queued transition, listed in ``transitions``.
    """
    if body.phys_addr is not None:
        block_id = _aligned_block(engine, int(body.phys_addr, 16))
        blocks, runs = await engine.probe(body.node or 0, block_id=block_id)
    else:
        blocks, runs = await engine.probe(body.node or 0, count=body.count)
    return {
        "blocks": [engine.block_json(b) for b in blocks],
        "transitions": [run.record() for run in runs],
    }


@router.post(
    "/chmem",
    summary="Batch online/offline like util-linux chmem",
    response_model=None,
    responses={
        **ok(ChmemResult, ex.CHMEM_RESULT, "One result per block tried, and counts."),
        **problems(413, 422, 503, admin=True),
    },
)
async def chmem(
    body: Annotated[ChmemBody, Body(openapi_examples=ex.CHMEM_BODIES)],
    engine: EngineDep,
    _: Admin,
) -> dict[str, Any]:
    """Try each chosen block in turn; per-block results and counts.

    ``enable`` or ``disable`` one of: ``size`` (a bare number is MiB; a multiple
    of the block size; the lowest blocks are enabled first, the highest disabled
    first), ``range`` ``0xSTART-0xEND`` (END is the last byte) or ``blocks``
    ``N-M``, optionally in a ``zone``. Blocks already in the target state are
    skipped; each other block is one transition through the chain.
    """
    request = ChmemRequest(
        enable=bool(body.enable),
        size=body.size,
        range=body.range,
        blocks=body.blocks,
        zone=body.zone,
    )
    return await run_chmem(engine, request)


async def transition_response(run: Run, wait: bool) -> Response:
    """200 with the record, 409 when it did not complete, or 202 at once."""
    location = {"Location": f"/api/v1/transitions/{run.id}"}
    if not wait:
        return OrjsonResponse(run.record(), status_code=202, headers=location)
    record = await asyncio.shield(run.done)
    if record["outcome"] != "completed":
        return transition_problem(record)
    return OrjsonResponse(record, headers=location)


def memory_json(engine: Engine) -> dict[str, Any]:
    """``GET /api/v1/memory``."""
    memory = engine.memory
    geometry = memory.geometry
    blocks = memory.blocks.values()
    online = sum(b.state is BlockState.ONLINE for b in blocks)
    going = sum(b.state is BlockState.GOING_OFFLINE for b in blocks)
    size = geometry.block_size_bytes
    return {
        "block_size_bytes": size,
        "page_size": geometry.page_size,
        "pages_per_block": geometry.pages_per_block,
        "highmem": memory.highmem,
        "auto_online_blocks": memory.auto_online_blocks,
        "nodes": [_node_json(engine, nid) for nid in sorted(memory.nodes)],
        "summary": {
            "blocks": len(blocks),
            "online_blocks": online,
            "going_offline_blocks": going,
            "offline_blocks": len(blocks) - online - going,
            "total_bytes": len(blocks) * size,
            "online_bytes": online * size,
            "offline_bytes": (len(blocks) - online) * size,
        },
    }


def _node_json(engine: Engine, nid: int) -> dict[str, Any]:
    memory = engine.memory
    states = memory.node_states(nid)
    present = memory.present_pages(nid)
    return {
        "id": nid,
        "states": [s.value for s in NodeState if s in states],
        "present_pages": {z.value: present.get(z, 0) for z in present},
        "present_pages_total": sum(present.values()),
        "blocks": sum(1 for _ in memory.node_blocks(nid)),
    }


def _aligned_block(engine: Engine, phys_addr: int) -> int:
    size = engine.memory.geometry.block_size_bytes
    if phys_addr % size:
        raise Problem(422, f"phys_addr {phys_addr:#x} is not aligned to the block size {size:#x}")
    return phys_addr // size
