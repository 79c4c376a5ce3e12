"""The memory notifier actions and their bit values.

``action_value`` pins the numbering of the kernels whose ``struct
memory_notify`` matches the seed (v4.20–v5.15, ``#define MEM_* (1<<n)``);
newer kernels renumbered them as an enum (kernel-notes §1.2).
"""

from __future__ import annotations

import enum


class Action(enum.Enum):
    """A memory hotplug notifier action; the value is its bit (SPEC §6)."""

    MEM_ONLINE = 1
    MEM_GOING_OFFLINE = 2
    MEM_OFFLINE = 4
    MEM_GOING_ONLINE = 8
    MEM_CANCEL_ONLINE = 16
    MEM_CANCEL_OFFLINE = 32

    @property
    def can_veto(self) -> bool:
        """Only ``MEM_GOING_*`` results are looked at; the rest are ignored."""
        return self is Action.MEM_GOING_ONLINE or self is Action.MEM_GOING_OFFLINE

    @property
    def is_cancel(self) -> bool:
        """A ``MEM_CANCEL_*`` broadcast."""
        return self is Action.MEM_CANCEL_ONLINE or self is Action.MEM_CANCEL_OFFLINE


ACTIONS_BY_NAME: dict[str, Action] = {action.name: action for action in Action}
