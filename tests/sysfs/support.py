"""Helpers for the sysfs projection tests: a counted service, mounts, real tools.

``counted_service`` is ``running_service`` with every HTTP request logged at
the ASGI boundary, to show what a tool's reads cost. ``Projection`` runs
``hotplugctl mount`` as a real process (``python -m clients mount``), waits
(bounded) for its "mounted" line, and always stops it and makes sure nothing
stays mounted. Real util-linux and shell commands run as subprocesses of the
test's event loop (the service answers in that loop, so nothing here blocks
it). Every wait is bounded; the reasons to skip are spelled out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import itertools
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.main import create_app
from clients.cli import run as hotplugctl_run
from clients.sysfs.safety import is_mounted
from tests.support.hotplug import (
    ADMIN_TOKEN,
    Service,
    default_ssl_context,
    make_settings,
)
from tests.support.process import REPO, clean_env
from tests.support.server import seconds, serve

MEMORY = Path("sys/devices/system/memory")
_MOUNT_NUMBERS = itertools.count()
DEBUGFS = Path("sys/kernel/debug")
SELFTEST = Path(__file__).with_name("mem-on-off-test.sh")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class RequestLog:
    """``METHOD path`` of every HTTP request the service received, in order."""

    requests: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.requests.clear()

    def api(self) -> list[str]:
        """The REST requests (health checks left out)."""
        return [r for r in self.requests if " /api/" in r]


class CountingApp:
    """An ASGI wrapper that logs each HTTP request, then passes it on."""

    def __init__(self, app: Any, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.log.requests.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def counted_service(
    tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[Service, RequestLog]]:
    """A fresh hotplugd (as ``running_service``) whose HTTP requests are logged."""
    log = RequestLog()
    app = create_app(make_settings(tmp_path, **overrides))
    async with serve(CountingApp(app, log)) as server, contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=server.http,
                    headers=headers,
                    timeout=seconds(30),
                    verify=default_ssl_context(),
                )
            )
            for headers in ({"Authorization": f"Bearer {ADMIN_TOKEN}"}, {}, {})
        ]
        service = Service(server, app, *clients)
        try:
            yield service, log
        finally:
            for sub in service.subscribers:
                with contextlib.suppress(Exception):
                    await sub.close()


def write_layout(tmp_path: Path, name: str, text: str) -> Path:
    """A layout file in the test's directory."""
    path = tmp_path / name
    path.write_text(text)
    return path


# -- what the machine offers ---------------------------------------------------


@functools.cache
def fuse_missing() -> str | None:
    """Why a FUSE mount cannot be made here, or None."""
    if not sys.platform.startswith("linux"):
        return "FUSE tests need Linux"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing: no FUSE in this kernel or container"
    try:
        import pyfuse3  # noqa: F401
    except ImportError:
        return "pyfuse3 is not installed (pip install -e '.[fuse]')"
    if os.geteuid() != 0 and shutil.which("fusermount3") is None:
        return "fusermount3 (Debian fuse3) is needed to mount without root"
    return None


@functools.cache
def tool_missing(*names: str) -> str | None:
    """Why a command is unavailable (util-linux, bash …), or None."""
    for name in names:
        if shutil.which(name) is None:
            return f"{name} is not installed (Debian util-linux / bash)"
    return None


@functools.cache
def unshare_missing() -> str | None:
    """Why ``unshare -m`` with a bind mount is not possible here, or None."""
    if missing := tool_missing("unshare", "mount"):
        return missing
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind /tmp /mnt && umount /mnt"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare -m with a bind mount is not permitted here: {probe.stderr.strip()}"
    return None


# -- processes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """A finished command."""

    status: int
    stdout: str
    stderr: str


async def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> Result:
    """Run a command to completion (bounded); killed when it overruns."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        cwd=cwd,
    )
    try:
        async with asyncio.timeout(seconds(timeout)):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"{argv} did not finish in {timeout}s: {err.decode()}") from None
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def in_namespace(
    script: str, *, env: Mapping[str, str] | None = None, timeout: float = 120
) -> Result:
    """``unshare -m sh -c SCRIPT``: a private mount namespace that dies with the command.

    unshare(1) makes every mount in it private, so nothing done there (a bind
    mount over ``/sys/devices/system/memory`` included) is seen outside.
    """
    return await run(["unshare", "-m", "sh", "-c", script], env=env or clean_env(), timeout=timeout)


async def hotplugctl(service: Service, *argv: str) -> Result:
    """``hotplugctl ARGV`` against the service, in a worker thread (it has its own loop)."""
    out, err = io.StringIO(), io.StringIO()
    args = [*argv, "--url", service.server.http, "--token", ADMIN_TOKEN]
    status = await asyncio.to_thread(hotplugctl_run, args, stdout=out, stderr=err)
    return Result(status, out.getvalue(), err.getvalue())


def force_unmount(path: Path) -> None:
    """Leave nothing mounted at ``path`` (a crashed server's mount included)."""
    for command in (["fusermount3", "-u", "-z", str(path)], ["umount", "-l", str(path)]):
        if not is_mounted(str(path)):
            return
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(command, capture_output=True, timeout=30, check=False)


@dataclass
class Projection:
    """A running ``hotplugctl mount`` process."""

    proc: asyncio.subprocess.Process
    root: Path
    debugfs: Path | None
    stderr_path: Path
    ready_line: str = ""

    @property
    def memory(self) -> Path:
        """ROOT/sys/devices/system/memory."""
        return self.root / MEMORY

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Signal it and wait (bounded) for its exit status."""
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            async with asyncio.timeout(seconds(timeout)):
                await self.proc.communicate()
        except TimeoutError:
            self.proc.kill()
            await self.proc.communicate()
            raise AssertionError(f"hotplugctl mount ignored signal {sig}") from None
        assert self.proc.returncode is not None
        return self.proc.returncode


@contextlib.asynccontextmanager
async def projection(
    service: Service,
    workdir: Path,
    *extra: str,
    debugfs: bool = False,
    token: str = ADMIN_TOKEN,
) -> AsyncIterator[Projection]:
    """``hotplugctl mount ROOT/sys/devices/system/memory`` (``--debugfs ROOT/sys/kernel/debug``).

    ``workdir`` is the test's own directory; each call logs to a new stderr file.
    """
    root = workdir / "root"
    (root / MEMORY).mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "clients", "mount", str(root / MEMORY)]
    argv += ["--url", service.server.http, *extra]
    debug_dir = None
    if debugfs:
        debug_dir = root / DEBUGFS
        debug_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--debugfs", str(debug_dir)]
    stderr_path = workdir / f"mount-{next(_MOUNT_NUMBERS)}.stderr"
    with stderr_path.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            stdin=asyncio.subprocess.DEVNULL,
            env=clean_env(HOTPLUG_TOKEN=token),
            cwd=REPO,
        )
    mounted = Projection(proc, root, debug_dir, stderr_path)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(seconds(30)):
            line = (await proc.stdout.readline()).decode()
        assert line.startswith("mounted "), f"no mount: {line!r} {mounted.stderr()}"
        mounted.ready_line = line
        yield mounted
    finally:
        with contextlib.suppress(AssertionError):
            await mounted.stop()
        force_unmount(root / MEMORY)
        if debug_dir is not None:
            force_unmount(debug_dir)
