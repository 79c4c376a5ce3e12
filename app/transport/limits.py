"""Flood limits for one websocket connection."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FloodLimits", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """When a connection is closed with 1008 for abusing the protocol.

    ``rate`` frames per second may arrive on average, with bursts up to
    ``burst``. A subscriber's replies to notifications it was sent do not
    count: their rate is ours, not the peer's. ``max_unusable`` unusable
    frames in a row (each answered with an ``error`` frame) are tolerated,
    one more closes the connection. A frame that cannot be written within
    ``write_timeout`` seconds means the peer stopped reading: the connection
    is dropped (the service passes its keepalive interval + timeout).
    """

    rate: float = 50.0
    burst: int = 100
    max_unusable: int = 20
    write_timeout: float = 40.0


class TokenBucket:
    """The classic token bucket: ``take()`` is False when the rate is exceeded."""

    __slots__ = ("_burst", "_clock", "_last", "_rate", "_tokens")

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def give_back(self) -> None:
        """Return the token of a frame that turned out to be wanted."""
        self._tokens = min(self._burst, self._tokens + 1.0)
