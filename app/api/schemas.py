"""Request bodies (validated) and response shapes (documented) of the REST API.

Families follow ``XCreate`` / ``XUpdate`` / ``XPublic``. Every request model
forbids unknown fields, so a typo is a 422 rather than a silent no-op.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    """Unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


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


class SubscriberCreated(BaseModel):
    """A new subscriber: its token is shown only here, once."""

    model_config = ConfigDict(extra="allow")

    id: str
    token: str
    ws_url: str


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    detail: dict[str, Any] | None = None
