"""``hotplugctl chmem``: util-linux chmem's arguments and exit status, over REST.

Pure functions, no I/O (util-linux ``sys-utils/chmem.c``, kernel-notes §8):

- the argument is a SIZE (``1G``, ``512M``, ``0.5G``, ``2GiB``, ``1GB``; a bare
  number is MiB), a RANGE ``0xSTART-0xEND`` whose END is its last byte, or with
  ``-b`` a BLOCKRANGE ``N`` or ``N-M``;
- it goes to ``POST /api/v1/memory/chmem`` as written, in the field its kind
  names (``size``, ``range``, ``blocks``); the service checks alignment
  against its block size;
- exit status 0 when everything asked for was done (blocks already in the
  target state count as done in range mode, as in chmem), 1 when nothing was
  done, 64 when only part of it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from clients.models import ChmemBlockResult, ChmemResult

EXIT_SUCCESS: Final = 0
EXIT_FAILURE: Final = 1
EXIT_SOMEOK: Final = 64  # chmem's CHMEM_EXIT_SOMEOK

#: -z/--zone values the chmem endpoint takes (SPEC §5), by their lower-case spelling.
ZONES: Final = {"normal": "Normal", "movable": "Movable"}

_SIZE = re.compile(
    r"^(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[KMGTPEZY]?)(?P<tail>iB|B)?$", re.IGNORECASE
)
_UNITS: Final = "KMGTPEZY"

TargetKind = Literal["size", "range", "blocks"]


@dataclass(frozen=True, slots=True)
class ChmemTarget:
    """What to change: ``first``..``last`` are bytes (range) or block numbers (blocks)."""

    kind: TargetKind
    text: str
    size: int | None = None
    first: int | None = None
    last: int | None = None


def parse_size(text: str) -> int:
    """util-linux ``strtosize`` with chmem's rule that a bare number is MiB; bytes out.

    ``K``/``KiB`` are powers of 1024, ``KB`` powers of 1000, ``B`` bytes.
    """
    value = text.strip()
    if value[-1:].isdigit():
        value += "M"  # chmem: "a bare number means MiB"
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"invalid size: {text!r}")
    unit, tail = str(match["unit"]).upper(), str(match["tail"] or "")
    base = 1000 if tail.upper() == "B" and unit else 1024
    power = _UNITS.index(unit) + 1 if unit else 0
    whole, _, fraction = str(match["num"]).partition(".")
    scale: int = base**power
    size = int(whole) * scale + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0)
    if size <= 0:
        raise ValueError(f"invalid size: {text!r}")
    return size


def parse_range(text: str) -> tuple[int, int]:
    """``0xSTART-0xEND`` (hex, the ``0x`` optional) → (start, end) in bytes, END inclusive."""
    start_text, sep, end_text = text.strip().partition("-")
    try:
        start, end = int(start_text, 16), int(end_text, 16)
    except ValueError:
        raise ValueError(f"invalid range: {text!r}") from None
    if not sep or start > end:
        raise ValueError(f"invalid range: {text!r}")
    return start, end


def parse_blocks(text: str) -> tuple[int, int]:
    """``N`` or ``N-M`` (decimal block numbers) → (first, last)."""
    first_text, sep, last_text = text.strip().partition("-")
    if not first_text.isdigit() or (sep and not last_text.isdigit()):
        raise ValueError(f"invalid block range: {text!r}")
    first = int(first_text)
    last = int(last_text) if sep else first
    if first > last:
        raise ValueError(f"invalid block range: {text!r}")
    return first, last


def parse_target(text: str, *, blocks: bool = False) -> ChmemTarget:
    """Classify chmem's argument as chmem does: ``-b`` → blocks, a ``-`` → range, else size."""
    text = text.strip()
    if blocks:
        first, last = parse_blocks(text)
        return ChmemTarget("blocks", text, first=first, last=last)
    if "-" in text:
        start, end = parse_range(text)
        return ChmemTarget("range", text, first=start, last=end)
    return ChmemTarget("size", text, size=parse_size(text))


def parse_zone(text: str) -> str:
    """``-z ZONE`` (any case) → the service's spelling; ValueError for zones it lacks."""
    zone = ZONES.get(text.strip().lower())
    if zone is None:
        raise ValueError(f"unsupported memory zone: {text!r} (use Normal or Movable)")
    return zone


def request_fields(target: ChmemTarget, zone: str | None) -> dict[str, str]:
    """The ``chmem`` request's size/range/blocks and zone fields."""
    fields: dict[str, str] = {target.kind: target.text}
    if zone is not None:
        fields["zone"] = zone
    return fields


def _outcomes(results: list[ChmemBlockResult]) -> tuple[int, int, int]:
    """(done, skipped, failed) counts of the per-block results."""
    done = sum(1 for r in results if r.get("outcome") == "completed")
    skipped = sum(1 for r in results if r.get("outcome") == "skipped")
    return done, skipped, len(results) - done - skipped


def counts(result: Mapping[str, Any] | ChmemResult) -> tuple[int, int, int]:
    """(done, skipped, failed): from the results when present, else the summary counts."""
    results = result.get("results")
    if isinstance(results, list):
        return _outcomes(results)
    succeeded, failed = result.get("succeeded") or 0, result.get("failed") or 0
    return int(succeeded), 0, int(failed)


def exit_status(result: ChmemResult, target: ChmemTarget, block_size: int | None) -> int:
    """chmem's exit status: 0 all done, 1 nothing done, 64 partly done."""
    done, skipped, failed = counts(result)
    if target.kind == "size":
        # Like chmem, a size counts blocks changed; failures on the way only matter
        # when they leave it short. Without the block size, any failure is short.
        wanted = target.size // block_size if target.size and block_size else done + failed
        short, achieved = wanted - done, done
    else:
        short, achieved = failed, done + skipped
    if short <= 0:
        return EXIT_SUCCESS
    return EXIT_SOMEOK if achieved else EXIT_FAILURE
