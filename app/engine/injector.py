"""The built-in ``notifier-error-inject`` subscriber (``lib/memory-notifier-error-inject.c``).

While enabled it sits in the chain like any subscriber and answers
``notifier_from_errno(errno)`` for ``MEM_GOING_ONLINE`` / ``MEM_GOING_OFFLINE``
and ``NOTIFY_OK`` for everything else, locally, without a network hop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.chain.actions import Action
from app.chain.chain import Subscription
from app.chain.values import MAX_ERRNO, notifier_from_errno

INJECTOR_ID = "notifier-error-inject"
INJECTABLE = (Action.MEM_GOING_ONLINE, Action.MEM_GOING_OFFLINE)


@dataclass(slots=True)
class ErrorInjection:
    """The module's settings: enabled, priority, and an errno per action."""

    enabled: bool = False
    priority: int = 0
    errors: dict[Action, int] = field(default_factory=lambda: dict.fromkeys(INJECTABLE, 0))

    def value_for(self, action: Action) -> int:
        """What the module's callback returns for an action."""
        return notifier_from_errno(self.errors.get(action, 0))

    def subscription(self) -> Subscription:
        """Its place in the chain."""
        return Subscription(id=INJECTOR_ID, name=INJECTOR_ID, priority=self.priority)

    def to_json(self) -> dict[str, Any]:
        """The API and storage form."""
        return {
            "enabled": self.enabled,
            "priority": self.priority,
            "actions": {action.name: self.errors[action] for action in INJECTABLE},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ErrorInjection:
        """The inverse of ``to_json``; errnos clamped to [-4095, 0] as the module does."""
        errors = {a: clamp_errno(data.get("actions", {}).get(a.name, 0)) for a in INJECTABLE}
        return cls(bool(data.get("enabled")), int(data.get("priority", 0)), errors)


def clamp_errno(value: int) -> int:
    """debugfs writes are clamped to [-MAX_ERRNO, 0]."""
    return max(-MAX_ERRNO, min(0, int(value)))
