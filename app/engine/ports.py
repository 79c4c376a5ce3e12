"""The engine's ports: what it needs from the outside world, as Protocols.

The engine is asyncio-only and never imports a web framework, a database
driver or a websocket library. It talks to them through these shapes:

- ``Delivery``: "send this notification to that subscriber and wait (bounded)
  for its reply" — implemented by ``app.transport.hub.Hub``.
- ``Storage``: durable state — implemented by ``app.storage``.
- ``EventPublisher``: "this changed" for dashboards — implemented by
  ``app.engine.events.EventBus``.

Failure of a delivery is an exception from this tree::

    DeliveryFailed
    ├── NotConnected   the subscriber had no connection when its turn came
    └── Disconnected   the connection dropped while the reply was awaited and
                       no new connection answered before the deadline

and a plain ``TimeoutError`` when the subscriber was connected but did not
reply in time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notification:
    """One ``notify`` frame (SPEC §6): what a subscriber is asked."""

    id: int
    transition: str
    action: str
    action_value: int
    arg: Mapping[str, int]
    block: int
    node: int
    timeout_ms: int

    def to_wire(self) -> JSON:
        """The JSON object sent on the subscriber channel."""
        return {
            "type": "notify",
            "id": self.id,
            "transition": self.transition,
            "action": self.action,
            "action_value": self.action_value,
            "arg": dict(self.arg),
            "block": self.block,
            "node": self.node,
            "timeout_ms": self.timeout_ms,
        }


@dataclass(frozen=True, slots=True)
class Reply:
    """A subscriber's usable reply, already validated by the transport.

    ``value`` is the notifier value the reply stands for: the named or integer
    ``result``, or ``notifier_from_errno(errno)`` when an errno was given.
    """

    value: int
    errno: int | None = None
    message: str | None = None


class DeliveryFailed(Exception):
    """A notification could not be answered by its subscriber."""


class NotConnected(DeliveryFailed):
    """The subscriber was not connected when its turn came."""


class Disconnected(DeliveryFailed):
    """The connection dropped while awaiting the reply, and none came back in time."""


class StorageFailure(Exception):
    """The storage could not do what was asked (the implementation's errors derive from it)."""


class Delivery(Protocol):
    """Sends notifications to subscribers over their live connection."""

    def is_connected(self, subscriber_id: str) -> bool:
        """Whether the subscriber has a live connection now."""
        ...

    async def deliver(
        self, subscriber_id: str, notification: Notification, timeout: float
    ) -> Reply:
        """Send ``notification`` and wait at most ``timeout`` seconds for its reply.

        Raises ``NotConnected`` at once when there is no connection,
        ``Disconnected`` when it dropped and no reconnection answered before
        the deadline (a reconnection within the deadline gets the same
        notification again, same id), ``TimeoutError`` otherwise.
        """
        ...

    async def drop(self, subscriber_id: str, code: int, reason: str) -> None:
        """Close the subscriber's connection, if any, with a close code (4004, 1001)."""
        ...


class EventPublisher(Protocol):
    """Takes state changes for the dashboard event stream (SPEC §7)."""

    def publish(self, type_: str, data: JSON, subject: str | None = None) -> None:
        """Record and fan out one event; never blocks, never raises."""
        ...


@dataclass(slots=True)
class StoredState:
    """Everything ``Storage.open`` returns to rebuild the service after a restart."""

    memory: JSON | None = None
    subscribers: list[JSON] = field(default_factory=list)
    settings: dict[str, JSON] = field(default_factory=dict)
    unfinished: list[JSON] = field(default_factory=list)
    last_transition_seq: int = 0


@dataclass(slots=True)
class Batch:
    """One atomic write: all of it lands, or none of it does.

    Transition records are upserted by ``id`` and must carry ``id``, ``seq``,
    ``operation``, ``block``, ``node``, ``outcome`` and ``created_at``.
    Subscribers are upserted by ``id`` and carry ``seq`` (registration order).
    """

    transitions: Sequence[JSON] = ()
    memory: JSON | None = None
    subscribers: Sequence[JSON] = ()
    deleted_subscribers: Sequence[str] = ()
    settings: Mapping[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TransitionQuery:
    """A page of history, newest first."""

    limit: int = 50
    before_seq: int | None = None
    operation: str | None = None
    block: int | None = None
    node: int | None = None
    outcome: str | None = None


class Storage(Protocol):
    """Durable state behind one port (SQLite by default, PostgreSQL on request)."""

    async def open(self) -> StoredState:
        """Create or migrate the schema, then load what a restart needs."""
        ...

    async def write(self, batch: Batch) -> None:
        """Apply one batch atomically."""
        ...

    async def get_transition(self, transition_id: str) -> JSON | None:
        """One transition record by id, or None."""
        ...

    async def list_transitions(self, query: TransitionQuery) -> list[JSON]:
        """Transition records matching ``query``, newest (highest seq) first."""
        ...

    async def prune_transitions(self, keep: int) -> int:
        """Delete finished transitions beyond the newest ``keep``; return how many."""
        ...

    async def close(self) -> None:
        """Flush and release the database; idempotent."""
        ...
