"""Never mount over the machine's own sysfs: the target checks of ``hotplugctl mount``.

A projection mounted over the real ``/sys/devices/system/memory`` of the
initial mount namespace would hide the kernel's files from every program on
the machine. So a target that is ``/sys`` or under it, or that lies on a
sysfs, debugfs or tracefs mount anywhere, is refused unless this process
runs in a private (non-initial) mount namespace, such as one made by
``unshare -m``, where the mount is seen by nobody else.

Whether the namespace is the initial one (`check_namespace`), most certain
first:

1. ``/proc/self/ns/mnt`` against ``/proc/1/ns/mnt`` when PID 1's is readable;
2. since Linux 6.18 the initial mount namespace has the fixed inode
   ``MNT_NS_INIT_INO`` (0xEFFFFFF8): that inode is the initial namespace,
   and on such a kernel (its initial network namespace shows the fixed
   ``NET_NS_INIT_INO``) any other inode is a private one;
3. an ancestor process in another mount namespace (``unshare -m`` run from
   the initial one);
4. otherwise it cannot tell, and refuses.

The mount table is read from ``/proc/self/mountinfo``, never by touching the
paths themselves (a stat of a FUSE mount whose server is not answering hangs).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MNT_NS_INIT_INO: Final = 0xEFFFFFF8
NET_NS_INIT_INO: Final = 0xEFFFFFF9
PROTECTED_ROOT: Final = Path("/sys")
PROTECTED_FSTYPES: Final = frozenset({"sysfs", "debugfs", "tracefs"})
_NS_LINK: Final = re.compile(r"^\w+:\[(\d+)\]$")


class UnsafeTarget(Exception):
    """The mount target is the machine's own sysfs or debugfs, outside a private namespace."""


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One line of ``/proc/self/mountinfo``: where, and what kind of filesystem."""

    mount_point: str
    fstype: str


@dataclass(frozen=True, slots=True)
class NamespaceCheck:
    """Whether this process's mount namespace is private, and how that was decided."""

    private: bool
    reason: str


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (``\\040`` for a space …)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[MountEntry]:
    """The mount points and filesystem types of a mountinfo text, in order."""
    entries = []
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        fields = before.split()
        if not sep or len(fields) < 5 or not after.split():
            continue
        entries.append(MountEntry(_unescape(fields[4]), after.split()[0]))
    return entries


def read_mounts() -> list[MountEntry]:
    """This process's mount table."""
    try:
        return parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    except OSError:
        return []


def _under(path: str, mount_point: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point + "/")


def fstype_at(path: str, mounts: Iterable[MountEntry]) -> str | None:
    """The type of the filesystem ``path`` (absolute, resolved) lies on."""
    best: MountEntry | None = None
    for entry in mounts:  # later lines are stacked on top of earlier ones
        if _under(path, entry.mount_point) and (
            best is None or len(entry.mount_point) >= len(best.mount_point)
        ):
            best = entry
    return best.fstype if best else None


def is_mounted(path: str, mounts: Iterable[MountEntry] | None = None) -> bool:
    """Whether something is mounted exactly at ``path`` (absolute, resolved)."""
    return any(entry.mount_point == path for entry in (read_mounts() if mounts is None else mounts))


def ns_inode(link: str | None) -> int | None:
    """The inode of ``mnt:[4026531832]``."""
    match = _NS_LINK.match(link or "")
    return int(match.group(1)) if match else None


def read_ns(pid: str, kind: str = "mnt") -> str | None:
    """``readlink /proc/PID/ns/KIND``, or None when it cannot be read."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def ancestors(limit: int = 64) -> Iterator[int]:
    """The parent, grandparent … of this process (PIDs as /proc shows them)."""
    pid = os.getppid()
    for _ in range(limit):
        if pid <= 1:
            return
        yield pid
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        match = re.search(r"^PPid:\s*(\d+)", status, re.MULTILINE)
        pid = int(match.group(1)) if match else 0


def check_namespace(
    read: Callable[[str, str], str | None] = read_ns,
    parents: Callable[[], Iterable[int]] = ancestors,
) -> NamespaceCheck:
    """Whether this process is in a private mount namespace (see the module doc)."""
    own = read("self", "mnt")
    if own is None:
        return NamespaceCheck(False, "/proc/self/ns/mnt cannot be read")
    init = read("1", "mnt")
    if init is not None:
        if own == init:
            return NamespaceCheck(False, f"same mount namespace as PID 1 ({own})")
        return NamespaceCheck(True, f"mount namespace {own}, PID 1 has {init}")
    if ns_inode(own) == MNT_NS_INIT_INO:
        return NamespaceCheck(False, f"{own} is the initial mount namespace (MNT_NS_INIT_INO)")
    if ns_inode(read("self", "net")) == NET_NS_INIT_INO:
        return NamespaceCheck(True, f"{own} is not MNT_NS_INIT_INO on a kernel with fixed inodes")
    for pid in parents():
        theirs = read(str(pid), "mnt")
        if theirs is not None and theirs != own:
            return NamespaceCheck(True, f"mount namespace {own}, ancestor {pid} has {theirs}")
    return NamespaceCheck(False, f"cannot tell whether {own} is the initial mount namespace")


def protected_reason(path: str, mounts: Iterable[MountEntry]) -> str | None:
    """Why ``path`` (absolute, resolved) is the machine's own sysfs/debugfs, or None."""
    if path == str(PROTECTED_ROOT) or path.startswith(f"{PROTECTED_ROOT}/"):
        return f"{path} is under {PROTECTED_ROOT}"
    fstype = fstype_at(path, mounts)
    if fstype in PROTECTED_FSTYPES:
        return f"{path} is on a {fstype} filesystem"
    return None


def check_target(
    target: str | os.PathLike[str],
    *,
    mounts: Iterable[MountEntry] | None = None,
    namespace: Callable[[], NamespaceCheck] = check_namespace,
) -> str:
    """The resolved target; raises `UnsafeTarget` for sysfs outside a private namespace."""
    path = os.path.realpath(target)
    reason = protected_reason(path, read_mounts() if mounts is None else mounts)
    if reason is None:
        return path
    check = namespace()
    if check.private:
        return path
    raise UnsafeTarget(
        f"refusing to mount over {path}: {reason}, and this process is not in a private "
        f"mount namespace ({check.reason}); mount elsewhere (lsmem --sysroot reads any "
        "directory), or run it inside `unshare -m`"
    )
