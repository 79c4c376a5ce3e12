"""The memory and debugfs trees against a real hotplugd, without mounting anything.

What every file reads, what every write sends and the errno it fails with
(kernel-notes §5, §6.1), and what reads cost in API requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clients.errors import HotplugConnectionError, HotplugError, HotplugTimeout
from clients.sysfs.backend import Backend, SysfsClient, errno_of
from clients.sysfs.debugfs import DebugfsTree
from clients.sysfs.memory import MemoryTree, parse_block_dir
from clients.sysfs.tree import SysfsError, TreePath
from tests.support.hotplug import (
    ADMIN_TOKEN,
    VIEWER_TOKEN,
    Service,
    answer_by_action,
    start_transition,
    wait_finished,
)
from tests.support.process import free_port
from tests.support.server import wait_for
from tests.sysfs.support import RequestLog, counted_service

MEMORY_ACTIONS = ("notifier-error-inject", "memory", "actions")


@contextlib.asynccontextmanager
async def trees(
    service: Service, *, ttl: float = 0.5, token: str = ADMIN_TOKEN
) -> AsyncIterator[tuple[MemoryTree, DebugfsTree]]:
    """Both trees over one backend, as the mount command builds them."""
    client = SysfsClient(service.server.http, token)
    async with client:
        backend = Backend(client, ttl=ttl)
        await backend.start()
        yield MemoryTree(backend), DebugfsTree(backend)


@pytest.fixture
async def counted(tmp_path: Path) -> AsyncIterator[tuple[Service, RequestLog]]:
    async with counted_service(tmp_path) as pair:
        yield pair


async def text(tree: MemoryTree | DebugfsTree, *path: str) -> str:
    return (await tree.read(path)).decode()


async def write_errno(tree: MemoryTree | DebugfsTree, path: TreePath, data: bytes) -> int:
    """The errno of a write that must fail."""
    with pytest.raises(SysfsError) as failure:
        await tree.write(path, data)
    return failure.value.errno


async def test_every_file_of_the_builtin_layout(counted: tuple[Service, RequestLog]) -> None:
    service, _ = counted
    async with trees(service) as (memory, _):
        assert await text(memory, "block_size_bytes") == "8000000\n"
        assert await text(memory, "auto_online_blocks") == "offline\n"
        expected = {
            "memory0": ("online\n", "1\n", "00000000\n", "0\n", "0\n", "Normal\n", "node0"),
            "memory8": ("online\n", "1\n", "00000008\n", "0\n", "1\n", "Movable\n", "node0"),
            "memory12": (
                "offline\n",
                "0\n",
                "0000000c\n",
                "0\n",
                "1\n",
                "Normal Movable\n",
                "node1",
            ),
            "memory27": (
                "offline\n",
                "0\n",
                "0000001b\n",
                "0\n",
                "1\n",
                "Movable Normal\n",
                "node2",
            ),
        }
        files = ("state", "online", "phys_index", "phys_device", "removable", "valid_zones")
        for name, (*contents, node) in expected.items():
            assert [await text(memory, name, f) for f in files] == contents
            entries = dict(await memory.children((name,)))
            assert sorted(entries) == sorted([*files, node])
            assert entries[node].kind == "link"
            assert entries[node].target == f"../../node/{node}"
            assert await memory.lookup((name, node)) == entries[node]
        names = [name for name, _ in await memory.children(())]
        assert names[:3] == ["auto_online_blocks", "block_size_bytes", "probe"]
        assert names[3:] == [f"memory{i}" for i in range(28)]


async def test_modes_and_missing_names(counted: tuple[Service, RequestLog]) -> None:
    service, _ = counted
    async with trees(service) as (memory, _):
        modes = {
            ("probe",): 0o200,
            ("block_size_bytes",): 0o444,
            ("auto_online_blocks",): 0o644,
            ("memory3", "state"): 0o644,
            ("memory3", "online"): 0o644,
            ("memory3", "valid_zones"): 0o444,
        }
        for path, mode in modes.items():
            node = await memory.lookup(path)
            assert node is not None, path
            assert (node.kind, node.mode) == ("file", mode), path
        for path in [
            ("memory28",),
            ("memory012",),
            ("memoryx",),
            ("memory",),
            ("memory3", "nope"),
            ("memory3", "node1"),
            ("memory3", "state", "x"),
        ]:
            assert await memory.lookup(path) is None, path
        assert parse_block_dir("memory0") == 0
        assert parse_block_dir("memory٣") is None  # a digit, but not one the kernel writes
        with pytest.raises(SysfsError) as failure:
            await memory.children(("memory99",))
        assert failure.value.errno == errno.ENOENT


async def test_a_whole_tree_read_costs_one_request(counted: tuple[Service, RequestLog]) -> None:
    """lsmem's reads: the listing, then every block's files; one GET of the blocks."""
    service, log = counted
    async with trees(service) as (memory, _):
        log.clear()
        await memory.read(("block_size_bytes",))
        for name, node in await memory.children(()):
            if node.kind != "dir":
                continue
            for file, child in await memory.children((name,)):
                if child.kind == "file" and child.readable:
                    await memory.read((name, file))
        assert log.api() == ["GET /api/v1/memory/blocks"]


async def test_concurrent_reads_share_one_fetch(counted: tuple[Service, RequestLog]) -> None:
    service, log = counted
    async with trees(service) as (memory, _):
        log.clear()
        states = await asyncio.gather(*(memory.read((f"memory{i}", "state")) for i in range(28)))
        assert states.count(b"online\n") == 12
        assert log.api() == ["GET /api/v1/memory/blocks"]


async def test_a_read_after_a_write_is_never_stale(counted: tuple[Service, RequestLog]) -> None:
    """Even with a long TTL: the write invalidates what it can change."""
    service, _ = counted
    async with trees(service, ttl=60) as (memory, _):
        assert await text(memory, "memory12", "state") == "offline\n"
        await memory.write(("memory12", "state"), b"online\n")
        assert await text(memory, "memory12", "state") == "online\n"
        assert await text(memory, "memory12", "online") == "1\n"
        assert await text(memory, "memory12", "valid_zones") == "Normal\n"
        await memory.write(("auto_online_blocks",), b"online_kernel")
        assert await text(memory, "auto_online_blocks") == "online_kernel\n"


async def test_changes_by_others_show_within_the_ttl(counted: tuple[Service, RequestLog]) -> None:
    service, _ = counted
    async with trees(service, ttl=0.2) as (memory, _):
        assert await text(memory, "memory13", "state") == "offline\n"
        assert (await service.online(13)).status_code == 200

        async def shows_online() -> bool:
            return await text(memory, "memory13", "state") == "online\n"

        await wait_for(shows_online, timeout=2)


async def test_state_writes(counted: tuple[Service, RequestLog]) -> None:
    """The four words; already in that state and unknown words are EINVAL."""
    service, log = counted
    async with trees(service) as (memory, _):
        await memory.write(("memory13", "state"), b"online_movable\n")
        assert (await service.block(13))["zone"] == "Movable"
        await memory.write(("memory14", "state"), b"online_kernel")
        assert (await service.block(14))["zone"] == "Normal"
        await memory.write(("memory20", "state"), b"online")  # node 2's default zone
        assert (await service.block(20))["zone"] == "Movable"
        assert await write_errno(memory, ("memory13", "state"), b"online") == errno.EINVAL
        await memory.write(("memory13", "state"), b"offline\n")
        assert (await service.block(13))["state"] == "offline"
        assert await write_errno(memory, ("memory13", "state"), b"offline") == errno.EINVAL
        log.clear()
        for word in (b"bogus", b"Online", b"online\n\n", b"", b"onl\xffine"):
            assert await write_errno(memory, ("memory13", "state"), word) == errno.EINVAL
        assert log.api() == [], "an unknown word is refused before anything is sent"
        assert await write_errno(memory, ("memory13", "phys_index"), b"1") == errno.EACCES


async def test_veto_errnos(counted: tuple[Service, RequestLog]) -> None:
    """NOTIFY_BAD is EPERM, notifier_from_errno(e) is e; the block keeps its state."""
    service, _ = counted
    await service.subscriber(
        "vetoer",
        answer_by_action(
            {
                "MEM_GOING_ONLINE": {"result": "NOTIFY_BAD"},
                "MEM_GOING_OFFLINE": {"result": "NOTIFY_BAD", "errno": -16},
            }
        ),
    )
    async with trees(service) as (memory, _):
        assert await write_errno(memory, ("memory12", "state"), b"online") == errno.EPERM
        assert await text(memory, "memory12", "state") == "offline\n"
        assert await write_errno(memory, ("memory8", "state"), b"offline") == errno.EBUSY
        assert await text(memory, "memory8", "state") == "online\n"
        assert await write_errno(memory, ("memory8", "online"), b"0") == errno.EBUSY


async def test_a_subscriber_timeout_is_etimedout(counted: tuple[Service, RequestLog]) -> None:
    service, _ = counted
    await service.subscriber("silent", lambda frame: None, timeout_ms=100)
    async with trees(service) as (memory, _):
        assert await write_errno(memory, ("memory12", "state"), b"online") == errno.ETIMEDOUT
        assert await text(memory, "memory12", "state") == "offline\n"


async def test_offline_failures(counted: tuple[Service, RequestLog]) -> None:
    """Isolation and unmovable pages are EBUSY; an abort is EINTR, visible as going-offline."""
    service, _ = counted
    for block, flag in ((9, "isolation_fails"), (10, "unmovable_pages")):
        response = await service.admin.patch(f"/api/v1/memory/blocks/{block}", json={flag: True})
        assert response.status_code == 200, response.text
    response = await service.admin.patch("/api/v1/memory/blocks/11", json={"migration_ms": 600000})
    assert response.status_code == 200, response.text
    async with trees(service, ttl=0.05) as (memory, _):
        assert await write_errno(memory, ("memory9", "state"), b"offline") == errno.EBUSY
        assert await write_errno(memory, ("memory10", "state"), b"offline") == errno.EBUSY
        writing = asyncio.create_task(memory.write(("memory11", "state"), b"offline"))

        async def going_offline() -> bool:
            return await text(memory, "memory11", "state") == "going-offline\n"

        await wait_for(going_offline, timeout=5)
        assert await text(memory, "memory11", "online") == "1\n"
        transition = (await service.block(11))["transition"]
        response = await service.admin.post(f"/api/v1/transitions/{transition}/abort")
        assert response.status_code in (200, 202), response.text
        with pytest.raises(SysfsError) as failure:
            await asyncio.wait_for(writing, 5)
        assert failure.value.errno == errno.EINTR
        assert await text(memory, "memory11", "state") == "online\n"


async def test_the_online_file(counted: tuple[Service, RequestLog]) -> None:
    """kstrtobool; the current value is a no-op success (unlike state)."""
    service, log = counted
    async with trees(service) as (memory, _):
        log.clear()
        await memory.write(("memory8", "online"), b"1\n")
        await memory.write(("memory12", "online"), b"n")
        assert not [r for r in log.api() if r.startswith("POST")]
        await memory.write(("memory12", "online"), b"on")  # device_online: the default zone
        assert (await service.block(12))["zone"] == "Normal"
        await memory.write(("memory12", "online"), b"off")
        assert (await service.block(12))["state"] == "offline"
        await memory.write(("memory20", "online"), b"Yes please")
        assert (await service.block(20))["zone"] == "Movable"
        for bad in (b"maybe", b"", b"o", b"2"):
            assert await write_errno(memory, ("memory12", "online"), bad) == errno.EINVAL


async def test_probe_and_auto_online_blocks(counted: tuple[Service, RequestLog]) -> None:
    service, log = counted
    async with trees(service) as (memory, _):
        log.clear()
        for bad in (b"0x100000001", b"4096", b"zero", b"0x", b"-0x100000000"):
            assert await write_errno(memory, ("probe",), bad) == errno.EINVAL, bad
        assert await write_errno(memory, ("probe",), b"0x10000000000000000") == errno.ERANGE
        assert log.api() == [], "refused before anything is sent"
        await memory.write(("probe",), b"0x140000000\n")  # block 40, node 0
        assert await text(memory, "memory40", "state") == "offline\n"
        assert ("memory40", await memory.lookup(("memory40",))) in await memory.children(())
        await memory.write(("probe",), f"0{41 * 2**27:o}".encode())  # base 0: octal
        assert await memory.lookup(("memory41",)) is not None
        assert await write_errno(memory, ("probe",), b"0x140000000") == errno.EEXIST
        assert await write_errno(memory, ("auto_online_blocks",), b"nope") == errno.EINVAL
        await memory.write(("auto_online_blocks",), b"online_movable\n")
        response = await service.admin.get("/api/v1/memory")
        assert response.json()["auto_online_blocks"] == "online_movable"


async def test_a_viewer_token_reads_but_cannot_write(counted: tuple[Service, RequestLog]) -> None:
    service, _ = counted
    async with trees(service, token=VIEWER_TOKEN) as (memory, debugfs):
        assert await text(memory, "memory12", "state") == "offline\n"
        assert await write_errno(memory, ("memory12", "state"), b"online") == errno.EACCES
        assert await write_errno(memory, ("auto_online_blocks",), b"online") == errno.EACCES
        path = (*MEMORY_ACTIONS, "MEM_GOING_ONLINE", "error")
        assert await write_errno(debugfs, path, b"-12") == errno.EACCES


async def test_an_unreachable_service_is_eio() -> None:
    client = SysfsClient(f"http://127.0.0.1:{free_port()}", ADMIN_TOKEN, timeout=2)
    async with client:
        memory = MemoryTree(Backend(client))
        with pytest.raises(SysfsError) as failure:
            await memory.read(("memory0", "state"))
        assert failure.value.errno == errno.EIO


def test_errno_of_failures() -> None:
    assert errno_of(HotplugTimeout("slow")) == errno.ETIMEDOUT
    assert errno_of(HotplugConnectionError("down")) == errno.EIO
    assert errno_of(HotplugError("x", status=409, errno=-4)) == errno.EINTR
    assert errno_of(HotplugError("x", status=409, errno=4095)) == 4095
    assert errno_of(HotplugError("x", status=409)) == errno.EBUSY
    assert errno_of(HotplugError("x", status=404)) == errno.ENODEV
    assert errno_of(HotplugError("x", status=422, errno=-9999)) == errno.EINVAL
    assert errno_of(HotplugError("x", status=503)) == errno.EBUSY
    assert errno_of(HotplugError("x", status=500)) == errno.EIO


# -- debugfs ------------------------------------------------------------------


async def test_the_debugfs_tree(counted: tuple[Service, RequestLog]) -> None:
    """Writes are kstrtoll'd and clamped to [-4095, 0]; any errno enables the injector."""
    service, _ = counted
    async with trees(service) as (memory, debugfs):
        assert await debugfs.lookup(()) is not None
        assert [n for n, _ in await debugfs.children(())] == ["notifier-error-inject"]
        assert [n for n, _ in await debugfs.children(MEMORY_ACTIONS[:2])] == ["actions"]
        actions = await debugfs.children(MEMORY_ACTIONS)
        assert [n for n, _ in actions] == ["MEM_GOING_OFFLINE", "MEM_GOING_ONLINE"]
        online = (*MEMORY_ACTIONS, "MEM_GOING_ONLINE", "error")
        offline = (*MEMORY_ACTIONS, "MEM_GOING_OFFLINE", "error")
        node = await debugfs.lookup(online)
        assert node is not None
        assert node.mode == 0o600
        assert await debugfs.lookup((*MEMORY_ACTIONS, "MEM_ONLINE")) is None
        assert await debugfs.lookup((*MEMORY_ACTIONS, "MEM_GOING_ONLINE", "x")) is None
        assert await debugfs.lookup(("other",)) is None
        assert await text(debugfs, *online) == "0\n"

        await debugfs.write(online, b"-12\n")
        settings = (await service.admin.get("/api/v1/debug/notifier-error-inject")).json()
        assert settings["enabled"] is True
        assert settings["actions"] == {"MEM_GOING_ONLINE": -12, "MEM_GOING_OFFLINE": 0}
        assert await text(debugfs, *online) == "-12\n"
        assert await write_errno(memory, ("memory12", "state"), b"online") == errno.ENOMEM
        assert await text(memory, "memory12", "state") == "offline\n"

        await debugfs.write(offline, b"-99999")
        assert await text(debugfs, *offline) == "-4095\n"
        await debugfs.write(offline, b"0x10")  # positive: clamped to 0
        assert await text(debugfs, *offline) == "0\n"
        for bad in (b"abc", b"", b"--1", b"1 2"):
            assert await write_errno(debugfs, offline, bad) == errno.EINVAL
        await debugfs.write(online, b"0")
        settings = (await service.admin.get("/api/v1/debug/notifier-error-inject")).json()
        assert settings["enabled"] is False
        await memory.write(("memory12", "state"), b"online")


async def test_debugfs_keeps_the_injectors_priority(counted: tuple[Service, RequestLog]) -> None:
    service, _ = counted
    body = {"enabled": False, "priority": 7, "actions": {"MEM_GOING_OFFLINE": -5}}
    response = await service.admin.put("/api/v1/debug/notifier-error-inject", json=body)
    assert response.status_code == 200, response.text
    async with trees(service) as (_, debugfs):
        offline = (*MEMORY_ACTIONS, "MEM_GOING_OFFLINE", "error")
        assert await text(debugfs, *offline) == "0\n", "disabled: the module is not loaded"
        await debugfs.write((*MEMORY_ACTIONS, "MEM_GOING_ONLINE", "error"), b"-1")
        settings = (await service.admin.get("/api/v1/debug/notifier-error-inject")).json()
        assert settings == {
            "enabled": True,
            "priority": 7,
            "actions": {"MEM_GOING_ONLINE": -1, "MEM_GOING_OFFLINE": 0},
        }


async def test_a_removed_block_reads_enodev(counted: tuple[Service, RequestLog]) -> None:
    service, _ = counted
    async with trees(service, ttl=0) as (memory, _):
        assert await text(memory, "memory27", "state") == "offline\n"
        response = await service.admin.delete("/api/v1/memory/blocks/27")
        assert response.status_code == 200, response.text
        with pytest.raises(SysfsError) as failure:
            await memory.read(("memory27", "state"))
        assert failure.value.errno == errno.ENODEV
        assert await memory.lookup(("memory27",)) is None
        assert await write_errno(memory, ("memory27", "state"), b"online") == errno.ENODEV


async def test_transitions_started_elsewhere_are_seen(counted: tuple[Service, RequestLog]) -> None:
    """A block being offlined through the API reads going-offline here too."""
    service, _ = counted
    response = await service.admin.patch("/api/v1/memory/blocks/8", json={"migration_ms": 600000})
    assert response.status_code == 200
    record = await start_transition(service, "offline", 8)
    async with trees(service, ttl=0) as (memory, _):

        async def going() -> bool:
            return await text(memory, "memory8", "state") == "going-offline\n"

        await wait_for(going, timeout=5)
        response = await service.admin.post(f"/api/v1/transitions/{record['id']}/abort")
        assert response.status_code in (200, 202)
        await wait_finished(service, record["id"])
        assert await text(memory, "memory8", "state") == "online\n"
