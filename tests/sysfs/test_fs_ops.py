"""The FUSE operations over a small fake tree, called directly (no mount needed)."""

from __future__ import annotations

import errno
import os
import stat
from typing import Any, ClassVar

import pytest

from clients.sysfs.tree import DIRECTORY, Node, SysfsError, TreePath, file_node, link_node

pyfuse3 = pytest.importorskip("pyfuse3", reason="the fuse extra (pyfuse3) is not installed")

from clients.sysfs.fs import ProjectionOps, fuse_errno, mount_options  # noqa: E402

CTX: Any = None  # the handlers never look at the request context


class FakeTree:
    """/a (0644), /ro (0444), /wo (0200), /d/, /d/link -> ../a; counts renders."""

    nodes: ClassVar[dict[TreePath, Node]] = {
        (): DIRECTORY,
        ("a",): file_node(0o644),
        ("ro",): file_node(0o444),
        ("wo",): file_node(0o200),
        ("d",): DIRECTORY,
        ("d", "link"): link_node("../a"),
    }

    def __init__(self) -> None:
        self.renders = 0
        self.written: list[bytes] = []
        self.fail_with: Exception | None = None

    async def lookup(self, path: TreePath) -> Node | None:
        return self.nodes.get(path)

    async def children(self, path: TreePath) -> list[tuple[str, Node]]:
        return [(p[-1], n) for p, n in self.nodes.items() if p[:-1] == path and p]

    async def read(self, path: TreePath) -> bytes:
        self.renders += 1
        return f"value {self.renders}\n".encode()

    async def write(self, path: TreePath, data: bytes) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.written.append(data)


@pytest.fixture
def ops() -> ProjectionOps:
    return ProjectionOps(FakeTree(), timeout=0.5)


def tree(ops: ProjectionOps) -> FakeTree:
    assert isinstance(ops.tree, FakeTree)
    return ops.tree


async def fuse_errno_of(call: Any) -> int:
    with pytest.raises(pyfuse3.FUSEError) as failure:
        await call
    return int(failure.value.errno)


async def test_lookup_and_attributes(ops: ProjectionOps) -> None:
    root = pyfuse3.ROOT_INODE
    a = await ops.lookup(root, b"a", CTX)
    assert stat.S_ISREG(a.st_mode)
    assert stat.S_IMODE(a.st_mode) == 0o644
    assert a.st_size == 4096
    assert a.attr_timeout == 0.5
    assert a.entry_timeout == 0.5
    assert a.st_uid == os.getuid()
    d = await ops.lookup(root, b"d", CTX)
    assert stat.S_ISDIR(d.st_mode)
    assert d.st_nlink == 2
    link = await ops.lookup(d.st_ino, b"link", CTX)
    assert stat.S_ISLNK(link.st_mode)
    assert link.st_size == len("../a")
    assert await ops.readlink(link.st_ino, CTX) == b"../a"
    assert (await ops.lookup(d.st_ino, b".", CTX)).st_ino == d.st_ino
    assert (await ops.lookup(d.st_ino, b"..", CTX)).st_ino == root
    assert (await ops.lookup(root, b"a", CTX)).st_ino == a.st_ino, "stable inodes"
    assert (await ops.getattr(a.st_ino, CTX)).st_mode == a.st_mode
    assert await fuse_errno_of(ops.lookup(root, b"nope", CTX)) == errno.ENOENT
    assert await fuse_errno_of(ops.getattr(9999, CTX)) == errno.ENOENT
    assert await fuse_errno_of(ops.readlink(a.st_ino, CTX)) == errno.EINVAL


async def test_open_checks_like_kernfs(ops: ProjectionOps) -> None:
    root = pyfuse3.ROOT_INODE
    ro = (await ops.lookup(root, b"ro", CTX)).st_ino
    wo = (await ops.lookup(root, b"wo", CTX)).st_ino
    d = (await ops.lookup(root, b"d", CTX)).st_ino
    assert await fuse_errno_of(ops.open(ro, os.O_WRONLY, CTX)) == errno.EACCES
    assert await fuse_errno_of(ops.open(ro, os.O_RDWR, CTX)) == errno.EACCES
    assert await fuse_errno_of(ops.open(wo, os.O_RDONLY, CTX)) == errno.EACCES
    assert await fuse_errno_of(ops.open(d, os.O_RDONLY, CTX)) == errno.EISDIR
    info = await ops.open(wo, os.O_WRONLY | os.O_TRUNC, CTX)
    assert info.direct_io
    assert not info.keep_cache
    assert await fuse_errno_of(ops.opendir(ro, CTX)) == errno.ENOTDIR
    handle = await ops.opendir(d, CTX)
    assert [name for name, _ in ops.dirs[handle].entries] == ["link"]
    await ops.releasedir(handle)
    assert handle not in ops.dirs


async def test_reads_render_at_offset_zero(ops: ProjectionOps) -> None:
    """Like seq_file: offset 0 renders; later offsets continue the same rendering."""
    a = (await ops.lookup(pyfuse3.ROOT_INODE, b"a", CTX)).st_ino
    fh = (await ops.open(a, os.O_RDONLY, CTX)).fh
    assert await ops.read(fh, 0, 3) == b"val"
    assert await ops.read(fh, 3, 100) == b"ue 1\n"
    assert await ops.read(fh, 8, 100) == b""
    assert await ops.read(fh, 0, 100) == b"value 2\n"
    await ops.flush(fh)
    await ops.release(fh)
    assert await fuse_errno_of(ops.read(fh, 0, 10)) == errno.EBADF


async def test_writes_and_their_errnos(ops: ProjectionOps) -> None:
    a = (await ops.lookup(pyfuse3.ROOT_INODE, b"a", CTX)).st_ino
    fh = (await ops.open(a, os.O_RDWR, CTX)).fh
    assert await ops.write(fh, 0, b"online\n") == 7
    assert tree(ops).written == [b"online\n"]
    tree(ops).fail_with = SysfsError(errno.EBUSY)
    assert await fuse_errno_of(ops.write(fh, 0, b"x")) == errno.EBUSY
    tree(ops).fail_with = SysfsError(4095)  # an injected -MAX_ERRNO cannot cross FUSE
    assert await fuse_errno_of(ops.write(fh, 0, b"x")) == errno.EIO
    tree(ops).fail_with = RuntimeError("bug")
    assert await fuse_errno_of(ops.write(fh, 0, b"x")) == errno.EIO
    assert await fuse_errno_of(ops.write(12345, 0, b"x")) == errno.EBADF


async def test_entries_cannot_be_made_or_removed(ops: ProjectionOps) -> None:
    root = pyfuse3.ROOT_INODE
    assert await fuse_errno_of(ops.create(root, b"n", 0o644, os.O_CREAT, CTX)) == errno.EACCES
    assert await fuse_errno_of(ops.mkdir(root, b"n", 0o755, CTX)) == errno.EPERM
    assert await fuse_errno_of(ops.mknod(root, b"n", 0o644, 0, CTX)) == errno.EPERM
    assert await fuse_errno_of(ops.unlink(root, b"a", CTX)) == errno.EPERM
    assert await fuse_errno_of(ops.rmdir(root, b"d", CTX)) == errno.EPERM
    assert (await ops.statfs(CTX)).f_namemax == 255


def test_errno_limits_and_options() -> None:
    assert fuse_errno(errno.EPERM) == errno.EPERM
    assert fuse_errno(511) == 511
    assert fuse_errno(512) == errno.EIO
    assert fuse_errno(0) == errno.EIO
    assert mount_options("x", False) == {"default_permissions", "fsname=x", "subtype=hotplugd"}
    assert "allow_other" in mount_options("x", True)
