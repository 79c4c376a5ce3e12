"""lsmem's output from REST blocks (util-linux lsmem, kernel-notes §8).

The ``S390_*`` expectations are util-linux's own expected outputs for its
"s390-zvm-6g" test system (``tests/expected/lsmem/lsmem-s390-zvm-6g``), fed
here as the JSON blocks of SPEC §5, so the formatting is checked against the
real tool's, byte for byte.
"""

from __future__ import annotations

from typing import Any

import pytest

from clients.lsmem import (
    DEFAULT_COLUMNS,
    LsmemOptions,
    MemoryRange,
    merge,
    parse_columns,
    parse_split,
    render,
    size_to_human,
    summary_lines,
    zone_label,
)
from clients.models import Block

MiB = 1 << 20
S390_BLOCK = 256 * MiB

_S390_ONLINE = set(range(14)) | set(range(15, 20))
_S390_REMOVABLE = {0, 1, 2, 3, 4, 5, 6, 8, 9, 12, 13, 15, 18, 19}
_S390_ZONES = {
    **{i: ["DMA"] for i in range(7)},
    7: ["DMA", "Normal"],
    **{i: ["Normal"] for i in range(8, 17)},
    17: ["Normal", "Movable"],
    18: ["Movable", "Normal"],
    **{i: ["Movable"] for i in range(19, 24)},
}


def block(
    ident: int,
    state: str = "online",
    *,
    removable: bool = True,
    node: int = 0,
    zones: list[str] | None = None,
    pages: int = 32768,
) -> Block:
    """A block as ``GET /api/v1/memory/blocks`` returns it."""
    valid_zones = zones if zones is not None else ["Normal"]
    data: dict[str, Any] = {
        "id": ident,
        "start_pfn": ident * pages,
        "nr_pages": pages,
        "node": node,
        "state": state,
        "zone": valid_zones[0] if state == "online" else None,
        "removable": removable,
        "valid_zones": valid_zones,
        "transition": None,
    }
    return data  # type: ignore[return-value]


S390 = [
    block(
        i,
        "online" if i in _S390_ONLINE else "offline",
        removable=i in _S390_REMOVABLE,
        zones=_S390_ZONES[i],
        pages=65536,
    )
    for i in range(24)
]

S390_SUMMARY = """\

Memory block size:       256M
Total online memory:     4.8G
Total offline memory:    1.3G
"""

S390_DEFAULT = (
    """\
RANGE                                  SIZE   STATE REMOVABLE BLOCK
0x0000000000000000-0x000000006fffffff  1.8G  online       yes   0-6
0x0000000070000000-0x000000007fffffff  256M  online        no     7
0x0000000080000000-0x000000009fffffff  512M  online       yes   8-9
0x00000000a0000000-0x00000000bfffffff  512M  online        no 10-11
0x00000000c0000000-0x00000000dfffffff  512M  online       yes 12-13
0x00000000e0000000-0x00000000efffffff  256M offline              14
0x00000000f0000000-0x00000000ffffffff  256M  online       yes    15
0x0000000100000000-0x000000011fffffff  512M  online        no 16-17
0x0000000120000000-0x000000013fffffff  512M  online       yes 18-19
0x0000000140000000-0x000000017fffffff    1G offline           20-23
"""
    + S390_SUMMARY
)

S390_ZONES = (
    """\
RANGE                                  SIZE   STATE REMOVABLE BLOCK          ZONES
0x0000000000000000-0x000000006fffffff  1.8G  online       yes   0-6            DMA
0x0000000070000000-0x000000007fffffff  256M  online        no     7     DMA/Normal
0x0000000080000000-0x000000009fffffff  512M  online       yes   8-9         Normal
0x00000000a0000000-0x00000000bfffffff  512M  online        no 10-11         Normal
0x00000000c0000000-0x00000000dfffffff  512M  online       yes 12-13         Normal
0x00000000e0000000-0x00000000efffffff  256M offline              14         Normal
0x00000000f0000000-0x00000000ffffffff  256M  online       yes    15         Normal
0x0000000100000000-0x000000010fffffff  256M  online        no    16         Normal
0x0000000110000000-0x000000011fffffff  256M  online        no    17 Normal/Movable
0x0000000120000000-0x000000012fffffff  256M  online       yes    18 Movable/Normal
0x0000000130000000-0x000000013fffffff  256M  online       yes    19        Movable
0x0000000140000000-0x000000017fffffff    1G offline           20-23        Movable
"""
    + S390_SUMMARY
)

S390_SPLIT_NONE = (
    """\
RANGE                                 SIZE
0x0000000000000000-0x000000017fffffff   6G
"""
    + S390_SUMMARY
)

S390_SPLIT_STATE = (
    """\
RANGE                                  SIZE   STATE
0x0000000000000000-0x00000000dfffffff  3.5G  online
0x00000000e0000000-0x00000000efffffff  256M offline
0x00000000f0000000-0x000000013fffffff  1.3G  online
0x0000000140000000-0x000000017fffffff    1G offline
"""
    + S390_SUMMARY
)

S390_RAW = """\
RANGE SIZE STATE REMOVABLE BLOCK NODE
0x0000000000000000-0x000000006fffffff 1.8G online yes 0-6 0
0x0000000070000000-0x000000007fffffff 256M online no 7 0
0x0000000080000000-0x000000009fffffff 512M online yes 8-9 0
0x00000000a0000000-0x00000000bfffffff 512M online no 10-11 0
0x00000000c0000000-0x00000000dfffffff 512M online yes 12-13 0
0x00000000e0000000-0x00000000efffffff 256M offline  14 0
0x00000000f0000000-0x00000000ffffffff 256M online yes 15 0
0x0000000100000000-0x000000011fffffff 512M online no 16-17 0
0x0000000120000000-0x000000013fffffff 512M online yes 18-19 0
0x0000000140000000-0x000000017fffffff 1G offline  20-23 0
"""

S390_JSON_HEAD = """\
{
   "memory": [
      {
         "range": "0x0000000000000000-0x000000006fffffff",
         "size": "1.8G",
         "state": "online",
         "removable": true,
         "block": "0-6",
         "node": 0
      },{
         "range": "0x0000000070000000-0x000000007fffffff",
"""

S390_JSON_TAIL = """\
      },{
         "range": "0x0000000140000000-0x000000017fffffff",
         "size": "1G",
         "state": "offline",
         "removable": false,
         "block": "20-23",
         "node": 0
      }
   ]
}
"""

ALL_BUT_ZONES = ("RANGE", "SIZE", "STATE", "REMOVABLE", "BLOCK", "NODE")


def lsmem(blocks: list[Block], block_size: int = S390_BLOCK, **options: Any) -> str:
    return render(blocks, block_size, LsmemOptions(**options))


def test_default_output_is_util_linux_s390_expected() -> None:
    assert lsmem(S390) == S390_DEFAULT


def test_split_state_removable_is_the_default_for_default_columns() -> None:
    assert lsmem(S390, split=parse_split("STATE,REMOVABLE")) == S390_DEFAULT


def test_zones_column_appended_splits_by_zones() -> None:
    assert lsmem(S390, columns=parse_columns("+ZONES")) == S390_ZONES


def test_split_none_merges_everything_adjacent() -> None:
    options = {"columns": parse_columns("RANGE,SIZE"), "split": parse_split("none")}
    assert lsmem(S390, **options) == S390_SPLIT_NONE


def test_split_state_only() -> None:
    options = {"columns": parse_columns("RANGE,SIZE,STATE"), "split": parse_split("STATE")}
    assert lsmem(S390, **options) == S390_SPLIT_STATE


def test_raw_output_has_no_summary_and_empty_cells() -> None:
    assert lsmem(S390, columns=ALL_BUT_ZONES, output="raw", summary=False) == S390_RAW


def test_raw_noheadings() -> None:
    text = lsmem(S390, columns=ALL_BUT_ZONES, output="raw", summary=False, noheadings=True)
    assert text.splitlines() == S390_RAW.splitlines()[1:]


def test_json_output_like_libsmartcols() -> None:
    text = lsmem(S390, columns=ALL_BUT_ZONES, output="json", summary=False)
    assert text.startswith(S390_JSON_HEAD)
    assert text.endswith(S390_JSON_TAIL)


def test_json_bytes_makes_size_a_number() -> None:
    text = lsmem(S390[:1], columns=("SIZE",), output="json", summary=False, in_bytes=True)
    assert '"size": 268435456' in text


def test_json_of_no_blocks() -> None:
    assert lsmem([], output="json", summary=False) == '{\n   "memory": [\n   ]\n}\n'


def test_pairs_output() -> None:
    first = lsmem(S390, output="pairs", summary=False).splitlines()[0]
    assert first == (
        'RANGE="0x0000000000000000-0x000000006fffffff" SIZE="1.8G" STATE="online" '
        'REMOVABLE="yes" BLOCK="0-6"'
    )


def test_all_lists_every_block() -> None:
    text = lsmem(S390, list_all=True, columns=ALL_BUT_ZONES)
    rows = text.split("\n\n")[0].splitlines()
    assert len(rows) == 25
    assert rows[0] == "RANGE                                  SIZE   STATE REMOVABLE BLOCK NODE"
    assert rows[15] == "0x00000000e0000000-0x00000000efffffff  256M offline              14    0"


def test_bytes_sizes_and_summary() -> None:
    text = lsmem(S390, in_bytes=True)
    assert "0x0000000000000000-0x000000006fffffff 1879048192  online" in text
    assert text.endswith(
        # printf("%-23s %15"PRId64"\n", ...)
        "Memory block size:            268435456\n"
        "Total online memory:         5100273664\n"
        "Total offline memory:        1342177280\n"
    )


def test_summary_only_and_never() -> None:
    assert lsmem(S390, table=False) == S390_SUMMARY.lstrip("\n")
    assert lsmem(S390, summary=False) == S390_DEFAULT.split("\n\n")[0] + "\n"


def test_noheadings() -> None:
    assert lsmem(S390, noheadings=True).splitlines()[0].startswith("0x0000000000000000")


def test_going_offline_shows_on_off_and_counts_as_offline() -> None:
    blocks = [block(0), block(1, "going-offline"), block(2, "offline")]
    text = lsmem(blocks, 128 * MiB)
    assert text == (
        "RANGE                                  SIZE   STATE REMOVABLE BLOCK\n"
        "0x0000000000000000-0x0000000007ffffff  128M  online       yes     0\n"
        "0x0000000008000000-0x000000000fffffff  128M on->off               1\n"
        "0x0000000010000000-0x0000000017ffffff  128M offline               2\n"
        "\n"
        "Memory block size:       128M\n"
        "Total online memory:     128M\n"
        "Total offline memory:    256M\n"
    )


def test_unknown_state_shows_question_mark() -> None:
    assert "?" in lsmem([block(0, "weird")], 128 * MiB, columns=("STATE",), summary=False)


def test_gaps_split_ranges_and_ids_are_sorted() -> None:
    rows = merge([block(5), block(0), block(1), block(3)], frozenset())
    assert [(r.first, r.count) for r in rows] == [(0, 2), (3, 1), (5, 1)]


def test_nodes_split_when_node_is_shown() -> None:
    blocks = [block(0, node=0), block(1, node=1)]
    assert len(merge(blocks, parse_split("NODE"))) == 2
    assert len(merge(blocks, frozenset())) == 1
    text = lsmem(blocks, 128 * MiB, columns=parse_columns("+NODE"), summary=False)
    assert text.splitlines()[1:] == [
        "0x0000000000000000-0x0000000007ffffff  128M online       yes     0    0",
        "0x0000000008000000-0x000000000fffffff  128M online       yes     1    1",
    ]


def test_unknown_zones_never_merge() -> None:
    blocks = [block(0, zones=["Bogus"]), block(1, zones=["Bogus"])]
    assert len(merge(blocks, parse_split("ZONES"))) == 2
    assert zone_label("Bogus") == "Unknown"
    assert zone_label("HighMem") == "Highmem"


def test_removable_is_compared_even_when_offline() -> None:
    blocks = [block(0, "offline", removable=True), block(1, "offline", removable=False)]
    assert len(merge(blocks, parse_split("REMOVABLE"))) == 2


def test_merged_range_fields() -> None:
    (row,) = merge([block(4), block(5), block(6)], parse_split("STATE"))
    assert row == MemoryRange(4, 3, "online", True, 0, ("Normal",))
    assert row.last == 6


def test_parse_columns() -> None:
    assert parse_columns("range,size") == ("RANGE", "SIZE")
    assert parse_columns("+NODE") == (*DEFAULT_COLUMNS, "NODE")
    assert parse_columns("+ZONES", ("RANGE",)) == ("RANGE", "ZONES")
    with pytest.raises(ValueError, match="unknown column: FOO"):
        parse_columns("RANGE,FOO")
    with pytest.raises(ValueError, match="no columns"):
        parse_columns("+")


def test_parse_split_keeps_only_split_columns() -> None:
    assert parse_split("RANGE,SIZE,STATE,NODE") == {"STATE", "NODE"}
    assert parse_split("None") == frozenset()


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1K"),
        (128 * MiB, "128M"),
        (1792 * MiB, "1.8G"),  # 1.75 rounds up
        (2688 * MiB, "2.6G"),  # 2.625 rounds to .6 like util-linux
        (1280 * MiB, "1.3G"),
        (16 << 30, "16G"),
        ((2 << 30) - MiB, "2G"),  # 1.999 rounds to a whole number
        (3 << 60, "3E"),
    ],
)
def test_size_to_human(size: int, text: str) -> None:
    assert size_to_human(size) == text


def test_summary_lines_in_bytes() -> None:
    line = summary_lines([block(0)], 128 * MiB, True)[0]
    assert line == f"{'Memory block size:':<23} {134217728:>15}"
    assert line == "Memory block size:            134217728"
