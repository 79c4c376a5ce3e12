"""Real util-linux, real shell, real FUSE against a real hotplugd.

``hotplugctl mount`` runs as its own process. ``lsmem --sysroot ROOT`` reads
the projection at ROOT/sys/devices/system/memory and must print what
``hotplugctl lsmem`` prints; ``chmem`` (which has no --sysroot) runs inside
``unshare -m`` with the projection bind-mounted over
/sys/devices/system/memory, so the machine's own sysfs is never touched
outside that private namespace. Each test says why it skips.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shlex
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from clients.sysfs.safety import is_mounted, read_mounts
from tests.support.hotplug import ADMIN_TOKEN, Service, answer_by_action
from tests.support.process import REPO, clean_env, free_port
from tests.support.server import seconds, wait_for
from tests.sysfs.support import (
    DEBUGFS,
    MEMORY,
    SELFTEST,
    Projection,
    RequestLog,
    Result,
    counted_service,
    fuse_missing,
    hotplugctl,
    in_namespace,
    projection,
    run,
    tool_missing,
    unshare_missing,
    write_layout,
)

pytestmark = pytest.mark.skipif(bool(fuse_missing()), reason=fuse_missing() or "")

REAL_MEMORY = Path("/sys/devices/system/memory")

GAPS_LAYOUT = """
block_size_bytes = 268435456
auto_online_blocks = "online_movable"

[[blocks]]
first = 0
count = 4
node = 0
state = "online"
removable = false

[[blocks]]
first = 4
count = 2
node = 0
state = "online"
zone = "Movable"

[[blocks]]
first = 8
count = 4
node = 1
default_zone = "Movable"

[[blocks]]
first = 16
count = 2
node = 3
state = "online"

[[blocks]]
first = 18
node = 3
"""

HIGHMEM_LAYOUT = """
highmem = true
block_size_bytes = 67108864

[[blocks]]
first = 0
count = 4
node = 0
state = "online"
removable = false

[[blocks]]
first = 4
count = 2
node = 1
default_zone = "HighMem"
state = "online"

[[blocks]]
first = 6
count = 3
node = 1
default_zone = "HighMem"

[[blocks]]
first = 9
count = 2
node = 2
"""

NO_BLOCK_ZERO_LAYOUT = """
[[blocks]]
first = 4
count = 4
node = 0
state = "online"
removable = false

[[blocks]]
first = 8
count = 4
node = 1
"""


def large_layout(blocks: int = 768) -> str:
    """Four nodes, runs of five blocks alternating online/offline, boot memory fixed."""
    parts = []
    for first in range(0, blocks, 5):
        online = (first // 5) % 2 == 0
        parts.append(
            "[[blocks]]\n"
            f"first = {first}\ncount = {min(5, blocks - first)}\nnode = {first * 4 // blocks}\n"
            f'state = "{"online" if online else "offline"}"\n'
            f"removable = {'false' if first < 20 else 'true'}\n"
        )
    return "\n".join(parts)


LSMEM_OPTIONS: list[list[str]] = [
    [],
    ["-o", "+NODE,ZONES"],
    ["-b"],
    ["-J"],
    ["-J", "-b", "-o", "+NODE"],
    ["-P", "--output-all"],
    ["-r", "-n", "-o", "+NODE"],
    ["--summary=only"],
    ["--summary=never", "-S", "NODE", "-o", "+NODE"],
]
ALL_BLOCKS: list[list[str]] = [["-a"], ["-a", "-o", "RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES"]]
LSMEM_SKIP = tool_missing("lsmem")


@pytest.fixture
async def counted(tmp_path: Path) -> AsyncIterator[tuple[Service, RequestLog]]:
    async with counted_service(tmp_path) as pair:
        yield pair


async def lsmem(root: Path, *options: str) -> Result:
    return await run(["lsmem", "--sysroot", str(root), *options])


async def assert_lsmem_matches(service: Service, root: Path, options: list[list[str]]) -> None:
    """Real lsmem on the projection prints exactly what ``hotplugctl lsmem`` prints."""
    for opts in options:
        real = await lsmem(root, *opts)
        ours = await hotplugctl(service, "lsmem", *opts)
        assert (real.status, real.stderr) == (0, ""), (opts, real)
        assert ours.status == 0, (opts, ours)
        assert real.stdout == ours.stdout, f"lsmem {opts}:\n{real.stdout}\n---\n{ours.stdout}"


# -- lsmem --------------------------------------------------------------------------


@pytest.mark.skipif(bool(LSMEM_SKIP), reason=LSMEM_SKIP or "")
@pytest.mark.parametrize(
    ("name", "layout"),
    [("builtin", None), ("gaps", GAPS_LAYOUT), ("highmem", HIGHMEM_LAYOUT)],
)
async def test_lsmem_prints_what_hotplugctl_lsmem_prints(
    tmp_path: Path, name: str, layout: str | None
) -> None:
    overrides: dict[str, Any] = {}
    if layout is not None:
        overrides["layout"] = write_layout(tmp_path, f"{name}.toml", layout)
    options = LSMEM_OPTIONS + ([] if name == "highmem" else ALL_BLOCKS)  # see the xfail below
    async with (
        counted_service(tmp_path, **overrides) as (service, log),
        # a TTL longer than any lsmem run, however loaded the machine
        projection(service, tmp_path, "--cache-ttl", "5") as mounted,
    ):
        log.clear()
        first = await lsmem(mounted.root)
        assert first.status == 0, first
        assert log.api() == ["GET /api/v1/memory/blocks"], "a whole-tree read: one request"
        await assert_lsmem_matches(service, mounted.root, options)
        # after a change made through the projection, too
        blocks = (await service.admin.get("/api/v1/memory/blocks")).json()
        state = mounted.memory / f"memory{blocks[-1]['id']}" / "state"
        current = (await asyncio.to_thread(state.read_text)).strip()
        await asyncio.to_thread(state.write_text, "offline" if current == "online" else "online")
        await assert_lsmem_matches(service, mounted.root, options[:2])


@pytest.mark.skipif(bool(LSMEM_SKIP), reason=LSMEM_SKIP or "")
@pytest.mark.xfail(
    strict=True,
    reason="hotplugctl lsmem (clients/_table.py) widens SIZE to its width hint (5) even when "
    "every cell is narrower than the header; libsmartcols then keeps the header's width (4), "
    "as lsmem -a shows for 64M blocks",
)
async def test_lsmem_all_blocks_with_sizes_narrower_than_the_header(tmp_path: Path) -> None:
    layout = write_layout(tmp_path, "highmem.toml", HIGHMEM_LAYOUT)
    async with (
        counted_service(tmp_path, layout=layout) as (service, _),
        projection(service, tmp_path) as mounted,
    ):
        await assert_lsmem_matches(service, mounted.root, [["-a"]])


@pytest.mark.skipif(bool(LSMEM_SKIP), reason=LSMEM_SKIP or "")
async def test_lsmem_on_a_large_machine(tmp_path: Path) -> None:
    """768 blocks on four nodes: the same output, still one request per read of the tree."""
    layout = write_layout(tmp_path, "large.toml", large_layout())
    async with (
        counted_service(tmp_path, layout=layout) as (service, log),
        projection(service, tmp_path, "--cache-ttl", "10") as mounted,
    ):
        log.clear()
        assert (await lsmem(mounted.root, "-a")).status == 0
        assert log.api() == ["GET /api/v1/memory/blocks"]
        await assert_lsmem_matches(service, mounted.root, [[], ["-o", "+NODE,ZONES"]])


@pytest.mark.skipif(bool(LSMEM_SKIP), reason=LSMEM_SKIP or "")
async def test_lsmem_without_memory0_has_no_zones(tmp_path: Path) -> None:
    """As on a kernel: lsmem looks for memory0/valid_zones, so no block 0 means no ZONES.

    The other columns still match ``hotplugctl lsmem``, which shows zones
    whatever the first block is.
    """
    layout = write_layout(tmp_path, "nozero.toml", NO_BLOCK_ZERO_LAYOUT)
    async with (
        counted_service(tmp_path, layout=layout) as (service, _),
        projection(service, tmp_path) as mounted,
    ):
        await assert_lsmem_matches(service, mounted.root, [[], ["-o", "+NODE"], ["-a", "-b"]])
        # no zones to split by: one range, an empty ZONES cell
        real = await lsmem(mounted.root, "-o", "BLOCK,ZONES", "-n", "-r")
        assert real.stdout.split() == ["4-11"]


@pytest.mark.skipif(bool(LSMEM_SKIP), reason=LSMEM_SKIP or "")
async def test_lsmem_shows_a_block_going_offline(
    tmp_path: Path, counted: tuple[Service, RequestLog]
) -> None:
    service, _ = counted
    response = await service.admin.patch("/api/v1/memory/blocks/9", json={"migration_ms": 600000})
    assert response.status_code == 200
    response = await service.admin.post("/api/v1/memory/blocks/9/offline?wait=false", json={})
    assert response.status_code == 202
    transition = response.json()["id"]
    async with projection(service, tmp_path) as mounted:
        real = await lsmem(mounted.root, "-o", "+NODE,ZONES")
        assert "on->off" in real.stdout
        await assert_lsmem_matches(service, mounted.root, [["-o", "+NODE,ZONES"], ["-a"]])
    response = await service.admin.post(f"/api/v1/transitions/{transition}/abort")
    assert response.status_code in (200, 202)


# -- chmem (inside unshare -m) ----------------------------------------------------

CHMEM_SKIP = tool_missing("chmem") or unshare_missing()
if not CHMEM_SKIP and not REAL_MEMORY.is_dir():
    CHMEM_SKIP = f"{REAL_MEMORY} does not exist here: nothing to bind-mount over"


async def chmem(mounted: Projection, *args: str) -> Result:
    """``chmem ARGS`` with the projection bind-mounted over the real path, privately."""
    script = (
        f"mount --bind {shlex.quote(str(mounted.memory))} {REAL_MEMORY} || exit 99\n"
        f"exec chmem {shlex.join(args)}"
    )
    result = await in_namespace(script)
    assert result.status != 99, f"bind mount failed: {result.stderr}"
    return result


async def states(service: Service, *blocks: int) -> list[str]:
    return [(await service.block(block))["state"] for block in blocks]


def block_text(block: int, size: int = 2**27) -> str:
    """chmem's name for a block."""
    return f"Memory Block {block} (0x{block * size:016x}-0x{(block + 1) * size - 1:016x})"


@pytest.mark.skipif(bool(CHMEM_SKIP), reason=CHMEM_SKIP or "")
async def test_chmem_sizes_ranges_and_blocks(
    tmp_path: Path, counted: tuple[Service, RequestLog]
) -> None:
    service, _ = counted
    async with projection(service, tmp_path) as mounted:
        result = await chmem(mounted, "-v", "-e", "256M")
        assert result.status == 0, result
        assert f"{block_text(12)} enabled" in result.stdout
        assert f"{block_text(13)} enabled" in result.stdout
        # valid_zones lists Movable, so chmem chose online_movable
        assert [(await service.block(b))["zone"] for b in (12, 13)] == ["Movable", "Movable"]

        result = await chmem(mounted, "-v", "-d", "-b", "12-13")
        assert result.status == 0, result
        assert await states(service, 12, 13) == ["offline", "offline"]

        result = await chmem(mounted, "-e", "0x60000000-0x6fffffff")
        assert result.status == 0, result
        assert await states(service, 12, 13) == ["online", "online"]

        result = await chmem(mounted, "-e", "-z", "Normal", "-b", "14")
        assert result.status == 0, result
        assert (await service.block(14))["zone"] == "Normal"

        result = await chmem(mounted, "-v", "-e", "-b", "12")
        assert result.status == 0, result
        assert "already enabled" in result.stdout

        # a size disables from the top: 14, then the Movable blocks 13, 12, 11
        result = await chmem(mounted, "-d", "512M")
        assert result.status == 0, result
        assert await states(service, 11, 12, 13, 14) == ["offline"] * 4
        assert await states(service, 10) == ["online"]

        # not block-aligned: chmem refuses before writing anything
        result = await chmem(mounted, "-e", "100M")
        assert result.status == 1
        assert "aligned to memory block size (128M)" in result.stderr


@pytest.mark.skipif(bool(CHMEM_SKIP), reason=CHMEM_SKIP or "")
async def test_chmem_reports_vetoes_and_partial_success(
    tmp_path: Path, counted: tuple[Service, RequestLog]
) -> None:
    """0 all done, 1 nothing done, 64 partly done; the veto's errno in chmem's message."""
    service, _ = counted

    def veto_block_13(frame: dict[str, Any]) -> dict[str, Any]:
        if frame["action"] == "MEM_GOING_ONLINE" and frame["block"] == 13:
            return {"result": "NOTIFY_BAD", "errno": -12, "message": "no room for 13"}
        if frame["action"] == "MEM_GOING_OFFLINE" and frame["block"] == 8:
            return {"result": "NOTIFY_BAD"}
        return {"result": "NOTIFY_OK"}

    await service.subscriber("picky", veto_block_13)
    response = await service.admin.patch("/api/v1/memory/blocks/9", json={"isolation_fails": True})
    assert response.status_code == 200
    async with projection(service, tmp_path) as mounted:
        result = await chmem(mounted, "-e", "-b", "12-14")
        assert result.status == 64, result
        assert f"chmem: {block_text(13)} enable failed: Cannot allocate memory" in result.stderr
        assert await states(service, 12, 13, 14) == ["online", "offline", "online"]

        result = await chmem(mounted, "-d", "-b", "8")
        assert result.status == 1, result
        assert f"{block_text(8)} disable failed: Operation not permitted" in result.stderr
        assert await states(service, 8) == ["online"]

        result = await chmem(mounted, "-d", "-b", "9")
        assert result.status == 1, result
        assert f"{block_text(9)} disable failed: Device or resource busy" in result.stderr

        result = await chmem(mounted, "-e", "-b", "26-30")  # 28-30 do not exist
        assert result.status == 64, result
        assert await states(service, 26, 27) == ["online", "online"]

        result = await chmem(mounted, "-e", "4G")  # 13 vetoed, the rest is only 1.5G
        assert result.status == 64, result
        assert "Could only enable" in result.stderr


@pytest.mark.skipif(bool(CHMEM_SKIP), reason=CHMEM_SKIP or "")
async def test_mount_straight_over_sys_inside_a_private_namespace(
    tmp_path: Path, counted: tuple[Service, RequestLog]
) -> None:
    """Inside ``unshare -m`` the command itself may mount over /sys/devices/system/memory,
    and plain ``lsmem`` (no --sysroot) lists the service's memory there."""
    service, _ = counted
    errors = tmp_path / "mount.stderr"
    script = f"""
{shlex.quote(sys.executable)} -m clients mount {REAL_MEMORY} --url {service.server.http} \\
    >/dev/null 2>{shlex.quote(str(errors))} &
pid=$!
i=0
until grep -q 'fuse.hotplugd' /proc/self/mountinfo; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 $pid 2>/dev/null; then kill $pid 2>/dev/null; exit 98; fi
    sleep 0.1
done
lsmem -o +NODE,ZONES
status=$?
kill -TERM $pid
wait $pid
echo "mount exited $?"
exit $status
"""
    result = await in_namespace(script, env=clean_env(HOTPLUG_TOKEN=ADMIN_TOKEN))
    assert result.status == 0, (result, errors.read_text())
    ours = await hotplugctl(service, "lsmem", "-o", "+NODE,ZONES")
    assert result.stdout == ours.stdout + "mount exited 0\n", errors.read_text()
    assert not [m for m in read_mounts() if m.fstype == "fuse.hotplugd"], "seen outside"


# -- write(2) results through the kernel ---------------------------------------------


def write_errno(path: Path, data: bytes) -> int:
    """0, or the errno of one open+write+close of ``data`` (as ``echo WORD > path``)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError as exc:
        return exc.errno or -1
    result = 0
    try:
        os.write(fd, data)
    except OSError as exc:
        result = exc.errno or -1
    try:
        os.close(fd)
    except OSError as exc:
        result = result or exc.errno or -1
    return result


async def test_write_results_are_the_kernels_errnos(
    tmp_path: Path, counted: tuple[Service, RequestLog]
) -> None:
    service, _ = counted
    await service.subscriber(
        "vetoer",
        answer_by_action(
            {
                "MEM_GOING_ONLINE": {"result": "NOTIFY_BAD"},
                "MEM_GOING_OFFLINE": {"result": "NOTIFY_BAD", "errno": -12},
            }
        ),
        nodes=[1],
    )
    response = await service.admin.patch("/api/v1/memory/blocks/9", json={"isolation_fails": True})
    assert response.status_code == 200
    async with projection(service, tmp_path) as mounted:
        memory = mounted.memory
        cases = [
            (memory / "memory12/state", b"online\n", errno.EPERM),  # NOTIFY_BAD
            (memory / "memory20/state", b"online\n", 0),
            (memory / "memory20/state", b"online\n", errno.EINVAL),  # already online
            (memory / "memory20/state", b"bogus\n", errno.EINVAL),
            (memory / "memory20/online", b"1\n", 0),  # the current value: a no-op
            (memory / "memory9/state", b"offline\n", errno.EBUSY),  # isolation fails
            (memory / "memory8/phys_index", b"1\n", errno.EACCES),
            (memory / "probe", b"0x100000001\n", errno.EINVAL),
            (memory / "auto_online_blocks", b"sometimes\n", errno.EINVAL),
            (memory / "memory20/state", b"offline\n", 0),
        ]
        for path, data, expected in cases:
            assert await asyncio.to_thread(write_errno, path, data) == expected, (path, data)
        with pytest.raises(PermissionError):
            await asyncio.to_thread((memory / "probe").read_text)
        state = await asyncio.to_thread((memory / "memory20/state").read_text)
        assert state == "offline\n"
        assert await asyncio.to_thread(os.readlink, memory / "memory20/node2") == "../../node/node2"
        listing = await asyncio.to_thread(os.listdir, memory)
        assert {"block_size_bytes", "auto_online_blocks", "probe", "memory27"} <= set(listing)


# -- the process: start, signals, unmount ------------------------------------------


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


async def test_sigint_and_sigterm_unmount_cleanly(
    tmp_path: Path, counted: tuple[Service, RequestLog]
) -> None:
    service, _ = counted
    for number, sig in enumerate((signal.SIGINT, signal.SIGTERM)):
        async with projection(service, tmp_path / str(number), debugfs=True) as mounted:
            assert mounted.debugfs is not None
            assert is_mounted(str(mounted.memory))
            assert is_mounted(str(mounted.debugfs))
            assert "error injection at" in mounted.ready_line
            assert await mounted.stop(sig) == 0
            assert not is_mounted(str(mounted.memory))
            assert not is_mounted(str(mounted.debugfs))
            assert "unmounted" in mounted.stderr()
            assert not processes_mentioning(str(mounted.debugfs)), "the debugfs process is gone"


async def test_sigterm_during_a_hanging_write(
    tmp_path: Path, counted: tuple[Service, RequestLog]
) -> None:
    """A write waiting on a long transition does not hold the unmount up for long:
    after the grace period the request is abandoned and the writer gets an error."""
    service, _ = counted
    response = await service.admin.patch("/api/v1/memory/blocks/8", json={"migration_ms": 600000})
    assert response.status_code == 200
    async with projection(service, tmp_path) as mounted:
        writer = asyncio.create_task(
            asyncio.to_thread(write_errno, mounted.memory / "memory8/state", b"offline")
        )

        async def going_offline() -> bool:
            return (await service.block(8))["state"] == "going-offline"

        await wait_for(going_offline, timeout=10)
        assert await mounted.stop(signal.SIGTERM) == 0
        assert "abandoning" in mounted.stderr()
        async with asyncio.timeout(seconds(20)):
            assert await writer in (errno.ECONNABORTED, errno.ENOTCONN)  # the kernel aborts it
        assert not is_mounted(str(mounted.memory))
    transition = (await service.block(8))["transition"]
    response = await service.admin.post(f"/api/v1/transitions/{transition}/abort")
    assert response.status_code in (200, 202)


async def test_the_debugfs_process_dies_with_its_parent(
    tmp_path: Path, counted: tuple[Service, RequestLog]
) -> None:
    """SIGKILL leaves no time to clean up: the child still unmounts (PR_SET_PDEATHSIG)."""
    service, _ = counted
    async with projection(service, tmp_path, debugfs=True) as mounted:
        assert mounted.debugfs is not None
        debugfs = str(mounted.debugfs)
        assert await mounted.stop(signal.SIGKILL) == -signal.SIGKILL
        await wait_for(lambda: not is_mounted(debugfs), timeout=20)
        await wait_for(lambda: not processes_mentioning(debugfs), timeout=20)
    assert not is_mounted(str(mounted.memory)), "the fixture cleans the dead mount up"


async def test_an_external_unmount_ends_the_process(
    tmp_path: Path, counted: tuple[Service, RequestLog]
) -> None:
    service, _ = counted
    async with projection(service, tmp_path) as mounted:
        result = await run(["umount", str(mounted.memory)])
        assert result.status == 0, result
        async with asyncio.timeout(seconds(20)):
            await mounted.proc.wait()
        assert mounted.proc.returncode == 0, mounted.stderr()
        assert not is_mounted(str(mounted.memory))


async def test_an_unreachable_service_mounts_nothing(tmp_path: Path) -> None:
    target = tmp_path / "memory"
    target.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    result = await run(
        [sys.executable, "-m", "clients", "mount", str(target), "--url", url],
        env=clean_env(HOTPLUG_TOKEN=ADMIN_TOKEN),
        cwd=REPO,
    )
    assert result.status == 1, result
    assert "cannot reach" in result.stderr
    assert not is_mounted(str(target))
    result = await run(
        [sys.executable, "-m", "clients", "mount", str(tmp_path / "missing"), "--url", url],
        env=clean_env(),
    )
    assert result.status == 2, result
    assert "not a directory" in result.stderr


# -- the selftest ---------------------------------------------------------------------

SELFTEST_SKIP = tool_missing("bash")


@pytest.mark.skipif(bool(SELFTEST_SKIP), reason=SELFTEST_SKIP or "")
async def test_mem_on_off_selftest(tmp_path: Path, counted: tuple[Service, RequestLog]) -> None:
    """Online all, offline a share, then with injected errors every write fails."""
    service, _ = counted
    async with projection(service, tmp_path, debugfs=True) as mounted:
        assert mounted.debugfs is not None
        result = await run(
            [
                "bash",
                str(SELFTEST),
                "-m",
                str(mounted.memory),
                "-d",
                str(mounted.debugfs),
                "-r",
                "50",
                "-s",
                "7",
            ],
            timeout=300,
        )
    assert result.status == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    refused = [line for line in result.stdout.splitlines() if line.startswith("refused")]
    assert refused
    assert all(line.endswith("Cannot allocate memory") for line in refused)
    assert any("echo online" in line for line in refused)
    assert any("echo offline" in line for line in refused)
    # every removable block ended online (phase 6), the failed offlines kept it so
    blocks = (await service.admin.get("/api/v1/memory/blocks")).json()
    assert {b["state"] for b in blocks if b["removable"]} == {"online"}
    injection = (await service.admin.get("/api/v1/debug/notifier-error-inject")).json()
    assert injection["enabled"] is False, "the script resets the injection on exit"


@pytest.mark.skipif(bool(SELFTEST_SKIP or CHMEM_SKIP), reason=SELFTEST_SKIP or CHMEM_SKIP or "")
async def test_mem_on_off_selftest_at_the_real_paths(
    tmp_path: Path, counted: tuple[Service, RequestLog]
) -> None:
    """The script with its defaults, /sys/devices/system/memory and /sys/kernel/debug,
    over which the projection is bind-mounted inside a private namespace."""
    service, _ = counted
    if not (Path("/") / DEBUGFS).is_dir():
        pytest.skip("/sys/kernel/debug does not exist here")
    async with projection(service, tmp_path, debugfs=True) as mounted:
        assert mounted.debugfs is not None
        script = (
            f"mount --bind {shlex.quote(str(mounted.memory))} /{MEMORY} || exit 99\n"
            f"mount --bind {shlex.quote(str(mounted.debugfs))} /{DEBUGFS} || exit 99\n"
            f"exec bash {shlex.quote(str(SELFTEST))} -e -16 -r 20 -s 3"
        )
        result = await in_namespace(script, timeout=300)
    assert result.status == 0, result.stdout + result.stderr
    refused = [line for line in result.stdout.splitlines() if line.startswith("refused")]
    assert refused
    assert all(line.endswith("Device or resource busy") for line in refused)
