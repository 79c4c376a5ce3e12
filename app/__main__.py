"""``python -m app`` / ``hotplugd``: serve with uvicorn, one process, graceful on SIGTERM.

The chain lives in one process (like the kernel's chain lives in one
kernel), so there is exactly one worker. SIGTERM or SIGINT first drains the
engine (no new requests, the transition in flight finishes, websockets close
with 1001) and only then stops uvicorn; a second signal stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from pydantic import ValidationError

from app.main import VERSION, create_app
from app.memory.layout import LayoutError
from app.settings import Settings
from app.transport.server import uvicorn_options


class GracefulServer(uvicorn.Server):
    """uvicorn, but a signal drains hotplugd before the server stops."""

    def __init__(self, config: uvicorn.Config, app: Any) -> None:
        super().__init__(config)
        self._app = app
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(lambda: loop.create_task(self._drain()))

    async def _drain(self) -> None:
        try:
            await self._app.state.drain()
        finally:
            self.should_exit = True


def parse_args(argv: Sequence[str] | None) -> dict[str, Any]:
    """Command-line options; each overrides its HOTPLUG_* variable."""
    parser = argparse.ArgumentParser(
        prog="hotplugd", description="The memory hotplug notifier chain, over the network."
    )
    parser.add_argument("--host", help="address to listen on (HOTPLUG_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (HOTPLUG_PORT, default 8000)")
    parser.add_argument("--data-dir", type=Path, help="data directory (HOTPLUG_DATA_DIR)")
    parser.add_argument(
        "--database-url", help="sqlite:///PATH or postgresql://... (HOTPLUG_DATABASE_URL)"
    )
    parser.add_argument("--layout", type=Path, help="layout file, TOML or JSON (HOTPLUG_LAYOUT)")
    parser.add_argument(
        "--cancel-scope", choices=["chain", "notified"], help="HOTPLUG_CANCEL_SCOPE"
    )
    parser.add_argument(
        "--admin-token",
        help="admin token (HOTPLUG_ADMIN_TOKEN; prefer the variable: options show in ps)",
    )
    parser.add_argument("--viewer-token", help="read-only token (HOTPLUG_VIEWER_TOKEN)")
    parser.add_argument("--version", action="version", version=f"hotplugd {VERSION}")
    args = parser.parse_args(argv)
    return {k: v for k, v in vars(args).items() if v is not None}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service until a signal; exit status 2 for bad settings."""
    overrides = parse_args(argv)
    try:
        settings = Settings(**overrides)
        app = create_app(settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        print(f"hotplugd: invalid setting {where}: {first['msg']}", file=sys.stderr)
        return 2
    except (LayoutError, OSError, ValueError) as exc:
        print(f"hotplugd: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        **uvicorn_options(),
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_ping_timeout,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
        access_log=False,
        server_header=False,
    )
    server = GracefulServer(config, app)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
