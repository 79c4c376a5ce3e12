"""Request bodies (validated) and response shapes (documented) of the REST API.

Families follow ``XCreate`` / ``XUpdate`` / ``XPublic``. Every request model
forbids unknown fields, so a typo is a 422 rather than a silent no-op.

The response models (``Public`` subclasses) describe, field for field, the
JSON the routes and the event stream send; the routes build that JSON
themselves and declare these models for the documentation only
(``responses=``), so a model can never drop or rename a field on the wire.
They allow extra fields: clients must ignore fields they do not know.
``tests/e2e/test_openapi_responses.py`` checks real responses against them
with no extra field allowed, so they stay exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema, models_json_schema

from app.chain.actions import ACTIONS_BY_NAME
from app.chain.values import INT32_MAX, INT32_MIN, MAX_ERRNO
from app.memory.model import MAX_NODES

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
NodeId = Annotated[int, Field(ge=0, lt=MAX_NODES)]
TimeoutMs = Annotated[int, Field(ge=1, le=60_000)]
RequestTimeoutMs = Annotated[int, Field(ge=1, le=3_600_000)]
ActionName = Literal[
    "MEM_GOING_ONLINE",
    "MEM_ONLINE",
    "MEM_CANCEL_ONLINE",
    "MEM_GOING_OFFLINE",
    "MEM_OFFLINE",
    "MEM_CANCEL_OFFLINE",
]
assert set(ACTIONS_BY_NAME) == set(ActionName.__args__)  # type: ignore[attr-defined]


class Strict(BaseModel):
    """Unknown fields are errors, and JSON types are taken as they are ("1" is not 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class OnlineRequest(Strict):
    """Online a block: the sysfs ``state`` word and an optional overall timeout."""

    online_type: Literal["online", "online_kernel", "online_movable"] = "online"
    timeout_ms: RequestTimeoutMs | None = None


class OfflineRequest(Strict):
    """Offline a block, with an optional overall timeout."""

    timeout_ms: RequestTimeoutMs | None = None


class BlockUpdate(Strict):
    """An admin's simulation flags on a block."""

    isolation_fails: bool | None = None
    unmovable_pages: bool | None = None
    migration_ms: Annotated[int, Field(ge=0, le=600_000)] | None = None


class MemoryUpdate(Strict):
    """Machine-wide settings an admin may change."""

    auto_online_blocks: Literal["offline", "online", "online_kernel", "online_movable"]


_HEX = re.compile(r"^0[xX][0-9a-fA-F]{1,16}$")


class ProbeRequest(Strict):
    """Hot-add: ``node`` + ``count`` new blocks, or one block at ``phys_addr``."""

    node: NodeId | None = None
    count: Annotated[int, Field(ge=1, le=4096)] | None = None
    phys_addr: str | None = None

    @field_validator("phys_addr")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not _HEX.match(value):
            raise ValueError("phys_addr must be a hex address like 0x80000000")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> ProbeRequest:
        if (self.count is None) == (self.phys_addr is None):
            raise ValueError("give either node and count, or phys_addr")
        if self.count is not None and self.node is None:
            raise ValueError("node is required with count")
        return self


class ChmemBody(Strict):
    """util-linux chmem: enable or disable a SIZE, RANGE or BLOCKRANGE."""

    enable: bool | None = None
    disable: bool | None = None
    size: Annotated[str, Field(max_length=64)] | None = None
    range: Annotated[str, Field(max_length=64)] | None = None
    blocks: Annotated[str, Field(max_length=64)] | None = None
    zone: Literal["Normal", "Movable"] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ChmemBody:
        if bool(self.enable) == bool(self.disable):
            raise ValueError('give exactly one of "enable": true or "disable": true')
        given = [name for name in ("size", "range", "blocks") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError('give exactly one of "size", "range" or "blocks"')
        return self


class SubscriberCreate(Strict):
    """Register a subscriber."""

    name: Annotated[str, Field(min_length=1, max_length=128)]
    priority: Int32 = 0
    actions: Annotated[list[ActionName], Field(max_length=6)] | None = None
    nodes: Annotated[list[NodeId], Field(max_length=MAX_NODES)] | None = None
    timeout_ms: TimeoutMs = 5000
    failure_policy: Literal["fail", "ignore"] = "fail"


class SubscriberUpdate(Strict):
    """Change a subscriber; absent fields stay as they are, ``null`` filters mean all."""

    name: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    priority: Int32 | None = None
    actions: Annotated[list[ActionName], Field(max_length=6)] | None = None
    nodes: Annotated[list[NodeId], Field(max_length=MAX_NODES)] | None = None
    timeout_ms: TimeoutMs | None = None
    failure_policy: Literal["fail", "ignore"] | None = None


Errno = Annotated[int, Field(ge=-MAX_ERRNO, le=0)]


class InjectionActions(Strict):
    """The errno injected per action (0: none)."""

    MEM_GOING_ONLINE: Errno = 0
    MEM_GOING_OFFLINE: Errno = 0


class ErrorInjectionPut(Strict):
    """The ``notifier-error-inject`` module's settings."""

    enabled: bool
    priority: Int32 = 0
    actions: InjectionActions = Field(default_factory=InjectionActions)


# -- response shapes (documentation) -----------------------------------------

Timestamp = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time"},
        description="RFC 3339, UTC, milliseconds.",
    ),
]
ZoneName = Literal["Normal", "HighMem", "Movable"]
OutcomeName = Literal["pending", "running", "completed", "cancelled", "failed", "aborted"]
FinalOutcome = Literal["completed", "cancelled", "failed", "aborted"]
DeliveryName = Literal["replied", "timeout", "disconnected", "unregistered"]
ErrnoValue = Annotated[int, Field(ge=-MAX_ERRNO, le=-1, description="A negative errno.")]


class Public(BaseModel):
    """A response shape; fields not declared here may appear in later versions."""

    model_config = ConfigDict(extra="allow")


class MemoryNotifyArg(Public):
    """``struct memory_notify`` (SPEC §3): the same for every event of one transition."""

    start_pfn: int
    nr_pages: int
    status_change_nid_normal: int = Field(description="Node id, or -1.")
    status_change_nid_high: int = Field(description="Node id, or -1 (always -1 without highmem).")
    status_change_nid: int = Field(description="Node id, or -1.")


class BlockPublic(Public):
    """A memory block as sysfs shows it, plus its simulation flags."""

    id: int = Field(ge=0)
    start_pfn: int
    nr_pages: int
    phys_addr: str = Field(pattern=r"^0x[0-9a-f]+$")
    node: int
    state: Literal["online", "offline", "going-offline"]
    zone: ZoneName | None = Field(description="The zone while online, else null.")
    removable: bool
    valid_zones: list[ZoneName] = Field(description="Default zone first when offline.")
    isolation_fails: bool
    unmovable_pages: bool
    migration_ms: int
    transition: str | None = Field(description="The transition in flight on the block.")


class NodePublic(Public):
    """A NUMA node: its node states and present pages per zone."""

    id: int
    states: list[Literal["N_MEMORY", "N_NORMAL_MEMORY", "N_HIGH_MEMORY"]]
    present_pages: dict[ZoneName, int]
    present_pages_total: int
    blocks: int


class MemorySummary(Public):
    """Totals over every block."""

    blocks: int
    online_blocks: int
    going_offline_blocks: int
    offline_blocks: int
    total_bytes: int
    online_bytes: int
    offline_bytes: int


class MemoryPublic(Public):
    """The machine: geometry, nodes and their states, totals."""

    block_size_bytes: int
    page_size: int
    pages_per_block: int
    highmem: bool
    auto_online_blocks: Literal["offline", "online", "online_kernel", "online_movable"]
    nodes: list[NodePublic]
    summary: MemorySummary


class SubscriptionPublic(Public):
    """A subscriber's place in the chain: order, filters, timeout and policy."""

    id: str
    name: str
    priority: int
    seq: int = Field(description="Registration order (a priority change takes a new one).")
    actions: list[ActionName] | None = Field(description="Filter; null means every action.")
    nodes: list[int] | None = Field(description="Filter; null means every node.")
    timeout_ms: int
    failure_policy: Literal["fail", "ignore"]


class VetoedBy(Public):
    """The subscriber whose reply vetoed a transition."""

    subscriber: str
    name: str
    errno: int
    errno_name: str
    message: str | None


class CallRecord(Public):
    """One call of a walk, in call order."""

    subscriber: str
    name: str
    priority: int = Field(description="The priority in the transition's snapshot.")
    delivery: DeliveryName
    result: str = Field(description="NOTIFY_* name, or what the value encodes.")
    value: int
    errno: int | None
    errno_name: str | None
    message: str | None
    latency_ms: float
    sent: bool = Field(description="Whether the subscriber was sent the event.")


class WalkRecord(Public):
    """One walk of the chain: its action, its calls, its result."""

    action: ActionName
    action_value: int
    calls: list[CallRecord]
    result: str = Field(description="The value of the last subscriber called, by name.")
    value: int
    errno: int | None
    stopped_by: int | None = Field(description="Index of the call whose stop bit ended the walk.")
    stopped_by_subscriber: str | None
    first_notification_id: int | None = Field(
        None,
        description="Id of the walk's first notification; call k was sent id first+k "
        "(a walk redone after a crash resends the same ids).",
    )


class TransitionRecord(Public):
    """A transition: request, ``memory_notify`` argument, outcome, every walk and call."""

    id: str
    seq: int
    operation: Literal["online", "offline"]
    block: int
    node: int
    online_type: Literal["online", "online_kernel", "online_movable"] | None
    zone: ZoneName | None
    arg: MemoryNotifyArg | None = Field(description="Null until the transition starts.")
    outcome: OutcomeName
    errno: int | None
    errno_name: str | None
    vetoed_by: VetoedBy | None
    timeout_ms: int | None = Field(description="The request's overall timeout, if any.")
    phase: Literal["queued", "going", "migrating", "cancelling", "committed", "done"]
    abort_requested: bool
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    snapshot: list[SubscriptionPublic] = Field(description="The chain this transition walks.")
    walks: list[WalkRecord]


class TransitionSummary(Public):
    """The short form of a transition record, in ``hotplug.transition.*`` events."""

    id: str
    operation: Literal["online", "offline"]
    block: int
    node: int
    outcome: OutcomeName
    errno: int | None
    errno_name: str | None
    vetoed_by: VetoedBy | None


class LastReply(Public):
    """A subscriber's last call."""

    action: ActionName
    delivery: DeliveryName
    result: str
    value: int
    errno: int | None
    message: str | None
    latency_ms: float
    at: Timestamp


class SubscriberCounters(Public):
    """Calls made to a subscriber, and how many of them vetoed, timed out, found it gone."""

    calls: int
    vetoes: int
    timeouts: int
    disconnected: int


class SubscriberPublic(SubscriptionPublic):
    """A registered subscriber, with its connection state, last reply and counters."""

    connected: bool
    registered_at: Timestamp
    last_reply: LastReply | None
    counters: SubscriberCounters


class SubscriberCreated(SubscriberPublic):
    """A new subscriber: its token is shown only here, once."""

    token: str = Field(description="Opens this subscriber's websocket; shown once.")
    ws_url: str = Field(description="The absolute ws:// (or wss://) URL of its channel.")


class ChainEntry(SubscriptionPublic):
    """One position of the call order."""

    position: int
    builtin: bool = Field(description="True for notifier-error-inject.")
    connected: bool


class InjectedErrnos(Public):
    """The errno the error-injection module answers per action (0: none)."""

    MEM_GOING_ONLINE: int
    MEM_GOING_OFFLINE: int


class ErrorInjectionPublic(Public):
    """The ``notifier-error-inject`` module's settings."""

    enabled: bool
    priority: int
    actions: InjectedErrnos


class ProbeResult(Public):
    """Hot-added blocks, and the transitions that auto-online them."""

    blocks: list[BlockPublic]
    transitions: list[TransitionRecord]


class ChmemBlockResult(Public):
    """One block chmem tried."""

    block: int
    outcome: FinalOutcome
    errno: int | None
    errno_name: str | None
    transition: str | None = Field(description="Its transition id; null when none ran.")
    vetoed_by: VetoedBy | None = Field(
        default=None, description="Present when a transition ran (null if nobody vetoed)."
    )
    detail: str | SkipJsonSchema[None] = Field(
        default=None, description="Why no transition ran (wrong zone, queue full, ...)."
    )


class ChmemResult(Public):
    """Per-block results and counts of a chmem batch."""

    results: list[ChmemBlockResult]
    succeeded: int
    failed: int


class WhoAmI(Public):
    """The role of the token presented."""

    role: Literal["admin", "viewer"]


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    detail: dict[str, Any] | None = None


class ValidationIssue(Public):
    """One reason a request was invalid."""

    loc: list[str | int]
    msg: str
    type: str | None


class Problem(Public):
    """RFC 9457 problem details: every error response (``application/problem+json``).

    ``type`` is ``urn:hotplugd:problem:<slug>``: ``unauthorized``, ``forbidden``,
    ``not-found``, ``conflict``, ``transition-cancelled``, ``transition-failed``,
    ``transition-aborted``, ``request-body-too-large``, ``validation`` (with
    ``errors``), ``invalid-request``, ``service-unavailable``, ``storage`` (the
    database failed), ``internal-error``.
    The optional members appear only where they apply.
    """

    type: str = Field(json_schema_extra={"format": "uri"})
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    errno: ErrnoValue | SkipJsonSchema[None] = None
    errno_name: str | SkipJsonSchema[None] = Field(default=None, description="e.g. EBUSY.")
    outcome: FinalOutcome | SkipJsonSchema[None] = Field(
        default=None, description="How the transition ended (transition-* types)."
    )
    vetoed_by: VetoedBy | SkipJsonSchema[None] = Field(
        default=None, description="Who vetoed (transition-cancelled by a reply)."
    )
    transition: TransitionRecord | SkipJsonSchema[None] = Field(
        default=None, description="The transition record the error is about."
    )
    errors: list[ValidationIssue] | SkipJsonSchema[None] = Field(
        default=None, description="Every validation failure (type validation)."
    )


def component_schemas(models: Iterable[type[BaseModel]], ref_prefix: str) -> dict[str, Any]:
    """JSON Schemas of ``models`` and of the models they use, by name, as components.

    References point at ``ref_prefix + name``. Members that are left out when
    absent (``SkipJsonSchema[None]``) show no ``"default": null``.
    """
    pairs = [(model, "serialization") for model in dict.fromkeys(models)]
    _, top = models_json_schema(pairs, ref_template=ref_prefix + "{model}")  # type: ignore[arg-type]
    schemas: dict[str, Any] = top["$defs"]
    _drop_null_defaults(schemas)
    return schemas


def _drop_null_defaults(node: Any) -> None:
    if isinstance(node, dict):
        if "default" in node and node["default"] is None:
            del node["default"]
        for value in node.values():
            _drop_null_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _drop_null_defaults(value)
