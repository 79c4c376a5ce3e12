"""The client's own copy of the wire models (SPEC §3, §5, §6, §7).

REST bodies are ``TypedDict``s: plain JSON objects as the service sends them,
typed for the reader, never validated, so a field the service adds later
passes through untouched. Keys marked ``NotRequired`` are the ones SPEC does
not promise on every object.

The subscriber channel's ``notify`` frame is parsed into frozen dataclasses
(`Notification`, `MemoryNotify`), because handlers rely on every field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

from clients.notifier import ACTIONS, GOING_ACTIONS

JSON = dict[str, Any]

BlockState = Literal["online", "offline", "going-offline"]
OnlineType = Literal["online", "online_kernel", "online_movable"]
Outcome = Literal["completed", "cancelled", "failed", "aborted", "pending", "running"]
FailurePolicy = Literal["fail", "ignore"]
Delivery = Literal["replied", "timeout", "disconnected", "unregistered"]

ONLINE_TYPES: tuple[OnlineType, ...] = ("online", "online_kernel", "online_movable")
FAILURE_POLICIES: tuple[FailurePolicy, ...] = ("fail", "ignore")


class MemoryNotifyArg(TypedDict):
    """The ``memory_notify`` argument as JSON (SPEC §3)."""

    start_pfn: int
    nr_pages: int
    status_change_nid_normal: int
    status_change_nid_high: int
    status_change_nid: int


class Block(TypedDict):
    """One memory block (SPEC §1)."""

    id: int
    start_pfn: int
    nr_pages: int
    node: int
    state: BlockState
    zone: str | None
    removable: bool
    valid_zones: list[str]
    transition: str | None
    isolation_fails: NotRequired[bool]
    unmovable_pages: NotRequired[bool]
    migration_ms: NotRequired[int]


class NodeInfo(TypedDict):
    """One NUMA node of ``GET /memory``."""

    id: int
    states: list[str]
    present_pages: NotRequired[dict[str, int]]


class MemoryInfo(TypedDict):
    """``GET /api/v1/memory``."""

    block_size_bytes: int
    page_size: int
    auto_online_blocks: str
    nodes: list[NodeInfo]
    summary: NotRequired[JSON]


class VetoedBy(TypedDict, total=False):
    """Who vetoed a transition (SPEC §5)."""

    subscriber: str
    name: str
    errno: int
    errno_name: str | None
    message: str | None


class Call(TypedDict, total=False):
    """One call of a walk in a transition record."""

    subscriber: str
    name: str
    priority: int
    delivery: Delivery
    result: str | None
    value: int | None
    errno: int | None
    message: str | None
    latency_ms: float | None


class Walk(TypedDict, total=False):
    """One walk of the chain: its action and calls in order."""

    action: str
    action_value: int
    calls: list[Call]
    result: str
    value: int
    errno: int | None
    stopped_by: int | None  # index of the call whose stop bit ended the walk
    stopped_by_subscriber: str | None


class Transition(TypedDict, total=False):
    """A transition record (SPEC §5)."""

    id: str
    operation: Literal["online", "offline"]
    block: int
    node: int
    online_type: OnlineType | None
    zone: str | None
    arg: MemoryNotifyArg
    outcome: Outcome
    errno: int | None
    errno_name: str | None
    vetoed_by: VetoedBy | None
    timeout_ms: int | None
    walks: list[Walk]
    created_at: str
    started_at: str | None
    finished_at: str | None


class SubscriberInfo(TypedDict, total=False):
    """A registered subscriber, as ``GET /subscribers/{id}`` shows it."""

    id: str
    name: str
    priority: int
    actions: list[str] | None
    nodes: list[int] | None
    timeout_ms: int
    failure_policy: FailurePolicy
    connected: bool
    last_reply: JSON | None
    counters: dict[str, int]


class Registration(SubscriberInfo, total=False):
    """``POST /subscribers``: the subscriber plus its one-time token and channel URL."""

    token: str
    ws_url: str


class ChainEntry(TypedDict, total=False):
    """One position of ``GET /chain``."""

    id: str
    name: str
    priority: int
    connected: bool
    builtin: bool


class ChmemBlockResult(TypedDict, total=False):
    """One block tried by ``POST /memory/chmem``."""

    block: int
    outcome: str
    errno: int | None
    errno_name: str | None
    transition: str | Transition | None
    vetoed_by: VetoedBy | None
    detail: str


class ChmemResult(TypedDict, total=False):
    """``POST /memory/chmem``."""

    results: list[ChmemBlockResult]
    succeeded: int
    failed: int


class ProbeResult(TypedDict, total=False):
    """``POST /memory/probe``: the new blocks and any auto-online transitions."""

    blocks: list[Block]
    transitions: list[Transition]


class ErrorInjection(TypedDict, total=False):
    """``GET/PUT /debug/notifier-error-inject``."""

    enabled: bool
    priority: int
    actions: dict[str, int]


class ProtocolError(ValueError):
    """A frame from the service that does not follow SPEC §6."""


@dataclass(frozen=True, slots=True)
class MemoryNotify:
    """The ``memory_notify`` argument of a notification (SPEC §3)."""

    start_pfn: int
    nr_pages: int
    status_change_nid_normal: int = -1
    status_change_nid_high: int = -1
    status_change_nid: int = -1

    @property
    def end_pfn(self) -> int:
        """One past the last page frame of the range."""
        return self.start_pfn + self.nr_pages

    @classmethod
    def from_wire(cls, arg: Mapping[str, Any]) -> MemoryNotify:
        """Parse the ``arg`` object; the ``status_change_nid*`` fields default to -1."""
        return cls(
            start_pfn=_int(arg, "start_pfn"),
            nr_pages=_int(arg, "nr_pages"),
            status_change_nid_normal=_int(arg, "status_change_nid_normal", -1),
            status_change_nid_high=_int(arg, "status_change_nid_high", -1),
            status_change_nid=_int(arg, "status_change_nid", -1),
        )


@dataclass(frozen=True, slots=True)
class Notification:
    """One ``notify`` frame: a subscriber is asked about one event of one transition."""

    id: int
    transition: str
    action: str
    action_value: int
    arg: MemoryNotify
    block: int
    node: int
    timeout_ms: int

    @property
    def is_going(self) -> bool:
        """Whether this is a ``MEM_GOING_*`` event, the only kind a reply can veto."""
        return self.action in GOING_ACTIONS

    @classmethod
    def from_wire(cls, frame: Mapping[str, Any]) -> Notification:
        """Parse a ``notify`` frame; raises ProtocolError when a field is missing or mistyped."""
        arg = frame.get("arg")
        action = frame.get("action")
        if not isinstance(arg, Mapping) or not isinstance(action, str):
            raise ProtocolError("notify frame without a valid 'action' and 'arg'")
        transition = frame.get("transition")
        return cls(
            id=_int(frame, "id"),
            transition=str(transition) if transition is not None else "",
            action=action,
            action_value=_int(frame, "action_value", ACTIONS.get(action, 0)),
            arg=MemoryNotify.from_wire(arg),
            block=_int(frame, "block"),
            node=_int(frame, "node"),
            timeout_ms=_int(frame, "timeout_ms", 5000),
        )

    def to_wire(self) -> JSON:
        """The frame as the service sends it (for logs and JSON output)."""
        return {
            "type": "notify",
            "id": self.id,
            "transition": self.transition,
            "action": self.action,
            "action_value": self.action_value,
            "arg": {
                "start_pfn": self.arg.start_pfn,
                "nr_pages": self.arg.nr_pages,
                "status_change_nid_normal": self.arg.status_change_nid_normal,
                "status_change_nid_high": self.arg.status_change_nid_high,
                "status_change_nid": self.arg.status_change_nid,
            },
            "block": self.block,
            "node": self.node,
            "timeout_ms": self.timeout_ms,
        }


_MISSING: Any = object()


def _int(obj: Mapping[str, Any], key: str, default: int = _MISSING) -> int:
    value = obj.get(key, default)
    if value is _MISSING:
        raise ProtocolError(f"missing field {key!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"field {key!r} is not an integer: {value!r}")
    return value
