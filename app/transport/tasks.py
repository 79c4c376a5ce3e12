"""Small task helpers: every task has an owner, and the owner stops it."""

from __future__ import annotations

import asyncio

__all__ = ["stop_task"]


async def stop_task(task: asyncio.Task[object]) -> None:
    """Cancel ``task`` and wait for it; re-raise its own failure, not its cancellation.

    A cancellation of the caller itself still propagates (``asyncio.wait`` does
    not swallow it).
    """
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.result()
