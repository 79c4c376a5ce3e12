"""One walk of the chain as a sans-I/O state machine (``notifier_call_chain``).

The caller asks ``next_call()`` who is next, delivers the event however it
likes, and feeds back what happened: ``receive_reply``, ``receive_timeout``,
``receive_absence``, ``receive_disconnect`` or ``skip_unregistered``. The
walk applies the failure policy, stops on the stop bit, and keeps the value of
the last subscriber called as its ``result``. Nothing here waits or does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from app.chain.actions import Action
from app.chain.chain import FailurePolicy, Subscription
from app.chain.values import (
    ENOTCONN,
    ETIMEDOUT,
    NOTIFY_DONE,
    notifier_from_errno,
    notifier_to_errno,
    stops_walk,
)


class DeliveryKind(enum.Enum):
    """How a call ended."""

    REPLIED = "replied"
    TIMEOUT = "timeout"
    DISCONNECTED = "disconnected"
    UNREGISTERED = "unregistered"


class CancelScope(enum.Enum):
    """Who gets ``MEM_CANCEL_*``: the whole chain (kernel) or the notified prefix (robust)."""

    CHAIN = "chain"
    NOTIFIED = "notified"


class WalkError(Exception):
    """The walk was driven out of order (a reply with no call pending, ...)."""


@dataclass(frozen=True, slots=True)
class Call:
    """One call of a walk, as the transition record shows it."""

    subscriber: str
    name: str
    priority: int
    delivery: DeliveryKind
    value: int
    errno: int
    message: str | None = None
    latency_ms: float = 0.0
    delivered: bool = True

    @property
    def counts(self) -> bool:
        """Whether this call took part in the walk (an unregistered skip did not)."""
        return self.delivery is not DeliveryKind.UNREGISTERED


class Walk:
    """Calls each subscriber of a snapshot in order, one at a time."""

    def __init__(self, action: Action, targets: Sequence[Subscription], node: int) -> None:
        self.action = action
        self.calls: list[Call] = []
        self.result = NOTIFY_DONE
        self.stopped_by: int | None = None
        self._targets = [t for t in targets if t.wants(action, node)]
        self._position = 0
        self._pending: Subscription | None = None

    @property
    def done(self) -> bool:
        """No more calls to make."""
        return self._pending is None and (
            self.stopped_by is not None or self._position >= len(self._targets)
        )

    @property
    def errno(self) -> int:
        """The veto errno: ``notifier_to_errno(result)`` on ``MEM_GOING_*``, else 0."""
        return notifier_to_errno(self.result) if self.action.can_veto else 0

    @property
    def vetoer(self) -> Call | None:
        """The call whose value vetoed the transition (the last one called), if any."""
        if not self.errno:
            return None
        return next(call for call in reversed(self.calls) if call.counts)

    @property
    def notified(self) -> list[str]:
        """Subscribers that got this walk's event, in order (a vetoer excluded)."""
        vetoer = self.vetoer
        return [c.subscriber for c in self.calls if c.counts and c.delivered and c is not vetoer]

    def next_call(self) -> Subscription | None:
        """The subscriber to call now (the same one until it is answered), or None."""
        if self._pending is None and not self.done:
            self._pending = self._targets[self._position]
            self._position += 1
        return self._pending

    def receive_reply(
        self, value: int, message: str | None = None, latency_ms: float = 0.0
    ) -> None:
        """The pending subscriber replied with a notifier value."""
        self._finish(DeliveryKind.REPLIED, value, notifier_to_errno(value), message, latency_ms)

    def receive_timeout(self, latency_ms: float = 0.0, delivered: bool = True) -> None:
        """The pending subscriber did not reply in time (``delivered``: it was sent the event)."""
        value = self._failure_value(ETIMEDOUT)
        self._finish(DeliveryKind.TIMEOUT, value, ETIMEDOUT, None, latency_ms, delivered)

    def receive_absence(self) -> None:
        """The pending subscriber was not connected when its turn came."""
        value = self._failure_value(ENOTCONN)
        self._finish(DeliveryKind.DISCONNECTED, value, ENOTCONN, None, 0.0, delivered=False)

    def receive_disconnect(self, latency_ms: float = 0.0) -> None:
        """The connection dropped while the reply was awaited and did not come back."""
        value = self._failure_value(ENOTCONN)
        self._finish(DeliveryKind.DISCONNECTED, value, ENOTCONN, None, latency_ms)

    def skip_unregistered(self) -> None:
        """The pending subscriber was removed since the snapshot: skipped, recorded."""
        self._finish(DeliveryKind.UNREGISTERED, NOTIFY_DONE, 0, None, 0.0)

    def _failure_value(self, err: int) -> int:
        pending = self._require_pending()
        if self.action.can_veto and pending.failure_policy is FailurePolicy.FAIL:
            return notifier_from_errno(err)
        return NOTIFY_DONE

    def _require_pending(self) -> Subscription:
        if self._pending is None:
            raise WalkError("no call is pending; ask next_call() first")
        return self._pending

    def _finish(
        self,
        delivery: DeliveryKind,
        value: int,
        errno: int,
        message: str | None,
        latency_ms: float,
        delivered: bool = True,
    ) -> None:
        who = self._require_pending()
        self._pending = None
        call = Call(
            who.id, who.name, who.priority, delivery, value, errno, message, latency_ms, delivered
        )
        self.calls.append(call)
        if not call.counts:
            return
        self.result = value
        if stops_walk(value):
            self.stopped_by = len(self.calls) - 1


def cancel_targets(
    snapshot: Sequence[Subscription], going: Walk | None, scope: CancelScope
) -> list[Subscription]:
    """Who gets the ``MEM_CANCEL_*`` walk after a failed ``MEM_GOING_*``.

    ``chain``: everyone, from the top (``memory_notify`` in the kernel).
    ``notified``: those that got the ``GOING_*`` event and did not veto it,
    in chain order (``notifier_call_chain_robust``).
    """
    if scope is CancelScope.CHAIN:
        return list(snapshot)
    notified = set(going.notified) if going is not None else set()
    return [entry for entry in snapshot if entry.id in notified]
