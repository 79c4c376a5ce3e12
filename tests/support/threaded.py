"""A real hotplugd served by uvicorn on its own event loop in a background thread.

For synchronous clients that would block the test's own loop (schemathesis
calls the API with ``requests``). ``threaded_service(tmp_path, **settings)``
starts ``create_app`` on 127.0.0.1 port 0 in a daemon thread, waits (bounded)
until it is served, and stops it (bounded) when the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.main import create_app
from tests.support.hotplug import make_settings
from tests.support.server import RunningServer, seconds, serve


@dataclass
class ThreadedService:
    """A hotplugd served in a background thread: where it listens, and its app."""

    server: RunningServer
    app: Any
    loop: asyncio.AbstractEventLoop

    @property
    def http(self) -> str:
        return self.server.http

    def run(self, coro: Any, timeout: float = 10) -> Any:
        """Run a coroutine on the service's loop (bounded) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(seconds(timeout))


@contextlib.contextmanager
def threaded_service(
    tmp_path: Path, server_options: dict[str, Any] | None = None, **overrides: Any
) -> Iterator[ThreadedService]:
    """Serve a fresh hotplugd in a thread until the block ends (uvicorn options optional)."""
    app = create_app(make_settings(tmp_path, **overrides))
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = stop
        box["loop"] = asyncio.get_running_loop()
        try:
            async with serve(app, **(server_options or {})) as server:
                box["server"] = server
                started.set()
                await stop.wait()
        except BaseException as exc:
            box["error"] = exc
            raise
        finally:
            started.set()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="hotplugd", daemon=True)
    thread.start()
    try:
        if not started.wait(seconds(15)) or "server" not in box:
            raise RuntimeError(f"hotplugd did not start: {box.get('error')!r}")
        yield ThreadedService(box["server"], app, box["loop"])
    finally:
        loop, stop = box.get("loop"), box.get("stop")
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(stop.set)
        thread.join(seconds(20))
        if thread.is_alive():
            raise RuntimeError("hotplugd's thread did not stop within 20 s")
