"""FUSE glue: serve a `Tree` with pyfuse3 (low-level API, asyncio mode).

Kernel requests become `Tree` calls. What makes the files behave like
sysfs attributes rather than ordinary files:

- every file is opened ``direct_io``: no page cache, each ``read(2)`` and
  ``write(2)`` reaches the tree, and the size (4096, as sysfs reports) is
  only a stat value;
- a file's content is rendered by the read at offset 0 and kept with the open
  file for the reads that follow (sysfs's ``seq_file``), so ``cat`` sees one
  consistent value;
- each ``write(2)`` is one store: its errno is the write's result (errnos
  above 511, kernel-internal, cannot cross FUSE and become ``EIO``);
- opening a read-only attribute for writing, or ``probe`` for reading, is
  ``EACCES``, as kernfs has it; creating or removing entries is refused.

Inode numbers are given per path on first sight and kept for the mount's
lifetime. Entry and attribute timeouts follow the projection's cache TTL.
pyfuse3 stops its loop on any exception that is not a `FUSEError`, so each
handler turns `SysfsError` into its errno and anything unexpected into
``EIO`` (logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import itertools
import logging
import os
import stat
import subprocess
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, ParamSpec, TypeVar

import pyfuse3
import pyfuse3.asyncio

from clients.sysfs.backend import MountError
from clients.sysfs.safety import is_mounted
from clients.sysfs.tree import Node, SysfsError, Tree, TreePath

P = ParamSpec("P")
R = TypeVar("R")

SYSFS_FILE_SIZE: Final = 4096
MAX_FUSE_ERRNO: Final = 511
SHUTDOWN_GRACE: Final = 5.0
log = logging.getLogger("hotplugctl.sysfs")


def fuse_errno(code: int) -> int:
    """``code`` if a FUSE reply can carry it, else EIO.

    The kernel takes errnos 1..511 from a FUSE server (``fuse_dev_do_write``
    rejects the rest, and libfuse turns 1000 and up into ERANGE), while an
    injected or vetoing errno may be anything up to 4095.
    """
    if 0 < code <= MAX_FUSE_ERRNO:
        return code
    log.warning("errno %d cannot cross FUSE (kernel-internal range): EIO instead", code)
    return errno.EIO


def _errnos(handler: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Answer `SysfsError` with its errno and any other failure with EIO."""

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await handler(*args, **kwargs)
        except pyfuse3.FUSEError:
            raise
        except SysfsError as exc:
            raise pyfuse3.FUSEError(fuse_errno(exc.errno)) from None
        except Exception:
            log.exception("%s failed", handler.__name__)
            raise pyfuse3.FUSEError(errno.EIO) from None

    return wrapper


class InodeTable:
    """Stable inode numbers for paths (the root is ``pyfuse3.ROOT_INODE``)."""

    def __init__(self) -> None:
        self._paths: dict[int, TreePath] = {pyfuse3.ROOT_INODE: ()}
        self._inodes: dict[TreePath, int] = {(): pyfuse3.ROOT_INODE}
        self._next = itertools.count(pyfuse3.ROOT_INODE + 1)

    def inode(self, path: TreePath) -> int:
        """The inode of ``path``, given on first use."""
        found = self._inodes.get(path)
        if found is None:
            found = next(self._next)
            self._inodes[path], self._paths[found] = found, path
        return found

    def path(self, inode: int) -> TreePath:
        """The path of a known inode (``ENOENT`` for one never given)."""
        try:
            return self._paths[inode]
        except KeyError:
            raise SysfsError(errno.ENOENT) from None


@dataclass
class OpenFile:
    """An open attribute: its path and the content rendered at offset 0."""

    path: TreePath
    content: bytes | None = None


@dataclass
class OpenDir:
    """An open directory: its entries as they were when it was opened."""

    path: TreePath
    entries: list[tuple[str, Node]] = field(default_factory=list)


class ProjectionOps(pyfuse3.Operations):
    """pyfuse3 operations over one `Tree`."""

    supports_dot_lookup = True
    enable_writeback_cache = False
    enable_acl = False

    def __init__(self, tree: Tree, *, timeout: float) -> None:
        super().__init__()
        self.tree = tree
        self.timeout = timeout
        self.inodes = InodeTable()
        self.files: dict[int, OpenFile] = {}
        self.dirs: dict[int, OpenDir] = {}
        self._handles = itertools.count(1)
        self.uid, self.gid = os.getuid(), os.getgid()
        self.stamp_ns = time.time_ns()

    def attributes(self, inode: int, node: Node) -> pyfuse3.EntryAttributes:
        """What ``stat`` shows: sysfs-like modes and sizes, owned by the mounting user."""
        entry = pyfuse3.EntryAttributes()
        entry.st_ino = inode
        entry.generation = 0
        entry.entry_timeout = self.timeout
        entry.attr_timeout = self.timeout
        if node.kind == "dir":
            entry.st_mode, entry.st_nlink, entry.st_size = stat.S_IFDIR | node.mode, 2, 0
        elif node.kind == "file":
            entry.st_mode, entry.st_nlink = stat.S_IFREG | node.mode, 1
            entry.st_size = SYSFS_FILE_SIZE
        else:
            entry.st_mode, entry.st_nlink = stat.S_IFLNK | 0o777, 1
            entry.st_size = len(node.target)
        entry.st_uid, entry.st_gid = self.uid, self.gid
        entry.st_blksize, entry.st_blocks = 4096, 0
        entry.st_atime_ns = entry.st_mtime_ns = entry.st_ctime_ns = self.stamp_ns
        return entry

    async def _node(self, path: TreePath) -> Node:
        node = await self.tree.lookup(path)
        if node is None:
            raise SysfsError(errno.ENOENT)
        return node

    @_errnos
    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        """A name in a directory."""
        parent = self.inodes.path(parent_inode)
        text = os.fsdecode(name)
        if text == ".":
            path = parent
        elif text == "..":
            path = parent[:-1]
        else:
            path = (*parent, text)
        node = await self._node(path)
        inode = self.inodes.inode(path)
        return self.attributes(inode, node)

    @_errnos
    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        """``stat``."""
        return self.attributes(inode, await self._node(self.inodes.path(inode)))

    @_errnos
    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        """Truncation (``O_TRUNC``) and times are accepted and ignored; ownership is not."""
        node = await self._node(self.inodes.path(inode))
        if fields.update_mode or fields.update_uid or fields.update_gid:
            raise SysfsError(errno.EPERM)
        if fields.update_size and not node.writable:
            raise SysfsError(errno.EACCES)
        return self.attributes(inode, node)

    @_errnos
    async def readlink(self, inode: int, ctx: pyfuse3.RequestContext) -> bytes:
        """A symlink's target."""
        node = await self._node(self.inodes.path(inode))
        if node.kind != "link":
            raise SysfsError(errno.EINVAL)
        return os.fsencode(node.target)

    @_errnos
    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        """Take the directory's listing now; ``readdir`` pages through it."""
        path = self.inodes.path(inode)
        if (await self._node(path)).kind != "dir":
            raise SysfsError(errno.ENOTDIR)
        handle = next(self._handles)
        self.dirs[handle] = OpenDir(path, await self.tree.children(path))
        return handle

    @_errnos
    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        """Entries from ``start_id`` on, while the kernel's buffer takes them."""
        listing = self.dirs.get(fh)
        if listing is None:
            raise SysfsError(errno.EBADF)
        for index in range(start_id, len(listing.entries)):
            name, node = listing.entries[index]
            path = (*listing.path, name)
            attributes = self.attributes(self.inodes.inode(path), node)
            if not pyfuse3.readdir_reply(token, os.fsencode(name), attributes, index + 1):
                return

    @_errnos
    async def releasedir(self, fh: int) -> None:
        """Forget the listing."""
        self.dirs.pop(fh, None)

    @_errnos
    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        """kernfs's checks: a read needs a ``show``, a write a ``store`` (else EACCES)."""
        path = self.inodes.path(inode)
        node = await self._node(path)
        if node.kind == "dir":
            raise SysfsError(errno.EISDIR)
        mode = flags & os.O_ACCMODE
        if mode in (os.O_RDONLY, os.O_RDWR) and not node.readable:
            raise SysfsError(errno.EACCES)
        if mode in (os.O_WRONLY, os.O_RDWR) and not node.writable:
            raise SysfsError(errno.EACCES)
        handle = next(self._handles)
        self.files[handle] = OpenFile(path)
        return pyfuse3.FileInfo(fh=handle, direct_io=True, keep_cache=False)

    def _file(self, fh: int) -> OpenFile:
        found = self.files.get(fh)
        if found is None:
            raise SysfsError(errno.EBADF)
        return found

    @_errnos
    async def read(self, fh: int, off: int, size: int) -> bytes:
        """Render at offset 0; later offsets read what was rendered."""
        opened = self._file(fh)
        if off == 0 or opened.content is None:
            opened.content = await self.tree.read(opened.path)
        return opened.content[off : off + size]

    @_errnos
    async def write(self, fh: int, off: int, buf: bytes) -> int:
        """One store; its errno is the ``write(2)``'s."""
        opened = self._file(fh)
        await self.tree.write(opened.path, buf)
        opened.content = None
        return len(buf)

    @_errnos
    async def flush(self, fh: int) -> None:
        """Nothing is buffered."""

    @_errnos
    async def release(self, fh: int) -> None:
        """Forget the open file."""
        self.files.pop(fh, None)

    @_errnos
    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        """An empty filesystem, as sysfs reports."""
        data = pyfuse3.StatvfsData()
        data.f_bsize = data.f_frsize = 4096
        data.f_namemax = 255
        return data

    # Entries are the service's to create and remove; the VFS errnos of kernfs.

    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: pyfuse3.RequestContext
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        """``open(O_CREAT)`` of a new name: EACCES."""
        raise pyfuse3.FUSEError(errno.EACCES)

    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        """EPERM."""
        raise pyfuse3.FUSEError(errno.EPERM)

    async def mknod(
        self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        """EPERM."""
        raise pyfuse3.FUSEError(errno.EPERM)

    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        """EPERM."""
        raise pyfuse3.FUSEError(errno.EPERM)

    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        """EPERM."""
        raise pyfuse3.FUSEError(errno.EPERM)


def mount_options(fsname: str, allow_other: bool) -> set[str]:
    """``default_permissions`` (the modes are enforced), a name for ``mount``'s output."""
    options = {"default_permissions", f"fsname={fsname}", "subtype=hotplugd"}
    if allow_other:
        options.add("allow_other")
    return options


async def serve(
    tree: Tree,
    mountpoint: str,
    *,
    stop: asyncio.Event,
    timeout: float,
    fsname: str = "hotplugd",
    allow_other: bool = False,
    on_mounted: Callable[[], None] = lambda: None,
    grace: float = SHUTDOWN_GRACE,
) -> None:
    """Mount ``tree`` at ``mountpoint`` (absolute, resolved) and serve it until ``stop``.

    Returns once unmounted: after ``stop`` (requests still running get
    ``grace`` seconds), or when someone unmounted it (``umount``,
    ``fusermount3 -u``). Unmounts in every case where it is still mounted.
    """
    pyfuse3.asyncio.enable()
    ops = ProjectionOps(tree, timeout=timeout)
    try:
        pyfuse3.init(ops, mountpoint, mount_options(fsname, allow_other))
    except RuntimeError as exc:  # libfuse said why on stderr
        raise MountError(f"cannot mount {mountpoint}: {exc}") from exc
    settled = True
    try:
        on_mounted()
        before = asyncio.all_tasks()
        main = asyncio.ensure_future(pyfuse3.main())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            settled = await _wind_down(main, before, grace)
        if main.done() and not main.cancelled():
            main.result()
    finally:
        if settled:
            pyfuse3.close(unmount=is_mounted(mountpoint))
        else:
            # Destroying the session under a task that still uses it would
            # crash the process; leave it to the exit and just unmount.
            log.error("FUSE request handlers would not stop; unmounting lazily")
            await asyncio.to_thread(unmount_lazily, mountpoint)


async def _wind_down(
    main: asyncio.Future[Any], before: set[asyncio.Task[Any]], grace: float
) -> bool:
    """Stop ``pyfuse3.main()``; True once no task of pyfuse3 is left running.

    Running requests get ``grace`` seconds to finish, then are cancelled.
    ``pyfuse3.close()`` must not run before this is True: a session loop that
    resumes after it dereferences the destroyed session and the process dies
    of SIGSEGV.
    """
    if not main.done():
        _terminate()
        await asyncio.wait({main}, timeout=grace)
    if main.done():
        return True
    tasks = asyncio.all_tasks() - before - {asyncio.current_task()}
    log.warning("%d request(s) still running after %.0f s: abandoning them", len(tasks), grace)
    for task in tasks:
        task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=grace)
    return not pending


def _terminate() -> None:
    """``pyfuse3.terminate()``, safe against two races in its asyncio layer.

    terminate() sets the session's exit flag, then fails each task waiting for
    the FUSE fd with ClosedResourceError. When the fd became readable in the
    same loop iteration, the reader callback that completes such a wait is
    already queued: run after terminate(), it fails on the finished future
    and asyncio prints its traceback; run before, the wait already has its
    result and pyfuse3 3.5's ``notify_closing`` raises InvalidStateError on
    it, leaving the waits after it asleep (and a session loop running after
    ``close()``). So the readers are removed first, and the waits still
    asleep after that error are failed as terminate() meant to. A woken
    session loop sees the exit flag by itself.
    """
    waiting: dict[int, set[asyncio.Future[Any]]] = getattr(pyfuse3.asyncio, "_read_futures", {})
    loop = asyncio.get_running_loop()
    for fd in list(waiting):
        loop.remove_reader(fd)
    try:
        pyfuse3.terminate()
    except asyncio.InvalidStateError:
        for futures in list(waiting.values()):
            for future in list(futures):
                if not future.done():
                    future.set_exception(pyfuse3.asyncio.ClosedResourceError())


def run_quietly(command: Sequence[str]) -> int:
    """Run ``command`` (bounded to 30 s) and return its exit status."""
    return subprocess.run(command, check=False, capture_output=True, timeout=30).returncode


def unmount_lazily(mountpoint: str, runner: Callable[[Sequence[str]], int] = run_quietly) -> None:
    """Last resort for a mount whose server is gone: ``fusermount3 -u -z`` or ``umount -l``."""
    if not is_mounted(mountpoint):
        return
    for command in (["fusermount3", "-u", "-z", mountpoint], ["umount", "-l", mountpoint]):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if runner(command) == 0:
                return
