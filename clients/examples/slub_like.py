"""A SLUB-like subscriber: per-node cache structures (``mm/slub.c``, kernel-notes §7).

The kernel's ``slab_memory_callback`` (priority ``SLAB_CALLBACK_PRI`` = 1):

- MEM_GOING_ONLINE: when the node gains normal memory
  (``status_change_nid_normal >= 0``), allocate a ``kmem_cache_node`` for
  that node in every cache; when that fails, answer
  ``notifier_from_errno(-ENOMEM)``, which vetoes the onlining;
- MEM_OFFLINE and MEM_CANCEL_ONLINE: when the node loses its normal memory
  (or the onlining that prepared it was cancelled), free the structure;
- MEM_GOING_OFFLINE: shrink the caches; MEM_ONLINE, MEM_CANCEL_OFFLINE: nothing.

Here "allocation fails" when more than ``--max-nodes`` nodes would need one.
Nodes that already have normal memory at start get their structure at start,
as they would at boot.

    python -m clients.examples.slub_like --url http://127.0.0.1:8000 --token T --max-nodes 2
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from clients.client import HotplugClient
from clients.examples._common import example_parser, print_answer, run_example, serve
from clients.models import MemoryInfo, Notification
from clients.notifier import ENOMEM, NOTIFY_OK
from clients.subscriber import Dispatcher, Subscriber, Veto

logger = logging.getLogger("slub_like")

SLAB_CALLBACK_PRI = 1
CACHES = ("kmalloc-64", "kmalloc-128", "kmalloc-256", "dentry", "inode_cache")


@dataclass(frozen=True, slots=True)
class KmemCacheNode:
    """The per-node structure every cache needs on a node with normal memory."""

    node: int
    caches: tuple[str, ...]


class SlubLike:
    """The callback's state: which nodes have their per-node structures."""

    def __init__(
        self,
        max_nodes: int | None = None,
        boot_nodes: Iterable[int] = (),
        caches: Sequence[str] = CACHES,
    ) -> None:
        self.max_nodes = max_nodes
        self.caches = tuple(caches)
        self.nodes = {nid: KmemCacheNode(nid, self.caches) for nid in boot_nodes}

    def attach(self, target: Subscriber | Dispatcher) -> None:
        """Register the handlers on a subscriber (or a bare dispatcher, in tests)."""
        target.on("MEM_GOING_ONLINE")(self.going_online)
        target.on("MEM_OFFLINE", "MEM_CANCEL_ONLINE")(self.offline)
        target.on("MEM_GOING_OFFLINE")(self.going_offline)
        target.on("MEM_ONLINE", "MEM_CANCEL_OFFLINE")(self.nothing)

    async def going_online(self, n: Notification) -> int:
        """Prepare the node's structure, or veto with -ENOMEM when there is no room."""
        nid = n.arg.status_change_nid_normal
        if nid < 0 or nid in self.nodes:
            return NOTIFY_OK
        if self.max_nodes is not None and len(self.nodes) >= self.max_nodes:
            raise Veto(ENOMEM, f"no memory for kmem_cache_node of node {nid}")
        self.nodes[nid] = KmemCacheNode(nid, self.caches)
        logger.info("allocated kmem_cache_node for node %d", nid)
        return NOTIFY_OK

    async def offline(self, n: Notification) -> int:
        """Free the node's structure when the node has no normal memory left."""
        nid = n.arg.status_change_nid_normal
        if nid >= 0 and self.nodes.pop(nid, None) is not None:
            logger.info("freed kmem_cache_node of node %d (%s)", nid, n.action)
        return NOTIFY_OK

    async def going_offline(self, n: Notification) -> int:
        """Shrink the caches (nothing to do in this model)."""
        return NOTIFY_OK

    async def nothing(self, n: Notification) -> int:
        """MEM_ONLINE, MEM_CANCEL_OFFLINE: nothing to do."""
        return NOTIFY_OK


def normal_nodes(memory: MemoryInfo) -> list[int]:
    """The nodes that have normal memory now (N_NORMAL_MEMORY)."""
    return [node["id"] for node in memory.get("nodes", []) if "N_NORMAL_MEMORY" in node["states"]]


async def main_async(args: argparse.Namespace) -> None:
    """Register, attach, serve until Ctrl-C."""
    async with HotplugClient(args.url, args.token) as client:
        slub = SlubLike(args.max_nodes, normal_nodes(await client.memory()))
        subscriber = await Subscriber.register(
            client, args.name, args.priority, on_answer=print_answer
        )
        slub.attach(subscriber)
        logger.info("registered %s; nodes prepared at start: %s", subscriber.id, sorted(slub.nodes))
        await serve(client, subscriber, args.keep)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m clients.examples.slub_like``."""
    parser = example_parser("slub_like", __doc__ or "", "slub-like", SLAB_CALLBACK_PRI)
    parser.add_argument(
        "--max-nodes", type=int, help="nodes that can get a structure (default: any)"
    )
    return run_example(parser, main_async, argv)


if __name__ == "__main__":
    raise SystemExit(main())
