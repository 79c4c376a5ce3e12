"""One transition request from queue to history, and its record (SPEC §5).

A ``Run`` wraps the pure ``Transition`` with what the service adds: an id, the
chain snapshot, the walks made, timestamps, the request's overall deadline,
and the future the HTTP request waits on. Its ``record()`` is both the
journal entry and the API's transition record.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Any

from app.chain.chain import Subscription
from app.chain.values import errno_name, result_name
from app.chain.walk import Walk
from app.engine.registry import (
    call_to_json,
    subscription_from_json,
    subscription_to_json,
    utcnow,
)
from app.memory.model import Memory, OnlineType, Zone
from app.memory.notify import MemoryNotify
from app.memory.transition import Operation, Outcome, Phase, Transition

JSON = dict[str, Any]


class Run:
    """A transition request and everything recorded about it."""

    def __init__(
        self,
        seq: int,
        transition: Transition,
        node: int,
        timeout_ms: int | None = None,
    ) -> None:
        self.seq = seq
        self.id = f"tr-{seq}"
        self.transition = transition
        self.node = node
        self.timeout_ms = timeout_ms
        self.outcome = Outcome.PENDING
        self.errno = 0
        self.vetoed_by: JSON | None = None
        self.snapshot: tuple[Subscription, ...] = ()
        self.walks: list[Walk] = []
        self.walk_ids: list[int] = []  # the first notification id of each walk
        self.resume_first_id: int | None = None
        self.prior_walks: list[JSON] = []
        self.created_at = utcnow()
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.deadline: float | None = None
        self._snapshot_json: tuple[tuple[Subscription, ...], list[JSON]] | None = None
        self._walks_json: dict[int, JSON] = {}
        self.interrupted_going = False
        self.abort_requested = asyncio.Event()
        self.done: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()

    @property
    def operation(self) -> Operation:
        """Online or offline."""
        return self.transition.operation

    def going_notified(self) -> set[str]:
        """Who got this run's ``MEM_GOING_*`` event and did not veto it."""
        for walk in self.walks:
            if walk.action.can_veto:
                return set(walk.notified)
        if self.interrupted_going:
            # A crash cut the walk short: who got the event is not known for
            # sure, so everyone gets the cancel (subscribers tolerate that).
            return {entry.id for entry in self.snapshot}
        vetoer = (self.vetoed_by or {}).get("subscriber")
        for walk_json in self.prior_walks[:1]:
            calls = walk_json["calls"]
            return {c["subscriber"] for c in calls if c.get("sent")} - {vetoer}
        return set()

    def record(self) -> JSON:
        """The transition record: the journal entry and the API's answer."""
        t = self.transition
        online = self.operation is Operation.ONLINE
        return {
            "id": self.id,
            "seq": self.seq,
            "operation": self.operation.value,
            "block": t.block_id,
            "node": self.node,
            "online_type": t.online_type.value if online else None,
            "zone": t.zone.value if t.zone else None,
            "arg": t.arg.to_dict() if t.arg else None,
            "outcome": self.outcome.value,
            "errno": self.errno or None,
            "errno_name": errno_name(self.errno) if self.errno else None,
            "vetoed_by": self.vetoed_by,
            "timeout_ms": self.timeout_ms,
            "phase": t.phase.value,
            "abort_requested": t.aborted,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "snapshot": self.snapshot_json(),
            "walks": self.prior_walks + [self._walk_json(i, w) for i, w in enumerate(self.walks)],
        }

    def snapshot_json(self) -> list[JSON]:
        """The chain snapshot as JSON, built once per snapshot (it never changes)."""
        if self._snapshot_json is None or self._snapshot_json[0] is not self.snapshot:
            self._snapshot_json = (self.snapshot, _snapshot_to_json(self.snapshot))
        return self._snapshot_json[1]

    def _walk_json(self, index: int, walk: Walk) -> JSON:
        """A walk's JSON; a finished walk never changes, so it is built once."""
        cached = self._walks_json.get(index)
        if cached is not None:
            return cached
        data = {**walk_to_json(walk), "first_notification_id": self.walk_ids[index]}
        if walk.done:
            self._walks_json[index] = data
        return data

    @classmethod
    def from_record(cls, record: JSON, memory: Memory) -> Run:
        """Rebuild an unfinished run from its journal entry (crash recovery)."""
        operation = Operation(record["operation"])
        online_type = OnlineType(record["online_type"]) if record["online_type"] else None
        transition = Transition(memory, operation, record["block"], online_type)
        transition.phase = Phase(record["phase"])
        transition.zone = Zone(record["zone"]) if record["zone"] else None
        transition.arg = MemoryNotify(**record["arg"]) if record["arg"] else None
        transition.aborted = record["abort_requested"]
        run = cls(record["seq"], transition, record["node"], record["timeout_ms"])
        run.created_at = record["created_at"]
        run.started_at = record["started_at"]
        run.vetoed_by = record["vetoed_by"]
        run.snapshot = tuple(subscription_from_json(s) for s in record["snapshot"])
        run.prior_walks = list(record["walks"])
        run.interrupted_going = transition.phase is Phase.GOING
        return run

    def resume_interrupted(self, action: str) -> None:
        """Redo the journaled walk a crash cut short with the same notification ids.

        A completion or cancel walk is journaled before its first call; after
        a crash it is walked again from the top, and each subscriber gets the
        same id it may already have seen (a resend, answered once).
        """
        if self.prior_walks and self.prior_walks[-1]["action"] == action:
            interrupted = self.prior_walks.pop()
            self.resume_first_id = interrupted.get("first_notification_id")


def walk_to_json(walk: Walk) -> JSON:
    """One walk as the record shows it."""
    stopped = walk.stopped_by
    return {
        "action": walk.action.name,
        "action_value": walk.action.value,
        "calls": [call_to_json(c) for c in walk.calls],
        "result": result_name(walk.result),
        "value": walk.result,
        "errno": walk.errno or None,
        "stopped_by": stopped,
        "stopped_by_subscriber": walk.calls[stopped].subscriber if stopped is not None else None,
    }


def summary(record: JSON) -> JSON:
    """The short form of a record for the event stream."""
    keys = ("id", "operation", "block", "node", "outcome", "errno", "errno_name", "vetoed_by")
    return {key: record[key] for key in keys}


def _snapshot_to_json(snapshot: tuple[Subscription, ...]) -> list[JSON]:
    """A snapshot as JSON, shared by consecutive runs while the chain is unchanged.

    Subscriptions are immutable and the chain keeps its entry objects until
    they change, so the same entries (by identity) mean the same JSON: a
    10,000-subscriber chain is converted once, not once per transition.
    """
    global _last_snapshot  # a one-entry cache
    previous, data = _last_snapshot
    if len(previous) == len(snapshot) and all(map(operator.is_, previous, snapshot)):
        return data
    data = [subscription_to_json(s) for s in snapshot]
    _last_snapshot = (snapshot, data)
    return data


_last_snapshot: tuple[tuple[Subscription, ...], list[JSON]] = ((), [])
