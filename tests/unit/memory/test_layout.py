"""Layouts: TOML/JSON parsing, errors naming file and field, the default, snapshots (SPEC §1)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.memory.layout import (
    MAX_BLOCKS,
    LayoutError,
    build_layout,
    default_layout,
    memory_from_dict,
    memory_to_dict,
    parse_layout,
)
from app.memory.model import Block, BlockState, Geometry, Memory, NodeState, Zone

TOML_LAYOUT = """
block_size_bytes = 268435456
page_size = 4096
highmem = true
auto_online_blocks = "online_movable"
nodes = [3]

[[blocks]]
first = 0
count = 2
node = 0
state = "online"
removable = false

[[blocks]]
first = 4
node = 1
state = "online"
zone = "HighMem"
default_zone = "HighMem"
isolation_fails = true
unmovable_pages = true
migration_ms = 1500
"""


def test_parse_toml_layout() -> None:
    """A TOML layout sets geometry, model, auto-online, nodes and block ranges with flags."""
    memory = parse_layout(TOML_LAYOUT, "machine.toml")
    assert memory.geometry == Geometry(page_size=4096, block_size_bytes=268435456)
    assert memory.highmem
    assert memory.auto_online_blocks == "online_movable"
    assert memory.nodes == {0, 1, 3}
    assert sorted(memory.blocks) == [0, 1, 4]
    assert memory.block(0) == Block(
        id=0, node=0, state=BlockState.ONLINE, zone=Zone.NORMAL, removable=False
    )
    assert memory.block(1).zone is Zone.NORMAL
    assert memory.block(4) == Block(
        id=4,
        node=1,
        state=BlockState.ONLINE,
        zone=Zone.HIGHMEM,
        default_zone=Zone.HIGHMEM,
        isolation_fails=True,
        unmovable_pages=True,
        migration_ms=1500,
    )


def test_parse_json_layout() -> None:
    """A .json source is parsed as JSON; omitted fields take their defaults."""
    text = json.dumps(
        {
            "blocks": [
                {"first": 2, "node": 1},
                {"first": 3, "count": 2, "node": 1, "zone": "Movable"},
            ]
        }
    )
    memory = parse_layout(text, "/etc/hotplugd/layout.json")
    assert memory.geometry == Geometry()
    assert (memory.highmem, memory.auto_online_blocks) == (False, "offline")
    assert memory.nodes == {1}
    assert sorted(memory.blocks) == [2, 3, 4]
    assert memory.block(2) == Block(id=2, node=1)
    assert memory.block(3).zone is None  # a zone only applies to an online block
    assert memory.block(3).state is BlockState.OFFLINE


def test_empty_layout_is_an_empty_machine() -> None:
    """An empty TOML document gives a machine with the defaults and no blocks."""
    memory = parse_layout("", "empty.toml")
    assert memory == Memory()


def test_online_block_without_zone_uses_default_zone() -> None:
    """An online range without a zone is online in its default zone."""
    memory = build_layout(
        {"blocks": [{"first": 0, "node": 0, "state": "online", "default_zone": "Movable"}]}
    )
    assert memory.block(0).zone is Zone.MOVABLE


@pytest.mark.parametrize(
    ("text", "source", "kind"),
    [("blocks = [", "bad.toml", "TOML"), ('{"blocks": ', "bad.json", "JSON"), ("{", "x", "TOML")],
)
def test_syntax_errors_name_the_file_and_format(text: str, source: str, kind: str) -> None:
    """A file that does not decode is a LayoutError naming the file and its format."""
    with pytest.raises(LayoutError, match=f"^{source}: not valid {kind}: "):
        parse_layout(text, source)


def block(**fields: Any) -> dict[str, Any]:
    """A one-range layout document; a range needs first and node."""
    return {"blocks": [{"first": 0, "node": 0, **fields}]}


BAD_LAYOUTS: list[tuple[object, str]] = [
    ([1, 2], "the document must be a table/object"),
    ({"colour": "red"}, "colour: unknown field"),
    ({"page_size": "4k"}, "page_size must be an integer"),
    ({"block_size_bytes": True}, "block_size_bytes must be an integer"),
    ({"page_size": 3000}, "page_size must be a power of two"),
    ({"block_size_bytes": 3 * 2**20}, "block_size_bytes must be a power of two"),
    ({"page_size": 8192, "block_size_bytes": 4096}, "block_size_bytes must be a multiple"),
    ({"highmem": "yes"}, "highmem must be true or false"),
    ({"auto_online_blocks": "always"}, "auto_online_blocks must be one of offline, online"),
    ({"nodes": 3}, "nodes must be a list"),
    ({"nodes": [0, "one"]}, "nodes[1] must be a node id in 0..1023"),
    ({"nodes": [1024]}, "nodes[0] must be a node id"),
    ({"nodes": [True]}, "nodes[0] must be a node id"),
    ({"blocks": {"first": 0}}, "blocks must be a list"),
    ({"blocks": [block()["blocks"][0], 5]}, "blocks[1] must be a table/object"),
    (block(colour="red"), "blocks[0].colour: unknown field"),
    ({"blocks": [{"node": 0}]}, "blocks[0].first and blocks[0].node are required"),
    ({"blocks": [{"first": 0}]}, "blocks[0].first and blocks[0].node are required"),
    (block(first=-1), "blocks[0].first must be at least 0"),
    (block(first=1.5), "blocks[0].first must be an integer"),
    (block(count=0), "blocks[0].count must be at least 1"),
    (block(first=MAX_BLOCKS - 1, count=2), "blocks[0].first+count exceeds 65536"),
    (block(node=-1), "blocks[0].node must be a node id in 0..1023"),
    (block(node="0"), "blocks[0].node must be a node id"),
    (block(state="going-offline"), "blocks[0].state must be one of offline, online"),
    (block(default_zone="DMA"), "blocks[0].default_zone must be one of Normal, Movable"),
    (block(zone="HighMem"), "blocks[0].zone must be one of Normal, Movable"),
    (block(removable="no"), "blocks[0].removable must be true or false"),
    (block(isolation_fails=1), "blocks[0].isolation_fails must be true or false"),
    (block(unmovable_pages=None), "blocks[0].unmovable_pages must be true or false"),
    (block(migration_ms=600_001), "blocks[0].migration_ms must be at most 600000"),
    (block(migration_ms=-1), "blocks[0].migration_ms must be at least 0"),
    (block(migration_ms="1s"), "blocks[0].migration_ms must be an integer"),
    (
        {"blocks": [{"first": 0, "count": 4, "node": 0}, {"first": 3, "node": 1}]},
        "blocks[1].first: block 3 is defined twice",
    ),
]


@pytest.mark.parametrize(("doc", "message"), BAD_LAYOUTS)
def test_layout_errors_name_source_and_field(doc: object, message: str) -> None:
    """Every bad layout is a LayoutError starting with the source and naming the field."""
    with pytest.raises(LayoutError) as info:
        build_layout(doc, "rack.toml")
    assert str(info.value).startswith("rack.toml: ")
    assert message in str(info.value)


def test_highmem_zone_is_allowed_in_the_highmem_model() -> None:
    """HighMem is a valid zone only when highmem is true; then errors list it too."""
    memory = build_layout({"highmem": True, **block(state="online", zone="HighMem")})
    assert memory.block(0).zone is Zone.HIGHMEM
    with pytest.raises(LayoutError, match="one of Normal, HighMem, Movable"):
        build_layout({"highmem": True, **block(zone="DMA")})


def test_layout_error_from_parse_names_file_and_field() -> None:
    """parse_layout reports a bad field with the file name it was given."""
    with pytest.raises(LayoutError, match=r"^site\.json: blocks\[0\]\.node must be a node id"):
        parse_layout('{"blocks": [{"first": 0, "node": 4096}]}', "site.json")


def test_build_layout_default_source_name() -> None:
    """Without a source name errors say 'layout'."""
    with pytest.raises(LayoutError, match=r"^layout: "):
        build_layout({"highmem": 1})


def test_layout_error_is_a_value_error() -> None:
    """LayoutError is a ValueError."""
    assert issubclass(LayoutError, ValueError)


# --- the built-in default ---------------------------------------------------------------


def test_default_layout_boot_memory_on_node_0() -> None:
    """Default: node 0 has boot memory online in Normal, not removable, plus online Movable."""
    memory = default_layout()
    boot = [memory.block(i) for i in range(8)]
    assert all(b.node == 0 and b.state is BlockState.ONLINE for b in boot)
    assert all(b.zone is Zone.NORMAL and not b.removable for b in boot)
    movable = [memory.block(i) for i in range(8, 12)]
    assert all(b.node == 0 and b.zone is Zone.MOVABLE and b.removable for b in movable)
    assert memory.node_states(0) == set(NodeState)


def test_default_layout_memoryless_nodes_1_and_2() -> None:
    """Default: nodes 1 and 2 are memoryless, with offline removable blocks."""
    memory = default_layout()
    for node, default_zone in [(1, Zone.NORMAL), (2, Zone.MOVABLE)]:
        blocks = list(memory.node_blocks(node))
        assert len(blocks) == 8
        assert all(b.state is BlockState.OFFLINE and b.removable for b in blocks)
        assert all(b.default_zone is default_zone for b in blocks)
        assert memory.node_states(node) == set()
        assert memory.present_pages(node) == {}


def test_default_layout_machine() -> None:
    """Default: 28 blocks on nodes 0-2, default geometry, no highmem, auto-online offline."""
    memory = default_layout()
    assert sorted(memory.blocks) == list(range(28))
    assert memory.nodes == {0, 1, 2}
    assert memory.geometry == Geometry()
    assert (memory.highmem, memory.auto_online_blocks) == (False, "offline")
    assert not any(b.isolation_fails or b.unmovable_pages for b in memory.blocks.values())


# --- snapshots ----------------------------------------------------------------------------


def test_default_layout_round_trips() -> None:
    """memory_from_dict(memory_to_dict(m)) == m for the default layout, through JSON too."""
    memory = default_layout()
    data = memory_to_dict(memory)
    assert memory_from_dict(data) == memory
    assert memory_from_dict(json.loads(json.dumps(data))) == memory


def test_snapshot_keeps_transition_state_and_flags() -> None:
    """A snapshot keeps going-offline blocks, transition ids, flags, empty nodes and highmem."""
    memory = parse_layout(TOML_LAYOUT, "machine.toml")
    going = memory.block(1)
    going.state, going.transition = BlockState.GOING_OFFLINE, "t-42"
    data = memory_to_dict(memory)
    assert data["nodes"] == [0, 1, 3]
    assert [b["id"] for b in data["blocks"]] == [0, 1, 4]
    assert data["blocks"][1] == {
        "id": 1,
        "node": 0,
        "state": "going-offline",
        "zone": "Normal",
        "default_zone": "Normal",
        "removable": False,
        "isolation_fails": False,
        "unmovable_pages": False,
        "migration_ms": 0,
        "transition": "t-42",
    }
    assert memory_from_dict(data) == memory


blocks_strategy = st.dictionaries(
    st.integers(0, 100),
    st.tuples(
        st.sampled_from([0, 1, 1023]),
        st.sampled_from(list(BlockState)),
        st.sampled_from(list(Zone)),
        st.booleans(),
        st.sampled_from([0, 250, 600_000]),
        st.sampled_from([None, "t-1", "t-ü"]),
    ),
    max_size=6,
)


@settings(deadline=None)
@given(blocks_strategy, st.booleans(), st.sampled_from(["offline", "online", "online_movable"]))
def test_snapshot_round_trips(
    raw: dict[int, tuple[int, BlockState, Zone, bool, int, str | None]],
    highmem: bool,
    auto: str,
) -> None:
    """Any machine survives memory_to_dict / JSON / memory_from_dict unchanged."""
    memory = Memory(geometry=Geometry(page_size=4096, block_size_bytes=2**30), highmem=highmem)
    memory.auto_online_blocks = auto
    for block_id, (node, state, zone, flag, migration_ms, transition) in raw.items():
        memory.blocks[block_id] = Block(
            id=block_id,
            node=node,
            state=state,
            zone=None if state is BlockState.OFFLINE else zone,
            default_zone=zone,
            removable=flag,
            isolation_fails=not flag,
            unmovable_pages=flag,
            migration_ms=migration_ms,
            transition=transition,
        )
        memory.nodes.add(node)
    assert memory_from_dict(json.loads(json.dumps(memory_to_dict(memory)))) == memory
