"""``/api/v1/memory``: the machine, its blocks, and the requests that change them."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from app.api.deps import Admin, EngineDep, Viewer
from app.api.problems import Problem, transition_problem
from app.api.schemas import (
    BlockUpdate,
    ChmemBody,
    MemoryUpdate,
    OfflineRequest,
    OnlineRequest,
    ProbeRequest,
)
from app.engine.chmem import ChmemRequest, run_chmem
from app.engine.runs import Run
from app.engine.service import Engine
from app.memory.model import BlockState, NodeState, OnlineType
from app.memory.transition import Operation

router = APIRouter(prefix="/api/v1/memory", tags=["memory"])

BlockId = int


@router.get("", summary="The machine: geometry, nodes and their states, totals")
async def read_memory(engine: EngineDep, _: Viewer) -> dict[str, Any]:
    """Block size, page size, ``auto_online_blocks``, nodes and summary totals."""
    return memory_json(engine)


@router.patch("", summary="Change auto_online_blocks")
async def update_memory(body: MemoryUpdate, engine: EngineDep, _: Admin) -> dict[str, Any]:
    """Set ``auto_online_blocks`` (what hot-added blocks do)."""
    await engine.set_auto_online(body.auto_online_blocks)
    return memory_json(engine)


@router.get("/blocks", summary="Memory blocks, filterable by state and node")
async def list_blocks(
    engine: EngineDep,
    _: Viewer,
    state: Literal["online", "offline", "going-offline"] | None = None,
    node: int | None = Query(None, ge=0, lt=1024),
) -> list[dict[str, Any]]:
    """Every block, by id, optionally only those in one state or on one node."""
    blocks = sorted(engine.memory.blocks.values(), key=lambda b: b.id)
    return [
        engine.block_json(b)
        for b in blocks
        if (state is None or b.state.value == state) and (node is None or b.node == node)
    ]


@router.get("/blocks/{block_id}", summary="One memory block")
async def read_block(block_id: BlockId, engine: EngineDep, _: Viewer) -> dict[str, Any]:
    """A block as sysfs would show it, plus its simulation flags."""
    return engine.block_json(engine.block(block_id))


@router.post("/blocks/{block_id}/online", summary="Online a block (runs the chain)")
async def online_block(
    block_id: BlockId,
    engine: EngineDep,
    _: Admin,
    body: OnlineRequest | None = None,
    wait: bool = True,
) -> Response:
    """``echo online > state``: waits for the transition unless ``wait=false``."""
    body = body or OnlineRequest()
    run = await engine.submit(
        Operation.ONLINE, block_id, OnlineType(body.online_type), body.timeout_ms
    )
    return await transition_response(run, wait)


@router.post("/blocks/{block_id}/offline", summary="Offline a block (runs the chain)")
async def offline_block(
    block_id: BlockId,
    engine: EngineDep,
    _: Admin,
    body: OfflineRequest | None = None,
    wait: bool = True,
) -> Response:
    """``echo offline > state``: waits for the transition unless ``wait=false``."""
    body = body or OfflineRequest()
    run = await engine.submit(Operation.OFFLINE, block_id, None, body.timeout_ms)
    return await transition_response(run, wait)


@router.patch("/blocks/{block_id}", summary="Set a block's simulation flags")
async def update_block(
    block_id: BlockId, body: BlockUpdate, engine: EngineDep, _: Admin
) -> dict[str, Any]:
    """``isolation_fails``, ``unmovable_pages``, ``migration_ms``."""
    flags = body.model_dump(exclude_none=True)
    return engine.block_json(await engine.set_flags(block_id, **flags))


@router.delete("/blocks/{block_id}", summary="Hot-remove an offline block")
async def remove_block(block_id: BlockId, engine: EngineDep, _: Admin) -> dict[str, Any]:
    """Remove an offline block (``-EBUSY`` otherwise); no notifier events."""
    return engine.block_json(await engine.remove(block_id))


@router.post("/probe", status_code=201, summary="Hot-add blocks")
async def probe(body: ProbeRequest, engine: EngineDep, _: Admin) -> dict[str, Any]:
    """New offline blocks on a node (auto-onlined per ``auto_online_blocks``)."""
    if body.phys_addr is not None:
        block_id = _aligned_block(engine, int(body.phys_addr, 16))
        blocks, runs = await engine.probe(body.node or 0, block_id=block_id)
    else:
        blocks, runs = await engine.probe(body.node or 0, count=body.count)
    return {
        "blocks": [engine.block_json(b) for b in blocks],
        "transitions": [run.record() for run in runs],
    }


@router.post("/chmem", summary="Batch online/offline like util-linux chmem")
async def chmem(body: ChmemBody, engine: EngineDep, _: Admin) -> dict[str, Any]:
    """Try each chosen block in turn; per-block results and counts."""
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
        return JSONResponse(run.record(), status_code=202, headers=location)
    record = await asyncio.shield(run.done)
    if record["outcome"] != "completed":
        return transition_problem(record)
    return JSONResponse(record, headers=location)


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
