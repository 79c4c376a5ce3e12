"""Registered subscribers: the chain plus what the service knows about each.

The chain (``app.chain``) holds order and filters; this adds names to
tokens, counters and last replies, and the JSON shapes that storage and the
API use.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.chain.actions import Action
from app.chain.chain import Chain, FailurePolicy, Subscription
from app.chain.values import errno_name, result_name
from app.chain.walk import Call, DeliveryKind
from app.engine.auth import hash_token, new_token, token_matches
from app.engine.events import rfc3339_ms

JSON = dict[str, Any]


def utcnow() -> str:
    """An RFC 3339 UTC timestamp with milliseconds."""
    return rfc3339_ms(time.time_ns() // 1_000_000)


@dataclass(slots=True)
class SubscriberInfo:
    """What the chain does not hold: secrets, counters, history."""

    token_hash: str
    registered_at: str
    calls: int = 0
    vetoes: int = 0
    timeouts: int = 0
    disconnected: int = 0
    last_reply: JSON | None = None
    dirty: bool = field(default=False, compare=False)


class Registry:
    """The registered subscribers and their chain."""

    def __init__(self, is_connected: Callable[[str], bool] = lambda _id: False) -> None:
        self.chain = Chain()
        self.info: dict[str, SubscriberInfo] = {}
        self.is_connected = is_connected
        self._by_hash: dict[str, str] = {}

    def restore(self, stored: Iterable[JSON], builtin: Iterable[Subscription] = ()) -> None:
        """Rebuild from storage (order kept by ``seq``), with built-in entries."""
        rows = list(stored)
        self.chain = Chain([*(subscription_from_json(row) for row in rows), *builtin])
        for row in rows:
            self.info[row["id"]] = SubscriberInfo(
                token_hash=row["token_hash"],
                registered_at=row["registered_at"],
                calls=row.get("calls", 0),
                vetoes=row.get("vetoes", 0),
                timeouts=row.get("timeouts", 0),
                disconnected=row.get("disconnected", 0),
                last_reply=row.get("last_reply"),
            )
            self._by_hash[row["token_hash"]] = row["id"]

    def register(self, subscription: Subscription) -> tuple[Subscription, str]:
        """Add a subscriber (with a fresh id when it has none); return it and its token."""
        if not subscription.id:
            subscription = dataclasses.replace(subscription, id=f"sub-{secrets.token_hex(6)}")
        stamped = self.chain.register(subscription)
        token = new_token()
        self.info[stamped.id] = SubscriberInfo(hash_token(token), utcnow())
        self._by_hash[self.info[stamped.id].token_hash] = stamped.id
        return stamped, token

    def update(self, subscriber_id: str, **changes: Any) -> Subscription:
        """Change priority, filters, timeout or policy."""
        return self.chain.update(subscriber_id, **changes)

    def unregister(self, subscriber_id: str) -> Subscription:
        """Remove a subscriber."""
        removed = self.chain.unregister(subscriber_id)
        self._by_hash.pop(self.info.pop(subscriber_id).token_hash, None)
        return removed

    def get(self, subscriber_id: str) -> Subscription | None:
        """A subscriber by id."""
        return self.chain.get(subscriber_id)

    def authenticate(self, subscriber_id: str, token: str) -> JSON | None:
        """The public form of a subscriber when ``token`` is its token, else None."""
        info = self.info.get(subscriber_id)
        if info is None or not token_matches(token, info.token_hash):
            return None
        return self.public(subscriber_id)

    def owner_of(self, token: str) -> str | None:
        """The subscriber a token belongs to (its hash is the lookup key), or None."""
        return self._by_hash.get(hash_token(token))

    def record_call(self, call: Call, action: Action) -> None:
        """Count one call and remember it as the last reply."""
        info = self.info.get(call.subscriber)
        if info is None:
            return
        info.calls += 1
        info.dirty = True
        if call.delivery is DeliveryKind.TIMEOUT:
            info.timeouts += 1
        elif call.delivery is DeliveryKind.DISCONNECTED:
            info.disconnected += 1
        info.last_reply = {
            "action": action.name,
            "delivery": call.delivery.value,
            "result": result_name(call.value),
            "value": call.value,
            "errno": call.errno or None,
            "message": call.message,
            "latency_ms": call.latency_ms,
            "at": utcnow(),
        }

    def record_veto(self, subscriber_id: str) -> None:
        """Count a veto by the subscriber whose value vetoed a transition."""
        info = self.info.get(subscriber_id)
        if info is not None:
            info.vetoes += 1
            info.dirty = True

    def public(self, subscriber_id: str) -> JSON:
        """What the API shows of a subscriber."""
        entry = self.chain.get(subscriber_id)
        info = self.info[subscriber_id]
        assert entry is not None
        return {
            **subscription_to_json(entry),
            "connected": self.is_connected(subscriber_id),
            "registered_at": info.registered_at,
            "last_reply": info.last_reply,
            "counters": {
                "calls": info.calls,
                "vetoes": info.vetoes,
                "timeouts": info.timeouts,
                "disconnected": info.disconnected,
            },
        }

    def stored(self, subscriber_id: str) -> JSON:
        """What storage keeps of a subscriber (the token only as a hash)."""
        entry = self.chain.get(subscriber_id)
        info = self.info[subscriber_id]
        assert entry is not None
        info.dirty = False
        return {
            **subscription_to_json(entry),
            "token_hash": info.token_hash,
            "registered_at": info.registered_at,
            "calls": info.calls,
            "vetoes": info.vetoes,
            "timeouts": info.timeouts,
            "disconnected": info.disconnected,
            "last_reply": info.last_reply,
        }

    def dirty(self) -> list[JSON]:
        """Stored forms of the subscribers whose counters changed since last saved."""
        return [self.stored(i) for i, info in self.info.items() if info.dirty and i in self.chain]


def subscription_to_json(entry: Subscription) -> JSON:
    """A subscription as JSON (order fields included)."""
    return {
        "id": entry.id,
        "name": entry.name,
        "priority": entry.priority,
        "seq": entry.seq,
        "actions": sorted(a.name for a in entry.actions) if entry.actions is not None else None,
        "nodes": sorted(entry.nodes) if entry.nodes is not None else None,
        "timeout_ms": entry.timeout_ms,
        "failure_policy": entry.failure_policy.value,
    }


def subscription_from_json(row: JSON) -> Subscription:
    """The inverse of ``subscription_to_json``."""
    actions = row.get("actions")
    nodes = row.get("nodes")
    return Subscription(
        id=row["id"],
        name=row["name"],
        priority=row["priority"],
        seq=row["seq"],
        actions=frozenset(Action[a] for a in actions) if actions is not None else None,
        nodes=frozenset(nodes) if nodes is not None else None,
        timeout_ms=row["timeout_ms"],
        failure_policy=FailurePolicy(row["failure_policy"]),
    )


def call_to_json(call: Call) -> JSON:
    """One call as the transition record shows it."""
    return {
        "subscriber": call.subscriber,
        "name": call.name,
        "priority": call.priority,
        "delivery": call.delivery.value,
        "result": result_name(call.value),
        "value": call.value,
        "errno": call.errno or None,
        "errno_name": errno_name(call.errno) if call.errno else None,
        "message": call.message,
        "latency_ms": round(call.latency_ms, 3),
        "sent": call.delivered and call.counts,
    }
