"""Stopping a mount while the kernel has a request on the way.

pyfuse3 3.5's asyncio layer raises InvalidStateError from ``terminate()``
when a FUSE request made the fd readable in the same loop iteration; the
session loops it did not wake then kept running after ``pyfuse3.close()``
destroyed the session, and ``hotplugctl mount`` died of SIGSEGV on SIGTERM
(seen in CI as ``mount exited 139``). The race is forced here by hand, in a
child process so that a crash fails this test instead of killing pytest.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.process import REPO, clean_env
from tests.sysfs.support import force_unmount, fuse_missing, run

pytestmark = pytest.mark.skipif(bool(fuse_missing()), reason=fuse_missing() or "")

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, select, sys, threading, time

    import pyfuse3.asyncio

    from clients.sysfs import fs
    from clients.sysfs.tree import DIRECTORY, file_node

    class OneFile:
        async def lookup(self, path):
            return {(): DIRECTORY, ("x",): file_node(0o444)}.get(path)

        async def children(self, path):
            return [("x", file_node(0o444))] if path == () else []

        async def read(self, path):
            return b"x\\n"

        async def write(self, path, data):
            raise AssertionError("read-only")

    async def race(mountpoint, stop):
        deadline = time.monotonic() + 20
        # wait until the session loop waits for the FUSE fd
        while not any(f for f in pyfuse3.asyncio._read_futures.values()):
            assert time.monotonic() < deadline, "no session loop waits"
            await asyncio.sleep(0.01)
        [(fd, waiting)] = pyfuse3.asyncio._read_futures.items()
        # a request arrives: the fd turns readable ...
        answered = []
        threading.Thread(
            target=lambda: answered.append(os.path.exists(os.path.join(mountpoint, "x"))),
            daemon=True,
        ).start()
        assert select.select([fd], [], [], 20)[0], "the request never came"
        # ... the loop's reader callback runs (the wait has its result) and,
        # before the woken session loop runs, the mount is told to stop.
        for future in list(waiting):
            future.set_result(None)
        fs._terminate()
        stop.set()
        print("terminated", flush=True)

    async def main(mountpoint):
        stop = asyncio.Event()
        racer = asyncio.ensure_future(race(mountpoint, stop))
        await asyncio.wait_for(
            fs.serve(OneFile(), mountpoint, stop=stop, timeout=1, grace=5), 30
        )
        await racer
        print("unmounted", flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_stopping_while_a_request_arrives_unmounts_without_crashing(tmp_path: Path) -> None:
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    try:
        result = await run(
            [sys.executable, "-X", "faulthandler", "-c", SCRIPT, str(mountpoint)],
            env=clean_env(PYTHONPATH=str(REPO)),
            timeout=60,
        )
    finally:
        force_unmount(mountpoint)
    assert (result.status, result.stdout) == (0, "terminated\nunmounted\n"), result
    assert "Traceback" not in result.stderr, result.stderr
    assert not (mountpoint / "x").exists()
