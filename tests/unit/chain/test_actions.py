"""The memory notifier actions (SPEC §6, kernel-notes §1.2)."""

from __future__ import annotations

from app.chain.actions import ACTIONS_BY_NAME, Action


def test_action_values_are_the_v4_20_to_v5_15_bits() -> None:
    """Action values are the bit flags of the kernels whose memory_notify matches the seed."""
    assert {a.name: a.value for a in Action} == {
        "MEM_ONLINE": 1,
        "MEM_GOING_OFFLINE": 2,
        "MEM_OFFLINE": 4,
        "MEM_GOING_ONLINE": 8,
        "MEM_CANCEL_ONLINE": 16,
        "MEM_CANCEL_OFFLINE": 32,
    }


def test_only_going_actions_can_veto() -> None:
    """Only MEM_GOING_ONLINE and MEM_GOING_OFFLINE results are looked at."""
    assert {a for a in Action if a.can_veto} == {Action.MEM_GOING_ONLINE, Action.MEM_GOING_OFFLINE}


def test_cancel_actions() -> None:
    """MEM_CANCEL_ONLINE and MEM_CANCEL_OFFLINE are the cancel broadcasts."""
    assert {a for a in Action if a.is_cancel} == {
        Action.MEM_CANCEL_ONLINE,
        Action.MEM_CANCEL_OFFLINE,
    }


def test_actions_by_name() -> None:
    """Every action can be looked up by its wire name."""
    assert {a.name: a for a in Action} == ACTIONS_BY_NAME
    assert len(ACTIONS_BY_NAME) == 6
