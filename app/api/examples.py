"""Examples for the API documentation (OpenAPI and AsyncAPI), one machine's story.

Two subscribers, ``page-cache`` (priority 10) and ``balloon`` (priority 0),
on the built-in layout. Block 12 (node 1) is onlined, then ``balloon`` vetoes
its offline with ``-EBUSY``. Every example here is checked against the
schema it illustrates (``tests/unit/docs``), so they cannot drift from the
models; they were taken from a running service.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

PAGE_CACHE = "sub-3f2a9c1e7b40"
BALLOON = "sub-8d41e07c2a95"
T0 = "2026-11-26T06:06:42"

ARG_BLOCK_12: JSON = {
    "start_pfn": 393216,
    "nr_pages": 32768,
    "status_change_nid_normal": -1,
    "status_change_nid_high": -1,
    "status_change_nid": 1,
}


def subscription(sub_id: str, name: str, priority: int, seq: int, **extra: Any) -> JSON:
    """A chain entry as ``snapshot`` and ``/chain`` show it."""
    return {
        "id": sub_id,
        "name": name,
        "priority": priority,
        "seq": seq,
        "actions": None,
        "nodes": None,
        "timeout_ms": 5000,
        "failure_policy": "fail",
        **extra,
    }


SNAPSHOT = [
    subscription(PAGE_CACHE, "page-cache", 10, 1),
    subscription(BALLOON, "balloon", 0, 2),
]


def call(sub_id: str, name: str, priority: int, latency_ms: float, **reply: Any) -> JSON:
    """One call of a walk; ``NOTIFY_OK`` unless ``reply`` says otherwise."""
    return {
        "subscriber": sub_id,
        "name": name,
        "priority": priority,
        "delivery": "replied",
        "result": "NOTIFY_OK",
        "value": 1,
        "errno": None,
        "errno_name": None,
        "message": None,
        "latency_ms": latency_ms,
        "sent": True,
        **reply,
    }


def walk(action: str, action_value: int, calls: list[JSON], **result: Any) -> JSON:
    """One walk whose result is ``NOTIFY_OK`` unless ``result`` says otherwise."""
    return {
        "action": action,
        "action_value": action_value,
        "calls": calls,
        "result": "NOTIFY_OK",
        "value": 1,
        "errno": None,
        "stopped_by": None,
        "stopped_by_subscriber": None,
        **result,
    }


def both_ok(action: str, action_value: int) -> JSON:
    """A walk where both subscribers answer ``NOTIFY_OK``."""
    return walk(
        action,
        action_value,
        [call(PAGE_CACHE, "page-cache", 10, 0.723), call(BALLOON, "balloon", 0, 0.711)],
    )


def record(seq: int, operation: str, **fields: Any) -> JSON:
    """A finished transition record of block 12; ``fields`` override."""
    online = operation == "online"
    return {
        "id": f"tr-{seq}",
        "seq": seq,
        "operation": operation,
        "block": 12,
        "node": 1,
        "online_type": "online_movable" if online else None,
        "zone": "Movable",
        "arg": ARG_BLOCK_12,
        "outcome": "completed",
        "errno": None,
        "errno_name": None,
        "vetoed_by": None,
        "timeout_ms": None,
        "phase": "done",
        "abort_requested": False,
        "created_at": f"{T0}.898Z",
        "started_at": f"{T0}.902Z",
        "finished_at": f"{T0}.911Z",
        "snapshot": SNAPSHOT,
        "walks": [],
        **fields,
    }


VETO: JSON = {
    "subscriber": BALLOON,
    "name": "balloon",
    "errno": -16,
    "errno_name": "EBUSY",
    "message": "pinned pages",
}

ONLINE_COMPLETED = record(
    1,
    "online",
    walks=[both_ok("MEM_GOING_ONLINE", 8), both_ok("MEM_ONLINE", 1)],
)


def pending(seq: int, operation: str, **fields: Any) -> JSON:
    """A transition record as ``wait=false`` answers it: queued, not started."""
    return record(
        seq,
        operation,
        zone=None,
        arg=None,
        outcome="pending",
        phase="queued",
        started_at=None,
        finished_at=None,
        snapshot=[],
        **fields,
    )


ONLINE_PENDING = pending(1, "online")
OFFLINE_PENDING = pending(4, "offline")
OFFLINE_CANCELLED = record(
    2,
    "offline",
    outcome="cancelled",
    errno=-16,
    errno_name="EBUSY",
    vetoed_by=VETO,
    walks=[
        walk(
            "MEM_GOING_OFFLINE",
            2,
            [
                call(PAGE_CACHE, "page-cache", 10, 0.642),
                call(
                    BALLOON,
                    "balloon",
                    0,
                    0.438,
                    result="NOTIFY_STOP_MASK|EBUSY",
                    value=32785,
                    errno=-16,
                    errno_name="EBUSY",
                    message="pinned pages",
                ),
            ],
            result="NOTIFY_STOP_MASK|EBUSY",
            value=32785,
            errno=-16,
            stopped_by=1,
            stopped_by_subscriber=BALLOON,
        ),
        both_ok("MEM_CANCEL_OFFLINE", 32),
    ],
)
ONLINE_REFUSED = record(
    3,
    "online",
    online_type="online",
    zone=None,
    arg=None,
    outcome="failed",
    errno=-22,
    errno_name="EINVAL",
    snapshot=[],
)
OFFLINE_COMPLETED = record(
    4,
    "offline",
    walks=[both_ok("MEM_GOING_OFFLINE", 2), both_ok("MEM_OFFLINE", 4)],
)
OFFLINE_ABORTING = record(
    5,
    "offline",
    outcome="running",
    phase="migrating",
    abort_requested=True,
    finished_at=None,
    walks=[both_ok("MEM_GOING_OFFLINE", 2)],
)


def block(block_id: int, node: int, state: str, zone: str | None, **fields: Any) -> JSON:
    """A block of the built-in layout."""
    return {
        "id": block_id,
        "start_pfn": block_id * 32768,
        "nr_pages": 32768,
        "phys_addr": hex(block_id * 134217728),
        "node": node,
        "state": state,
        "zone": zone,
        "removable": True,
        "valid_zones": [zone] if zone else ["Normal", "Movable"],
        "isolation_fails": False,
        "unmovable_pages": False,
        "migration_ms": 0,
        "transition": None,
        **fields,
    }


BLOCK = block(8, 0, "online", "Movable")
BLOCKS = [block(12, 1, "online", "Movable"), block(13, 1, "offline", None)]
BLOCK_FLAGGED = block(8, 0, "online", "Movable", unmovable_pages=True, migration_ms=250)
BLOCK_REMOVED = block(20, 2, "offline", None, valid_zones=["Movable", "Normal"])

MEMORY: JSON = {
    "block_size_bytes": 134217728,
    "page_size": 4096,
    "pages_per_block": 32768,
    "highmem": False,
    "auto_online_blocks": "offline",
    "nodes": [
        {
            "id": 0,
            "states": ["N_MEMORY", "N_NORMAL_MEMORY", "N_HIGH_MEMORY"],
            "present_pages": {"Normal": 262144, "Movable": 131072},
            "present_pages_total": 393216,
            "blocks": 12,
        },
        {"id": 1, "states": [], "present_pages": {}, "present_pages_total": 0, "blocks": 8},
        {"id": 2, "states": [], "present_pages": {}, "present_pages_total": 0, "blocks": 8},
    ],
    "summary": {
        "blocks": 28,
        "online_blocks": 12,
        "going_offline_blocks": 0,
        "offline_blocks": 16,
        "total_bytes": 3758096384,
        "online_bytes": 1610612736,
        "offline_bytes": 2147483648,
    },
}

PROBE_RESULT: JSON = {"blocks": [block(28, 3, "offline", None)], "transitions": []}

CHMEM_RESULT: JSON = {
    "results": [
        {
            "block": 14,
            "outcome": "completed",
            "errno": None,
            "errno_name": None,
            "transition": "tr-6",
            "vetoed_by": None,
        },
        {
            "block": 15,
            "outcome": "cancelled",
            "errno": -16,
            "errno_name": "EBUSY",
            "transition": "tr-7",
            "vetoed_by": VETO,
        },
        {
            "block": 16,
            "outcome": "failed",
            "errno": -22,
            "errno_name": "EINVAL",
            "transition": None,
            "detail": "zone Normal is not valid for block 16",
        },
    ],
    "succeeded": 1,
    "failed": 2,
}

LAST_REPLY: JSON = {
    "action": "MEM_CANCEL_OFFLINE",
    "delivery": "replied",
    "result": "NOTIFY_OK",
    "value": 1,
    "errno": None,
    "message": None,
    "latency_ms": 0.387,
    "at": f"{T0}.930Z",
}
COUNTERS: JSON = {"calls": 6, "vetoes": 1, "timeouts": 0, "disconnected": 0}

SUBSCRIBER: JSON = {
    **subscription(BALLOON, "balloon", 0, 2),
    "connected": True,
    "registered_at": f"{T0}.870Z",
    "last_reply": LAST_REPLY,
    "counters": COUNTERS,
}
NEW_SUBSCRIBER: JSON = {
    **subscription(
        "sub-6f4cc316fafb",
        "dbcache",
        5,
        4,
        actions=["MEM_CANCEL_OFFLINE", "MEM_GOING_OFFLINE", "MEM_OFFLINE"],
        timeout_ms=2000,
    ),
    "connected": False,
    "registered_at": f"{T0}.070Z",
    "last_reply": None,
    "counters": {"calls": 0, "vetoes": 0, "timeouts": 0, "disconnected": 0},
}
SUBSCRIBER_CREATED: JSON = {
    **NEW_SUBSCRIBER,
    "token": "-LYWsnXXcaOFHCp09NpslveKgj-nkVnqKPM7dAN1rpE",
    "ws_url": "ws://127.0.0.1:8000/api/v1/subscribers/sub-6f4cc316fafb/ws",
}


def chain_entry(position: int, entry: JSON, *, builtin: bool = False) -> JSON:
    """One position of ``GET /chain``."""
    return {"position": position, **entry, "builtin": builtin, "connected": True}


CHAIN: list[JSON] = [
    chain_entry(
        0, subscription("notifier-error-inject", "notifier-error-inject", 100, 5), builtin=True
    ),
    chain_entry(1, SNAPSHOT[0]),
    chain_entry(2, SNAPSHOT[1]),
]

ERROR_INJECTION: JSON = {
    "enabled": True,
    "priority": 100,
    "actions": {"MEM_GOING_ONLINE": -12, "MEM_GOING_OFFLINE": 0},
}


# -- request bodies (OpenAPI example objects) ----------------------------------


def example(summary: str, value: Any) -> JSON:
    """An OpenAPI Example Object."""
    return {"summary": summary, "value": value}


ONLINE_BODIES = {
    "default_zone": example("The block's default zone", {"online_type": "online"}),
    "movable": example(
        "ZONE_MOVABLE, so it can be offlined again", {"online_type": "online_movable"}
    ),
    "bounded": example(
        "Kernel zone, whole MEM_GOING_ONLINE walk bounded to 10 s",
        {"online_type": "online_kernel", "timeout_ms": 10000},
    ),
}
OFFLINE_BODIES = {
    "plain": example("Offline", {}),
    "bounded": example("Bound the MEM_GOING_OFFLINE walk to 2 s", {"timeout_ms": 2000}),
}
BLOCK_UPDATE_BODIES = {
    "unmovable": example(
        "Offline fails with -EBUSY after MEM_GOING_OFFLINE (MEM_CANCEL_OFFLINE follows)",
        {"unmovable_pages": True},
    ),
    "isolation": example("Offline fails with -EBUSY before any event", {"isolation_fails": True}),
    "slow_migration": example("250 ms of migration, long enough to abort", {"migration_ms": 250}),
}
MEMORY_UPDATE_BODIES = {
    "movable": example(
        "Hot-added blocks are onlined to ZONE_MOVABLE",
        {"auto_online_blocks": "online_movable"},
    ),
}
PROBE_BODIES = {
    "count": example("Two new blocks on node 3 (created if new)", {"node": 3, "count": 2}),
    "phys_addr": example(
        "One block at a block-aligned physical address", {"phys_addr": "0xe0000000", "node": 3}
    ),
}
CHMEM_BODIES = {
    "size": example("Enable 1 GiB, lowest blocks first", {"enable": True, "size": "1G"}),
    "range": example(
        "Disable a physical range (END is its last byte)",
        {"disable": True, "range": "0x60000000-0x6fffffff"},
    ),
    "blocks": example(
        "Enable blocks 16-23 in ZONE_MOVABLE",
        {"enable": True, "blocks": "16-23", "zone": "Movable"},
    ),
}
SUBSCRIBER_CREATE_BODIES = {
    "minimal": example("Every event, priority 0", {"name": "page-cache"}),
    "filtered": example(
        "Offline events only, called early, 2 s to answer",
        {
            "name": "dbcache",
            "priority": 5,
            "actions": ["MEM_GOING_OFFLINE", "MEM_OFFLINE", "MEM_CANCEL_OFFLINE"],
            "timeout_ms": 2000,
        },
    ),
    "best_effort": example(
        "A monitor whose silence never vetoes",
        {"name": "monitor", "priority": -100, "failure_policy": "ignore", "nodes": [1, 2]},
    ),
}
SUBSCRIBER_UPDATE_BODIES = {
    "priority": example("Move ahead of page-cache (from the next transition)", {"priority": 20}),
    "all_actions": example("Drop the action filter", {"actions": None}),
}
ERROR_INJECTION_BODIES = {
    "enable": example(
        "Veto every online with -ENOMEM, ahead of everyone",
        {"enabled": True, "priority": 100, "actions": {"MEM_GOING_ONLINE": -12}},
    ),
    "disable": example("Remove it from the chain", {"enabled": False}),
}


# -- problems ---------------------------------------------------------------------


def problem(slug: str, title: str, status: int, detail: str, **extra: Any) -> JSON:
    """A problem details body as ``app.api.problems`` builds it."""
    return {
        "type": f"urn:hotplugd:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }


UNAUTHORIZED = problem("unauthorized", "Unauthorized", 401, "a valid bearer token is required")
FORBIDDEN_SUBSCRIBER = problem(
    "forbidden", "Forbidden", 403, "a subscriber token may only open its subscriber websocket"
)
FORBIDDEN_VIEWER = problem("forbidden", "Forbidden", 403, "this action needs the admin token")
BLOCK_NOT_FOUND = problem("not-found", "Not found", 404, "memory block 999 does not exist")
TRANSITION_NOT_FOUND = problem("not-found", "Not found", 404, "transition tr-999 does not exist")
SUBSCRIBER_NOT_FOUND = problem(
    "not-found", "Not found", 404, "subscriber sub-000000000000 does not exist"
)
NOT_REMOVABLE = problem(
    "conflict",
    "Conflict",
    409,
    "memory block 12 is online, not removable now",
    errno=-16,
    errno_name="EBUSY",
)
BLOCK_EXISTS = problem(
    "conflict",
    "Conflict",
    409,
    "memory block 28 already exists",
    errno=-17,
    errno_name="EEXIST",
)
ALREADY_FINISHED = problem(
    "conflict",
    "Conflict",
    409,
    "transition tr-1 has already finished",
    errno=-22,
    errno_name="EINVAL",
    transition=ONLINE_COMPLETED,
)
VETOED = problem(
    "transition-cancelled",
    "Conflict",
    409,
    f"offline of block 12 cancelled (EBUSY): vetoed by balloon ({BALLOON})",
    errno=-16,
    errno_name="EBUSY",
    outcome="cancelled",
    vetoed_by=VETO,
    transition=OFFLINE_CANCELLED,
)
WRONG_STATE = problem(
    "transition-failed",
    "Conflict",
    409,
    "online of block 12 failed (EINVAL)",
    errno=-22,
    errno_name="EINVAL",
    outcome="failed",
    transition=ONLINE_REFUSED,
)
TOO_LARGE = problem(
    "request-body-too-large",
    "Request body too large",
    413,
    "the request body exceeds 65536 bytes",
)
VALIDATION = problem(
    "validation",
    "Invalid request",
    422,
    "body.name: String should have at least 1 character",
    errors=[
        {
            "loc": ["body", "name"],
            "msg": "String should have at least 1 character",
            "type": "string_too_short",
        }
    ],
)
INVALID = problem(
    "invalid-request",
    "Invalid request",
    422,
    "size 100 is not a multiple of the block size",
    errno=-22,
    errno_name="EINVAL",
)
QUEUE_FULL = problem(
    "service-unavailable",
    "Service unavailable",
    503,
    "the transition queue is full (256)",
)
SHUTTING_DOWN = problem(
    "service-unavailable", "Service unavailable", 503, "the service is shutting down"
)
STORAGE_DOWN = problem(
    "storage", "Service unavailable", 503, "the database is unavailable; retry later"
)
