"""chmem's arguments and exit status (util-linux chmem, kernel-notes §8)."""

from __future__ import annotations

import pytest

from clients.chmem import (
    EXIT_FAILURE,
    EXIT_SOMEOK,
    EXIT_SUCCESS,
    ChmemTarget,
    counts,
    exit_status,
    parse_blocks,
    parse_range,
    parse_size,
    parse_target,
    parse_zone,
    request_fields,
)
from clients.models import ChmemResult

MiB, GiB = 1 << 20, 1 << 30
BLOCK = 128 * MiB


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1G", GiB),
        ("1g", GiB),
        ("512M", 512 * MiB),
        ("1024", 1024 * MiB),  # a bare number is MiB
        ("128", 128 * MiB),
        ("0.5G", 512 * MiB),
        ("1.5G", 1536 * MiB),
        ("2GiB", 2 * GiB),
        ("1GB", 10**9),  # "B" after the unit: powers of 1000, as strtosize
        ("131072K", 128 * MiB),
        ("1T", 1 << 40),
        (" 256M ", 256 * MiB),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "1X", "0", "1.G", "-1G", "1 GiBs"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


def test_parse_range_end_is_the_last_byte() -> None:
    assert parse_range("0x100000000-0x13fffffff") == (0x100000000, 0x13FFFFFFF)
    assert parse_range("100000000-13fffffff") == (0x100000000, 0x13FFFFFFF)


@pytest.mark.parametrize("text", ["0x10-", "0x20-0x10", "zz-0x10", "0x10"])
def test_parse_range_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid range"):
        parse_range(text)


def test_parse_blocks() -> None:
    assert parse_blocks("16-23") == (16, 23)
    assert parse_blocks("7") == (7, 7)


@pytest.mark.parametrize("text", ["", "a", "5-", "9-3", "-3", "0x10"])
def test_parse_blocks_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid block range"):
        parse_blocks(text)


def test_parse_target_classifies_like_chmem() -> None:
    assert parse_target("1G") == ChmemTarget("size", "1G", size=GiB)
    assert parse_target("0x0-0x7ffffff") == ChmemTarget(
        "range", "0x0-0x7ffffff", None, 0, BLOCK - 1
    )
    assert parse_target("16-23", blocks=True) == ChmemTarget("blocks", "16-23", None, 16, 23)
    assert parse_target("4", blocks=True).kind == "blocks"


def test_request_fields_name_the_kind() -> None:
    assert request_fields(parse_target("1G"), None) == {"size": "1G"}
    assert request_fields(parse_target("0x0-0xfff"), "Movable") == {
        "range": "0x0-0xfff",
        "zone": "Movable",
    }
    assert request_fields(parse_target("3-4", blocks=True), None) == {"blocks": "3-4"}


def test_parse_zone() -> None:
    assert parse_zone("movable") == "Movable"
    assert parse_zone("NORMAL") == "Normal"
    for zone in ("DMA32", "Highmem"):
        with pytest.raises(ValueError, match="unsupported memory zone"):
            parse_zone(zone)


def _result(*outcomes: str) -> ChmemResult:
    results = [{"block": i, "outcome": o} for i, o in enumerate(outcomes)]
    done = sum(o == "completed" for o in outcomes)
    return {"results": results, "succeeded": done, "failed": len(outcomes) - done}  # type: ignore[typeddict-item]


SIZE_4 = parse_target("512M")  # 4 blocks of 128M
BLOCKS = parse_target("0-3", blocks=True)


@pytest.mark.parametrize(
    ("result", "target", "status"),
    [
        (_result("completed", "completed", "completed", "completed"), SIZE_4, EXIT_SUCCESS),
        (_result("completed", "completed"), SIZE_4, EXIT_SOMEOK),  # not enough suitable blocks
        (_result(), SIZE_4, EXIT_FAILURE),
        (_result("cancelled", "cancelled"), SIZE_4, EXIT_FAILURE),
        # a failure on the way does not matter once the size is reached
        (
            _result("failed", "completed", "completed", "completed", "completed"),
            SIZE_4,
            EXIT_SUCCESS,
        ),
        (_result("completed", "completed", "completed", "completed"), BLOCKS, EXIT_SUCCESS),
        (_result("completed", "cancelled", "completed", "completed"), BLOCKS, EXIT_SOMEOK),
        (_result("cancelled", "failed", "aborted", "cancelled"), BLOCKS, EXIT_FAILURE),
        # blocks already in the target state count as done in range mode
        (_result("skipped", "skipped", "skipped", "skipped"), BLOCKS, EXIT_SUCCESS),
        (_result("skipped", "cancelled"), BLOCKS, EXIT_SOMEOK),
        (_result("cancelled"), parse_target("0x0-0x7ffffff"), EXIT_FAILURE),
    ],
)
def test_exit_status(result: ChmemResult, target: ChmemTarget, status: int) -> None:
    assert exit_status(result, target, BLOCK) == status


def test_exit_status_without_results_uses_the_counts() -> None:
    assert exit_status({"succeeded": 2, "failed": 0}, BLOCKS, BLOCK) == EXIT_SUCCESS
    assert exit_status({"succeeded": 1, "failed": 1}, BLOCKS, BLOCK) == EXIT_SOMEOK
    assert exit_status({"succeeded": 0, "failed": 3}, BLOCKS, BLOCK) == EXIT_FAILURE
    assert counts({"succeeded": 2, "failed": 1}) == (2, 0, 1)


def test_exit_status_size_without_block_size_counts_failures() -> None:
    assert exit_status(_result("completed"), SIZE_4, None) == EXIT_SUCCESS
    assert exit_status(_result("completed", "failed"), SIZE_4, None) == EXIT_SOMEOK
