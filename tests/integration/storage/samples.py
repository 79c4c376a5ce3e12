"""Records shaped like the engine's, for storage tests."""

from __future__ import annotations

from typing import Any

from app.engine.ports import JSON


def transition(number: int, **fields: Any) -> JSON:
    """Transition ``number`` (its seq), with every field the port requires and a JSON body."""
    record: JSON = {
        "id": f"tr-{number}",
        "seq": number,
        "operation": "online",
        "block": 16,
        "node": 1,
        "outcome": "completed",
        "created_at": f"2024-05-01T12:00:{number % 60:02d}+00:00",
        "online_type": "online_movable",
        "zone": "Movable",
        "arg": {
            "start_pfn": 524288,
            "nr_pages": 32768,
            "status_change_nid_normal": -1,
            "status_change_nid_high": -1,
            "status_change_nid": 1,
        },
        "errno": None,
        "walks": [
            {
                "action": "MEM_GOING_ONLINE",
                "calls": [{"subscriber": "sub-1", "value": 1, "latency_ms": 0.25}],
            }
        ],
    }
    record.update(fields)
    return record


def subscriber(number: int, **fields: Any) -> JSON:
    """Subscriber ``number``, registered ``number``-th unless ``seq`` says otherwise."""
    record: JSON = {
        "id": f"sub-{number}",
        "seq": number,
        "name": f"agent «{number}»",
        "priority": 0,
        "token_hash": "9f86d081884c7d65",
        "actions": None,
        "nodes": [0, 1],
    }
    record.update(fields)
    return record
