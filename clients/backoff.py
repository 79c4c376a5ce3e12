"""Reconnection delays: exponential backoff with full jitter, bounded.

"Full jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter"): the
n-th delay is uniform in ``[0, min(max_delay, initial * factor**n)]``, so many
clients that lost the same server do not come back in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before reconnection attempt number ``attempt`` (0-based)."""

    initial: float = 0.1
    factor: float = 2.0
    max_delay: float = 10.0
    max_attempts: int | None = None  # None: retry for ever
    uniform: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def __post_init__(self) -> None:
        if self.initial < 0 or self.factor < 1 or self.max_delay < 0:
            raise ValueError("backoff needs initial >= 0, factor >= 1, max_delay >= 0")

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the delay before ``attempt``."""
        # Cap the exponent so a long outage cannot overflow the float.
        return min(self.max_delay, self.initial * self.factor ** min(attempt, 64))

    def delay(self, attempt: int) -> float:
        """A random delay in ``[0, ceiling(attempt)]``."""
        return self.uniform(0.0, self.ceiling(attempt))

    def exhausted(self, attempt: int) -> bool:
        """Whether ``attempt`` is beyond ``max_attempts``."""
        return self.max_attempts is not None and attempt >= self.max_attempts
