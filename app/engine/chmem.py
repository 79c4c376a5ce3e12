"""Batch online/offline the way util-linux ``chmem`` does it (kernel-notes §8).

``SIZE`` (a bare number is MiB; suffixes K/M/G/T/P/E with optional ``iB``
are binary, ``KB``/``MB``/… decimal) must be a multiple of the block size; a
size enables the lowest-numbered suitable blocks first and disables the
highest first. ``RANGE`` is ``0xSTART-0xEND`` where END is the last byte
(START and END+1 block-aligned). ``BLOCKRANGE`` is ``N`` or ``N-M``. Blocks
already in the target state are skipped, not tried.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from app.chain.values import EINVAL, errno_name
from app.engine.service import Engine, EngineError, Invalid
from app.memory.model import Block, BlockState, OnlineType, Zone
from app.memory.transition import Operation

_SIZE = re.compile(r"^\s*(\d+)\s*([KMGTPE]?)(i?B)?\s*$", re.IGNORECASE)
_POWERS = "KMGTPE"
MAX_BLOCK_ID = 2**40


@dataclass(frozen=True, slots=True)
class ChmemRequest:
    """One chmem invocation: direction, what, and an optional zone."""

    enable: bool
    size: str | None = None
    range: str | None = None
    blocks: str | None = None
    zone: str | None = None


def parse_size(text: str) -> int:
    """A chmem SIZE in bytes; a bare number means MiB."""
    match = _SIZE.match(text)
    if not match:
        raise Invalid(f"invalid size {text!r}", EINVAL)
    number, unit, suffix = match.group(1), match.group(2).upper(), match.group(3)
    if not unit:
        return int(number) * 1024**2 if not suffix else int(number)
    base = 1000 if suffix is not None and suffix.upper() == "B" else 1024
    return int(number) * int(base ** (_POWERS.index(unit) + 1))


def parse_range(text: str, block_size: int) -> tuple[int, int]:
    """``0xSTART-0xEND`` (END is the last byte) as a first and last block id."""
    start_text, sep, end_text = text.partition("-")
    try:
        start, end = int(start_text, 16), int(end_text, 16)
    except ValueError:
        raise Invalid(f"invalid range {text!r}: expected 0xSTART-0xEND", EINVAL) from None
    if not sep or end < start:
        raise Invalid(f"invalid range {text!r}: END must not be below START", EINVAL)
    if start % block_size or (end + 1) % block_size:
        raise Invalid(f"range {text!r} is not aligned to the block size {block_size:#x}", EINVAL)
    return start // block_size, (end + 1) // block_size - 1


def parse_blocks(text: str) -> tuple[int, int]:
    """``N`` or ``N-M`` as a first and last block id."""
    first_text, sep, last_text = text.partition("-")
    if not first_text.strip().isdigit() or (sep and not last_text.strip().isdigit()):
        raise Invalid(f"invalid block range {text!r}: expected N or N-M", EINVAL)
    first = int(first_text)
    last = int(last_text) if sep else first
    if last < first or last > MAX_BLOCK_ID:
        raise Invalid(f"invalid block range {text!r}", EINVAL)
    return first, last


async def run_chmem(engine: Engine, request: ChmemRequest) -> dict[str, Any]:
    """Try each chosen block in turn, waiting for each transition; gather the results."""
    zone = Zone(request.zone) if request.zone else None
    candidates, wanted = _candidates(engine, request)
    results: list[dict[str, Any]] = []
    succeeded = 0
    for block in candidates:
        if wanted is not None and succeeded >= wanted:
            break
        result = await _try_block(engine, block, request.enable, zone)
        results.append(result)
        succeeded += result["outcome"] == "completed"
    return {"results": results, "succeeded": succeeded, "failed": len(results) - succeeded}


def _candidates(engine: Engine, request: ChmemRequest) -> tuple[list[Block], int | None]:
    memory = engine.memory
    target = BlockState.OFFLINE if request.enable else BlockState.ONLINE
    block_size = memory.geometry.block_size_bytes
    if request.size is not None:
        size = parse_size(request.size)
        if size == 0 or size % block_size:
            raise Invalid(f"size {request.size} is not a multiple of the block size", EINVAL)
        blocks = sorted(memory.blocks.values(), key=lambda b: b.id, reverse=not request.enable)
        return [b for b in blocks if b.state is target], size // block_size
    if request.range is not None:
        first, last = parse_range(request.range, block_size)
    else:
        first, last = parse_blocks(request.blocks or "")
    chosen = [memory.blocks[i] for i in sorted(memory.blocks) if first <= i <= last]
    return [b for b in chosen if b.state is target], None


async def _try_block(
    engine: Engine, block: Block, enable: bool, zone: Zone | None
) -> dict[str, Any]:
    mismatch = _zone_mismatch(engine, block, enable, zone)
    if mismatch:
        return _result(block, "failed", EINVAL, None, detail=mismatch)
    operation = Operation.ONLINE if enable else Operation.OFFLINE
    online_type = _online_type(engine, block, zone) if enable else None
    try:
        run = await engine.submit(operation, block.id, online_type, awaited=True)
        record = await asyncio.shield(run.done)
    except EngineError as exc:
        return _result(block, "failed", exc.errno, None, detail=str(exc))
    return _result(
        block, record["outcome"], record["errno"], record["id"], vetoed_by=record["vetoed_by"]
    )


def _result(
    block: Block, outcome: str, errno: int | None, transition: str | None, **extra: Any
) -> dict[str, Any]:
    return {
        "block": block.id,
        "outcome": outcome,
        "errno": errno or None,
        "errno_name": errno_name(errno) if errno else None,
        "transition": transition,
        **extra,
    }


def _online_type(engine: Engine, block: Block, zone: Zone | None) -> OnlineType:
    if zone is Zone.MOVABLE:
        return OnlineType.ONLINE_MOVABLE
    if zone is not None:
        return OnlineType.ONLINE_KERNEL
    if Zone.MOVABLE in engine.memory.valid_zones(block):
        return OnlineType.ONLINE_MOVABLE
    return OnlineType.ONLINE


def _zone_mismatch(engine: Engine, block: Block, enable: bool, zone: Zone | None) -> str | None:
    if zone is None:
        return None
    valid = engine.memory.valid_zones(block)
    if enable and zone not in valid:
        return f"zone {zone.value} is not valid for block {block.id}"
    if not enable and valid[0] is not zone:
        return f"block {block.id} is not in zone {zone.value}"
    return None
