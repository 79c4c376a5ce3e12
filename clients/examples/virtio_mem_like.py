"""A virtio-mem-like subscriber: the ``hotplug_active`` guard (kernel-notes §7).

``virtio_mem_memory_notifier_cb`` (``drivers/virtio/virtio_mem.c``, ~v5.8):

- a range this device does not own → NOTIFY_DONE ("not mine");
- a range that is not exactly one aligned memory block → NOTIFY_BAD;
- MEM_GOING_ONLINE / MEM_GOING_OFFLINE: take ``hotplug_mutex``; if the device
  is being removed answer ``notifier_from_errno(-EBUSY)`` and unlock, else set
  ``hotplug_active``;
- MEM_ONLINE / MEM_OFFLINE: record the block's new state, clear
  ``hotplug_active``, unlock;
- MEM_CANCEL_ONLINE / MEM_CANCEL_OFFLINE: **only if** ``hotplug_active``,
  undo, clear it and unlock. The guard exists because a cancel can arrive
  without a prior GOING_* (the service broadcasts cancels to the whole chain,
  including the vetoer and those after it).

The completion events are guarded the same way here: over the network a
higher-priority NOTIFY_STOP can hide a GOING_* from this subscriber while the
completion still reaches it, and unlocking a free lock would be a bug.

    python -m clients.examples.virtio_mem_like --url ... --token T --blocks 8-11
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Iterable, Sequence

from clients.client import HotplugClient
from clients.examples._common import example_parser, print_answer, run_example, serve
from clients.models import Notification
from clients.notifier import EBUSY, NOTIFY_BAD, NOTIFY_DONE, NOTIFY_OK, notifier_from_errno
from clients.subscriber import Dispatcher, Subscriber

logger = logging.getLogger("virtio_mem_like")

GOING = frozenset({"MEM_GOING_ONLINE", "MEM_GOING_OFFLINE"})
DONE = {"MEM_ONLINE": "online", "MEM_OFFLINE": "offline"}
CANCEL = frozenset({"MEM_CANCEL_ONLINE", "MEM_CANCEL_OFFLINE"})


class VirtioMemLike:
    """A device that owns some memory blocks and tracks their state."""

    def __init__(self, owned: Iterable[int], pages_per_block: int | None = None) -> None:
        self.owned = frozenset(owned)
        self.pages_per_block = pages_per_block
        self.hotplug_mutex = asyncio.Lock()
        self.hotplug_active = False
        self.removing = False  # the device is being unplugged: refuse hotplug with -EBUSY
        self.states: dict[int, str] = {}

    def attach(self, target: Subscriber | Dispatcher) -> None:
        """One callback for every action, as in the driver."""
        target.on()(self.callback)

    def _aligned(self, n: Notification) -> bool:
        ppb = self.pages_per_block
        return ppb is None or (n.arg.nr_pages == ppb and n.arg.start_pfn % ppb == 0)

    async def callback(self, n: Notification) -> int:
        """The notifier callback."""
        if n.block not in self.owned:
            return NOTIFY_DONE
        if not self._aligned(n):
            return NOTIFY_BAD
        if n.action in GOING:
            return await self._going(n)
        if n.action in DONE:
            self.states[n.block] = DONE[n.action]
            self._finish()
            return NOTIFY_OK
        if n.action in CANCEL:
            if self.hotplug_active:  # else: a cancel without our GOING_*; nothing to undo
                self._finish()
            return NOTIFY_OK
        return NOTIFY_DONE

    async def _going(self, n: Notification) -> int:
        if self.hotplug_active:
            logger.warning("a completion never came; dropping the stale hotplug_mutex hold")
            self._finish()
        await self.hotplug_mutex.acquire()
        if self.removing:
            self.hotplug_mutex.release()
            return notifier_from_errno(EBUSY)
        self.hotplug_active = True
        return NOTIFY_OK

    def _finish(self) -> None:
        if self.hotplug_active:
            self.hotplug_active = False
            self.hotplug_mutex.release()


def parse_blocks(text: str) -> range:
    """``8-11`` or ``8`` → the block ids."""
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


async def main_async(args: argparse.Namespace) -> None:
    """Register, attach, serve until Ctrl-C."""
    async with HotplugClient(args.url, args.token) as client:
        memory = await client.memory()
        pages_per_block = memory["block_size_bytes"] // memory["page_size"]
        device = VirtioMemLike(parse_blocks(args.blocks), pages_per_block)
        device.removing = args.removing
        subscriber = await Subscriber.register(
            client, args.name, args.priority, on_answer=print_answer
        )
        device.attach(subscriber)
        await serve(client, subscriber, args.keep)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m clients.examples.virtio_mem_like``."""
    parser = example_parser("virtio_mem_like", __doc__ or "", "virtio-mem-like", 0)
    parser.add_argument("--blocks", default="0-0", help="the block range this device owns (N-M)")
    parser.add_argument(
        "--removing", action="store_true", help="the device is being removed: veto with -EBUSY"
    )
    return run_example(parser, main_async, argv)


if __name__ == "__main__":
    raise SystemExit(main())
