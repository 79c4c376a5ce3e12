"""The ordered chain of subscribers (the kernel's ``notifier_chain_register``).

Order is higher ``priority`` first and, among equal priorities, earlier
registration first. A registration is stamped with a sequence number; a
priority change takes a new one, so the subscriber lands after the existing
subscribers of its new priority, as an unregister + register would. The call
order is therefore exactly ``sorted(key=(-priority, seq))``.
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from app.chain.actions import Action
from app.chain.values import INT32_MAX, INT32_MIN


class FailurePolicy(enum.Enum):
    """What a timeout or absence counts as on a ``MEM_GOING_*`` event."""

    FAIL = "fail"
    IGNORE = "ignore"


class ChainError(Exception):
    """A chain operation that the kernel would refuse (``-EEXIST``, ``-ENOENT``)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One ``notifier_block`` on the chain: who, where, and what it wants."""

    id: str
    name: str
    priority: int = 0
    seq: int = 0
    actions: frozenset[Action] | None = None
    nodes: frozenset[int] | None = None
    timeout_ms: int = 5000
    failure_policy: FailurePolicy = FailurePolicy.FAIL

    def wants(self, action: Action, node: int) -> bool:
        """Whether an event passes this subscriber's filters (else it is not sent)."""
        if self.actions is not None and action not in self.actions:
            return False
        return self.nodes is None or node in self.nodes

    @property
    def order_key(self) -> tuple[int, int]:
        """Sort key of the call order: higher priority first, then registration order."""
        return (-self.priority, self.seq)


class Chain:
    """The subscribers in call order; changes never affect a snapshot taken earlier."""

    def __init__(self, subscriptions: Iterable[Subscription] = ()) -> None:
        self._entries: list[Subscription] = sorted(subscriptions, key=_order_key)
        self._by_id = {entry.id: entry for entry in self._entries}
        if len(self._by_id) != len(self._entries):
            raise ChainError("duplicate subscriber id")
        self._next_seq = max((entry.seq for entry in self._entries), default=0) + 1

    def __iter__(self) -> Iterator[Subscription]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, subscriber_id: object) -> bool:
        return subscriber_id in self._by_id

    def get(self, subscriber_id: str) -> Subscription | None:
        """The subscription with this id, or None."""
        return self._by_id.get(subscriber_id)

    def register(self, subscription: Subscription) -> Subscription:
        """Insert after every subscriber of equal or higher priority; return it stamped."""
        if subscription.id in self._by_id:
            raise ChainError(f"subscriber {subscription.id} is already registered")
        _check_priority(subscription.priority)
        stamped = dataclasses.replace(subscription, seq=self._take_seq())
        bisect.insort(self._entries, stamped, key=_order_key)
        self._by_id[stamped.id] = stamped
        return stamped

    def unregister(self, subscriber_id: str) -> Subscription:
        """Remove a subscriber; ``ChainError`` when it is not registered."""
        entry = self._by_id.pop(subscriber_id, None)
        if entry is None:
            raise ChainError(f"subscriber {subscriber_id} is not registered")
        self._entries.remove(entry)
        return entry

    def update(self, subscriber_id: str, **changes: object) -> Subscription:
        """Change fields of a subscriber; a new priority re-registers it at that priority."""
        current = self._by_id.get(subscriber_id)
        if current is None:
            raise ChainError(f"subscriber {subscriber_id} is not registered")
        if "id" in changes or "seq" in changes:
            raise ChainError("id and seq cannot be changed")
        updated = dataclasses.replace(current, **changes)  # type: ignore[arg-type]
        _check_priority(updated.priority)
        if updated.priority != current.priority:
            self.unregister(subscriber_id)
            return self.register(updated)
        self._entries[self._entries.index(current)] = updated
        self._by_id[subscriber_id] = updated
        return updated

    def snapshot(self) -> tuple[Subscription, ...]:
        """The call order now, frozen for one transition."""
        return tuple(self._entries)

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq


def _order_key(entry: Subscription) -> tuple[int, int]:
    return entry.order_key


def _check_priority(priority: int) -> None:
    if not INT32_MIN <= priority <= INT32_MAX:
        raise ChainError(f"priority {priority} is not a 32-bit signed int")
