"""Logs the cyclic GC's pauses of the process it is loaded into (``--gc-probe``).

Put this directory on ``PYTHONPATH`` of a child process (the benchmarks do
it for the hotplugd server, without touching ``app/``): every collection of
generation 2, and every one over 2 ms, is appended to ``$GCPROBE_LOG`` as
``<unix time> gen<N> <ms> <objects collected>``.
"""

import gc
import os
import time

_LOG = os.environ.get("GCPROBE_LOG")
_started = [0.0]


def _callback(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started[0]) * 1000
    if (ms > 2 or info["generation"] == 2) and _LOG:
        with open(_LOG, "a") as log:
            log.write(f"{time.time():.3f} gen{info['generation']} {ms:.1f} {info['collected']}\n")


if _LOG:
    gc.callbacks.append(_callback)
