"""Every endpoint of SPEC §5 as data: what to send, and how to read the answer.

Sans-I/O: a function here builds an `Endpoint` (method, path, query, body,
parser); `HotplugClient` (async) and `SyncHotplugClient` send it with their
own httpx client. So both speak exactly the same contract, written once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar, cast

import httpx

from clients.models import (
    JSON,
    Block,
    ChainEntry,
    ChmemResult,
    ErrorInjection,
    MemoryInfo,
    ProbeResult,
    Registration,
    SubscriberInfo,
    Transition,
)

PREFIX: Final = "/api/v1"

T = TypeVar("T")


class Unset:
    """The type of `UNSET`: "leave this field as it is" in a PATCH."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset()


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[T]):
    """One request and the parser of its successful answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str | int] = field(default_factory=dict)
    body: JSON | None = None
    waits: bool = False  # may wait for transitions: sent with the long timeout
    follow_accepted: bool = False  # a 202 without a record: fetch its Location


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    return response.json()


def _object(response: httpx.Response) -> Any:
    body = _json(response)
    return body if isinstance(body, dict) else {}


def _items(key: str) -> Callable[[httpx.Response], Any]:
    """A list answer, bare or wrapped in ``{key: [...]}`` / ``{"items": [...]}``."""

    def parse(response: httpx.Response) -> Any:
        """The list in the answer (empty when there is none)."""
        body = _json(response)
        if isinstance(body, dict):
            body = body.get(key, body.get("items", []))
        return body if isinstance(body, list) else []

    return parse


def _nothing(response: httpx.Response) -> None:
    return None


def _status_body(response: httpx.Response) -> JSON:
    """Health answers: JSON when there is some, else the text as ``status``."""
    try:
        body = _json(response)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {"status": response.text.strip() or response.reason_phrase}


def _probe_result(response: httpx.Response) -> ProbeResult:
    body = _json(response)
    if isinstance(body, list):
        return {"blocks": cast(list[Block], body), "transitions": []}
    return cast(ProbeResult, body if isinstance(body, dict) else {})


def _drop_none(values: Mapping[str, Any]) -> JSON:
    return {key: value for key, value in values.items() if value is not None}


def listed(values: Sequence[Any] | Unset | None) -> list[Any] | Unset | None:
    """A sequence as a JSON list; None and UNSET as they are."""
    if values is None or isinstance(values, Unset):
        return values
    return list(values)


def _drop_unset(values: Mapping[str, Any]) -> JSON:
    return {key: value for key, value in values.items() if not isinstance(value, Unset)}


def memory() -> Endpoint[MemoryInfo]:
    """``GET /memory``."""
    return Endpoint("GET", f"{PREFIX}/memory", _object)


def blocks(state: str | None = None, node: int | None = None) -> Endpoint[list[Block]]:
    """``GET /memory/blocks``, filtered."""
    params = _drop_none({"state": state, "node": node})
    return Endpoint("GET", f"{PREFIX}/memory/blocks", _items("blocks"), params=params)


def block(block_id: int) -> Endpoint[Block]:
    """``GET /memory/blocks/{id}``."""
    return Endpoint("GET", f"{PREFIX}/memory/blocks/{block_id}", _object)


def online(
    block_id: int, online_type: str, timeout_ms: int | None, wait: bool
) -> Endpoint[Transition]:
    """``POST /memory/blocks/{id}/online``."""
    body = _drop_none({"online_type": online_type, "timeout_ms": timeout_ms})
    return _trigger(f"{PREFIX}/memory/blocks/{block_id}/online", body, wait)


def offline(block_id: int, timeout_ms: int | None, wait: bool) -> Endpoint[Transition]:
    """``POST /memory/blocks/{id}/offline``."""
    body = _drop_none({"timeout_ms": timeout_ms})
    return _trigger(f"{PREFIX}/memory/blocks/{block_id}/offline", body, wait)


def _trigger(path: str, body: JSON, wait: bool) -> Endpoint[Transition]:
    params: dict[str, str | int] = {} if wait else {"wait": "false"}
    return Endpoint(
        "POST", path, _object, params=params, body=body, waits=wait, follow_accepted=not wait
    )


def patch_block(block_id: int, flags: Mapping[str, bool | int | None]) -> Endpoint[Block]:
    """``PATCH /memory/blocks/{id}``: the simulation flags that are not None."""
    return Endpoint("PATCH", f"{PREFIX}/memory/blocks/{block_id}", _object, body=_drop_none(flags))


def probe(node: int | None, count: int | None, phys_addr: str | None) -> Endpoint[ProbeResult]:
    """``POST /memory/probe``: by ``count`` on a node, or at ``phys_addr``."""
    body = _drop_none({"node": node, "count": count, "phys_addr": phys_addr})
    return Endpoint("POST", f"{PREFIX}/memory/probe", _probe_result, body=body, waits=True)


def remove(block_id: int) -> Endpoint[None]:
    """``DELETE /memory/blocks/{id}``."""
    return Endpoint("DELETE", f"{PREFIX}/memory/blocks/{block_id}", _nothing)


def chmem(
    enable: bool, size: str | None, range: str | None, blocks: str | None, zone: str | None
) -> Endpoint[ChmemResult]:
    """``POST /memory/chmem``: exactly one of size, range, blocks."""
    body = _drop_none({"size": size, "range": range, "blocks": blocks, "zone": zone})
    body["enable" if enable else "disable"] = True
    return Endpoint("POST", f"{PREFIX}/memory/chmem", _object, body=body, waits=True)


def transitions(filters: Mapping[str, str | int | None]) -> Endpoint[list[Transition]]:
    """``GET /transitions``, newest first; ``limit``, ``before`` and filters as query."""
    params = cast(dict[str, str | int], _drop_none(filters))
    return Endpoint("GET", f"{PREFIX}/transitions", _items("transitions"), params=params)


def transition(transition_id: str) -> Endpoint[Transition]:
    """``GET /transitions/{id}``."""
    return Endpoint("GET", f"{PREFIX}/transitions/{transition_id}", _object)


def abort(transition_id: str) -> Endpoint[Transition]:
    """``POST /transitions/{id}/abort``."""
    return Endpoint("POST", f"{PREFIX}/transitions/{transition_id}/abort", _object)


def register_subscriber(
    name: str,
    priority: int | None,
    actions: Sequence[str] | None,
    nodes: Sequence[int] | None,
    timeout_ms: int | None,
    failure_policy: str | None,
) -> Endpoint[Registration]:
    """``POST /subscribers``."""
    body = _drop_none(
        {
            "name": name,
            "priority": priority,
            "actions": list(actions) if actions is not None else None,
            "nodes": list(nodes) if nodes is not None else None,
            "timeout_ms": timeout_ms,
            "failure_policy": failure_policy,
        }
    )
    return Endpoint("POST", f"{PREFIX}/subscribers", _object, body=body)


def subscribers() -> Endpoint[list[SubscriberInfo]]:
    """``GET /subscribers``."""
    return Endpoint("GET", f"{PREFIX}/subscribers", _items("subscribers"))


def subscriber(subscriber_id: str) -> Endpoint[SubscriberInfo]:
    """``GET /subscribers/{id}``."""
    return Endpoint("GET", f"{PREFIX}/subscribers/{subscriber_id}", _object)


def update_subscriber(subscriber_id: str, changes: Mapping[str, Any]) -> Endpoint[SubscriberInfo]:
    """``PATCH /subscribers/{id}``: only the fields that are not `UNSET` (None clears)."""
    body = _drop_unset(changes)
    return Endpoint("PATCH", f"{PREFIX}/subscribers/{subscriber_id}", _object, body=body)


def unregister_subscriber(subscriber_id: str) -> Endpoint[None]:
    """``DELETE /subscribers/{id}``."""
    return Endpoint("DELETE", f"{PREFIX}/subscribers/{subscriber_id}", _nothing)


def chain() -> Endpoint[list[ChainEntry]]:
    """``GET /chain``."""
    return Endpoint("GET", f"{PREFIX}/chain", _items("chain"))


def error_injection() -> Endpoint[ErrorInjection]:
    """``GET /debug/notifier-error-inject``."""
    return Endpoint("GET", f"{PREFIX}/debug/notifier-error-inject", _object)


def set_error_injection(
    enabled: bool, priority: int | None, actions: Mapping[str, int] | None
) -> Endpoint[ErrorInjection]:
    """``PUT /debug/notifier-error-inject``."""
    body = _drop_none(
        {
            "enabled": enabled,
            "priority": priority,
            "actions": dict(actions) if actions is not None else None,
        }
    )
    return Endpoint("PUT", f"{PREFIX}/debug/notifier-error-inject", _object, body=body)


def healthz() -> Endpoint[JSON]:
    """``GET /healthz``."""
    return Endpoint("GET", "/healthz", _status_body)


def readyz() -> Endpoint[JSON]:
    """``GET /readyz``."""
    return Endpoint("GET", "/readyz", _status_body)


def metrics() -> Endpoint[str]:
    """``GET /metrics`` (Prometheus text)."""
    return Endpoint("GET", "/metrics", lambda response: response.text)


def has_record(response: httpx.Response) -> bool:
    """Whether a 202 answer already carries the transition record."""
    try:
        body = _json(response)
    except ValueError:
        return False
    return isinstance(body, dict) and "id" in body
