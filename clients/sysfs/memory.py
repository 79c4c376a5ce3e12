"""``/sys/devices/system/memory`` of a hotplugd service (kernel-notes §5).

Files and their formats, as ``drivers/base/memory.c`` has them::

    block_size_bytes      0444  "%lx\\n", hex without 0x
    auto_online_blocks    0644  offline | online | online_kernel | online_movable
    probe                 0200  write a block-aligned physical address to hot-add
    memoryN/state         0644  online | offline | going-offline;
                                write online, online_kernel, online_movable, offline
    memoryN/online        0644  1 | 0 (writing the current value is a no-op success)
    memoryN/phys_index    0444  "%08lx\\n", the block id
    memoryN/phys_device   0444  0
    memoryN/removable     0444  1 | 0, the block's flag (v4.18-style; newer kernels always say 1)
    memoryN/valid_zones   0444  online: its zone; offline: default zone first, then the others
    memoryN/nodeK         link  ../../node/nodeK (what lsmem reads for NODE)

Writes run through the API and fail as the kernel's do: an unknown word is
``EINVAL`` before anything is sent; a block already in the requested state is
``EINVAL`` (the service says so); a veto is the veto's errno (``EPERM`` for
``NOTIFY_BAD``); ``EBUSY``, ``EINTR``, ``ETIMEDOUT`` as the transition ended.
"""

from __future__ import annotations

import errno
from typing import Final

from clients.models import Block
from clients.sysfs.backend import Backend
from clients.sysfs.parse import decode, kstrtobool, kstrtoull, online_type_from_str
from clients.sysfs.tree import DIRECTORY, Node, SysfsError, TreePath, file_node, link_node

ROOT_FILES: Final[dict[str, Node]] = {
    "auto_online_blocks": file_node(0o644),
    "block_size_bytes": file_node(0o444),
    "probe": file_node(0o200),
}
BLOCK_FILES: Final[dict[str, Node]] = {
    "online": file_node(0o644),
    "phys_device": file_node(0o444),
    "phys_index": file_node(0o444),
    "removable": file_node(0o444),
    "state": file_node(0o644),
    "valid_zones": file_node(0o444),
}


def block_dir(block_id: int) -> str:
    """``memory<N>``, N in decimal."""
    return f"memory{block_id}"


def parse_block_dir(name: str) -> int | None:
    """The block id of a ``memory<N>`` name as the kernel spells it, else None."""
    digits = name.removeprefix("memory")
    if digits == name or not (digits.isascii() and digits.isdigit()):
        return None
    if str(int(digits)) != digits:  # memory007 is not a name the kernel gives
        return None
    return int(digits)


def node_link(block: Block) -> tuple[str, Node]:
    """The ``node<K>`` symlink of a block, as the kernel links it."""
    node = int(block.get("node", 0))
    return f"node{node}", link_node(f"../../node/node{node}")


def render(block: Block, name: str) -> str:
    """The content of ``memoryN/<name>``."""
    state = str(block.get("state", "offline"))
    if name == "state":
        return f"{state}\n"
    if name == "online":
        return "0\n" if state == "offline" else "1\n"
    if name == "phys_index":
        return f"{block['id']:08x}\n"
    if name == "phys_device":
        return "0\n"
    if name == "removable":
        return "1\n" if block.get("removable") else "0\n"
    if name == "valid_zones":
        zone = block.get("zone")
        if state == "online" and zone:
            return f"{zone}\n"
        return " ".join(block.get("valid_zones") or ["none"]) + "\n"
    raise SysfsError(errno.ENOENT, name)


class MemoryTree:
    """The memory directory of one service, rendered from `Backend` answers."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def _block_of(self, name: str) -> Block | None:
        block_id = parse_block_dir(name)
        return None if block_id is None else await self.backend.block(block_id)

    async def lookup(self, path: TreePath) -> Node | None:
        """The node at ``path``, or None."""
        if not path:
            return DIRECTORY
        if len(path) == 1:
            if path[0] in ROOT_FILES:
                return ROOT_FILES[path[0]]
            return DIRECTORY if await self._block_of(path[0]) is not None else None
        if len(path) != 2:
            return None
        block = await self._block_of(path[0])
        if block is None:
            return None
        if path[1] in BLOCK_FILES:
            return BLOCK_FILES[path[1]]
        name, link = node_link(block)
        return link if path[1] == name else None

    async def children(self, path: TreePath) -> list[tuple[str, Node]]:
        """The root: its files, then ``memoryN`` by id; a block: its files and node link."""
        if not path:
            blocks = await self.backend.blocks()
            entries = sorted(ROOT_FILES.items())
            entries += [(block_dir(block_id), DIRECTORY) for block_id in sorted(blocks)]
            return entries
        block = await self._block_of(path[0]) if len(path) == 1 else None
        if block is None:
            raise SysfsError(errno.ENOTDIR if len(path) > 1 else errno.ENOENT)
        return [*BLOCK_FILES.items(), node_link(block)]

    async def read(self, path: TreePath) -> bytes:
        """Render a file now."""
        if path == ("block_size_bytes",):
            return f"{await self.backend.block_size():x}\n".encode()
        if path == ("auto_online_blocks",):
            info = await self.backend.memory()
            return f"{info['auto_online_blocks']}\n".encode()
        if len(path) == 2 and path[1] in BLOCK_FILES:
            block = await self._block_of(path[0])
            if block is None:  # removed while the file was open
                raise SysfsError(errno.ENODEV)
            return render(block, path[1]).encode()
        raise SysfsError(errno.EACCES)  # probe is write-only

    async def write(self, path: TreePath, data: bytes) -> None:
        """Store one ``write(2)``: run it through the API."""
        text = decode(data)
        if path == ("auto_online_blocks",):
            await self.backend.set_auto_online(online_type_from_str(text))
            return
        if path == ("probe",):
            await self._probe(text)
            return
        block_id = parse_block_dir(path[0]) if len(path) == 2 else None
        if block_id is None or path[1] not in ("state", "online"):
            raise SysfsError(errno.EACCES)
        if path[1] == "state":
            await self._state(block_id, online_type_from_str(text))
        else:
            await self._online(block_id, kstrtobool(text))

    async def _probe(self, text: str) -> None:
        phys_addr = kstrtoull(text, 0)
        block_size = await self.backend.block_size()
        if phys_addr % block_size:
            raise SysfsError(errno.EINVAL, f"{phys_addr:#x} is not aligned to {block_size:#x}")
        await self.backend.probe(phys_addr)

    async def _state(self, block_id: int, online_type: str) -> None:
        """``state_store``: already in that state is the service's EINVAL."""
        if online_type == "offline":
            await self.backend.offline(block_id)
        else:
            await self.backend.online(block_id, online_type)

    async def _online(self, block_id: int, online: bool) -> None:
        """The driver core's ``online_store``: the current value is a no-op success."""
        block = await self.backend.fresh_block(block_id)
        is_online = block.get("state") != "offline"
        if online == is_online:
            return
        if online:
            await self.backend.online(block_id, "online")
        else:
            await self.backend.offline(block_id)
