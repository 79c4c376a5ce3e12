"""The debugfs files of ``memory-notifier-error-inject`` (kernel-notes §6.1).

::

    notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error   0600
    notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error  0600

Reads print ``"%lld\\n"``. A write is parsed as the module's signed simple
attribute does (``kstrtoll``, base 0) and clamped to ``[-4095, 0]``, then sent
with ``PUT /api/v1/debug/notifier-error-inject``. The service's injector is
the loaded module: a write enables it (at its current priority) while any
action has an errno, and disables it when both are back to 0, which vetoes
exactly as the module with zeros does (never). While it is disabled the
files read 0.
"""

from __future__ import annotations

import errno
from typing import Final

from clients.models import ErrorInjection
from clients.sysfs.backend import Backend
from clients.sysfs.parse import clamp_injected_errno, decode, kstrtoll
from clients.sysfs.tree import DIRECTORY, Node, SysfsError, TreePath, file_node

ACTIONS: Final = ("MEM_GOING_OFFLINE", "MEM_GOING_ONLINE")
ACTIONS_DIR: Final = ("notifier-error-inject", "memory", "actions")
ERROR_FILE: Final = file_node(0o600)


def shown_errors(injection: ErrorInjection) -> dict[str, int]:
    """The value of each ``error`` file: the service's errno while enabled, else 0."""
    actions = injection.get("actions") or {}
    enabled = bool(injection.get("enabled"))
    return {action: int(actions.get(action, 0)) if enabled else 0 for action in ACTIONS}


class DebugfsTree:
    """A debugfs root holding only the memory error-injection files."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def lookup(self, path: TreePath) -> Node | None:
        """Directories down to ``actions/<ACTION>``, then its ``error`` file."""
        if path == ACTIONS_DIR[: len(path)]:
            return DIRECTORY
        if path[:3] != ACTIONS_DIR or path[3] not in ACTIONS:
            return None
        if len(path) == 4:
            return DIRECTORY
        return ERROR_FILE if path[4:] == ("error",) else None

    async def children(self, path: TreePath) -> list[tuple[str, Node]]:
        """One name per level, the two actions, and each action's ``error``."""
        if path == ACTIONS_DIR:
            return [(action, DIRECTORY) for action in ACTIONS]
        if len(path) < len(ACTIONS_DIR):
            return [(ACTIONS_DIR[len(path)], DIRECTORY)]
        return [("error", ERROR_FILE)]

    async def read(self, path: TreePath) -> bytes:
        """``"%lld\\n"`` of the action's errno."""
        errors = shown_errors(await self.backend.injection())
        return f"{errors[path[3]]}\n".encode()

    async def write(self, path: TreePath, data: bytes) -> None:
        """Set the action's errno (clamped), keeping the other action's."""
        value = clamp_injected_errno(kstrtoll(decode(data), 0))
        if path[3] not in ACTIONS:
            raise SysfsError(errno.EACCES)
        injection = await self.backend.injection()
        errors = shown_errors(injection) | {path[3]: value}
        priority = int(injection.get("priority", 0))
        await self.backend.set_injection(any(errors.values()), priority, errors)
