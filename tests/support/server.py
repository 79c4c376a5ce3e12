"""Real uvicorn servers on 127.0.0.1, port 0, inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from app.transport.server import uvicorn_options

# Scale every wait in the tests by HOTPLUG_TEST_TIMEOUT_FACTOR on slow machines
# (the websockets project's trick): deadlines, never sleeps.
TIMEOUT_FACTOR = float(os.environ.get("HOTPLUG_TEST_TIMEOUT_FACTOR", "1"))


def seconds(value: float) -> float:
    """A test deadline, scaled for the machine."""
    return value * TIMEOUT_FACTOR


@dataclass(frozen=True)
class RunningServer:
    """Where a started server listens."""

    host: str
    port: int

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def serve(app: Any, **config: Any) -> AsyncIterator[RunningServer]:
    """Serve ``app`` with uvicorn on 127.0.0.1 and an ephemeral port until the block ends."""
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP; with proto 0, Nagle + delayed ACKs add ~40 ms per response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "on", **uvicorn_options()}
    options.update(config)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_for(lambda: server.started or task.done(), timeout=seconds(10))
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped during start-up")
        yield RunningServer("127.0.0.1", port)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=seconds(10))
        sock.close()


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0, interval: float = 0.005
) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + seconds(timeout)
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        await asyncio.sleep(interval)
