"""The shape every projected tree shares: nodes, the `Tree` protocol, and errors.

A tree is addressed by paths: tuples of names from its root (``()`` is the
root, ``("memory12", "state")`` a file). The FUSE layer (`clients.sysfs.fs`)
turns kernel requests into calls of a `Tree`; the trees themselves
(`clients.sysfs.memory`, `clients.sysfs.debugfs`) know nothing of FUSE, so
they are tested against a real service without mounting anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Protocol

TreePath = tuple[str, ...]
NodeKind = Literal["dir", "file", "link"]


class SysfsError(Exception):
    """A request that fails with ``errno`` (positive, as ``write(2)`` reports it)."""

    def __init__(self, errno: int, detail: str = "") -> None:
        super().__init__(detail or os.strerror(errno))
        self.errno = errno
        self.detail = detail or os.strerror(errno)


@dataclass(frozen=True, slots=True)
class Node:
    """One entry: a directory, a file with its permission bits, or a symlink."""

    kind: NodeKind
    mode: int = 0o755
    target: str = ""  # where a symlink points

    @property
    def readable(self) -> bool:
        """Whether reading makes sense (a sysfs attribute with a ``show``)."""
        return bool(self.mode & 0o444)

    @property
    def writable(self) -> bool:
        """Whether writing makes sense (a sysfs attribute with a ``store``)."""
        return bool(self.mode & 0o222)


DIRECTORY = Node("dir", 0o755)


def file_node(mode: int) -> Node:
    """A regular file with these permission bits."""
    return Node("file", mode)


def link_node(target: str) -> Node:
    """A symlink to ``target``."""
    return Node("link", 0o777, target)


class Tree(Protocol):
    """What the FUSE layer asks of a projected tree.

    Every method may raise `SysfsError`; ``lookup`` returns None for a name
    that does not exist (``ENOENT``).
    """

    async def lookup(self, path: TreePath) -> Node | None:
        """The node at ``path``, or None."""
        ...

    async def children(self, path: TreePath) -> list[tuple[str, Node]]:
        """The entries of the directory at ``path``, in listing order."""
        ...

    async def read(self, path: TreePath) -> bytes:
        """The whole content of the file at ``path``, rendered now."""
        ...

    async def write(self, path: TreePath, data: bytes) -> None:
        """Store ``data`` (one ``write(2)``) into the file at ``path``."""
        ...
