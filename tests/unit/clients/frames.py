"""Frames of the subscriber channel (SPEC §6), for tests."""

from __future__ import annotations

import json
from typing import Any

from clients.notifier import ACTIONS


def notify(
    ident: int,
    action: str = "MEM_GOING_OFFLINE",
    *,
    block: int = 17,
    node: int = 1,
    timeout_ms: int = 5000,
    nid_normal: int = -1,
    transition: str = "t-1",
    pages: int = 32768,
) -> str:
    """A ``notify`` frame as text."""
    return json.dumps(
        notify_obj(ident, action, block, node, timeout_ms, nid_normal, transition, pages)
    )


def notify_obj(
    ident: int,
    action: str = "MEM_GOING_OFFLINE",
    block: int = 17,
    node: int = 1,
    timeout_ms: int = 5000,
    nid_normal: int = -1,
    transition: str = "t-1",
    pages: int = 32768,
) -> dict[str, Any]:
    """A ``notify`` frame as a dict."""
    return {
        "type": "notify",
        "id": ident,
        "transition": transition,
        "action": action,
        "action_value": ACTIONS.get(action, 0),
        "arg": {
            "start_pfn": block * pages,
            "nr_pages": pages,
            "status_change_nid_normal": nid_normal,
            "status_change_nid_high": -1,
            "status_change_nid": nid_normal,
        },
        "block": block,
        "node": node,
        "timeout_ms": timeout_ms,
    }


def hello(subscriber_id: str = "s-1") -> str:
    """A ``hello`` frame."""
    return json.dumps({"type": "hello", "subscriber": {"id": subscriber_id}, "protocol": 1})
