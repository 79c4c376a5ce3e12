"""hotplugd as a real child process (``python -m app``), for crash and start-up tests.

``HotplugProcess`` starts the service on a known free port of 127.0.0.1 with a
clean ``HOTPLUG_*`` environment, waits (bounded) for ``/healthz``, and is
always killed and reaped when its ``async with`` block ends. Its stdout and
stderr go to files in the test's directory so that they can be read after
the process died.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.support.server import seconds

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any ``HOTPLUG_*`` variable, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTPLUG_")}
    env.update(overrides)
    return env


def run_app(
    args: Sequence[str], env: Mapping[str, str], timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m app ARGS`` to completion (for options that exit at once)."""
    return subprocess.run(
        [PYTHON, "-m", "app", *args],
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=seconds(timeout),
        check=False,
    )


class HotplugProcess:
    """One ``python -m app`` child process on 127.0.0.1:``port``."""

    def __init__(
        self,
        workdir: Path,
        *,
        data_dir: Path,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        name: str = "hotplugd",
    ) -> None:
        self.workdir = workdir
        self.data_dir = data_dir
        self.port = port or free_port()
        self.env = clean_env(**(env or {}))
        self.args = list(args)
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn the process (not waiting for it)."""
        command = [
            PYTHON,
            "-m",
            "app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.args,
        ]
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=out, stderr=err)

    async def wait_live(self, timeout: float = 15) -> None:
        """Wait until ``/healthz`` answers 200 (fails if the process exits first)."""
        deadline = time.monotonic() + seconds(timeout)
        async with httpx.AsyncClient(base_url=self.http, timeout=seconds(2)) as client:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"hotplugd exited with {self.proc.returncode}: {self.stderr()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise AssertionError(f"hotplugd not live within {timeout}s: {self.stderr()}")
                await asyncio.sleep(0.02)

    async def wait_ready(self, timeout: float = 15) -> None:
        """Wait until ``/readyz`` answers 200."""
        deadline = time.monotonic() + seconds(timeout)
        async with httpx.AsyncClient(base_url=self.http, timeout=seconds(2)) as client:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                assert self.proc is not None
                assert self.proc.poll() is None, self.stderr()
                if time.monotonic() > deadline:
                    raise AssertionError(f"hotplugd not ready within {timeout}s: {self.stderr()}")
                await asyncio.sleep(0.02)

    async def wait_exit(self, timeout: float = 15) -> int:
        """Wait (bounded) for the process to exit; its return code."""
        assert self.proc is not None
        deadline = time.monotonic() + seconds(timeout)
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"hotplugd did not exit within {timeout}s")
            await asyncio.sleep(0.02)
        return self.proc.returncode

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the process."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            await self.wait_exit()

    def stderr(self) -> str:
        """Everything the process wrote to stderr so far."""
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    async def __aenter__(self) -> HotplugProcess:
        self.start()
        try:
            await self.wait_live()
        except BaseException:
            await self.kill()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.kill()


async def open_ws(url: str, token: str) -> ClientConnection:
    """A websocket with a bearer token (bounded handshake)."""
    return await connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=seconds(5)
    )


async def recv_json(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    """The next text frame, decoded (bounded)."""
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), seconds(timeout)))
    return frame
