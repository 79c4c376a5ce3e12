"""A KSM-like subscriber: a lock held across chain walks (``mm/ksm.c``, kernel-notes §7).

The old (2.6/3.x) ``ksm_memory_callback`` (priority 100):

- MEM_GOING_OFFLINE: take ``ksm_thread_mutex`` and keep it, so ksmd cannot
  scan or unmerge while the memory goes away;
- MEM_OFFLINE: prune the stable-tree nodes whose pages lie in the range, then
  (falling through) MEM_CANCEL_OFFLINE: release the mutex;
- always NOTIFY_OK.

The mutex spans two walks, so its release must come from the completion
**or** the cancel, and a cancel may arrive without a GOING_OFFLINE (the
service broadcasts cancels to the whole chain): releasing only what is held
keeps that safe. A hold whose completion never came (this subscriber was
skipped, or the service restarted) is dropped with a warning at the next
MEM_GOING_OFFLINE rather than deadlocking, because notifications arrive one
at a time and the release could only come with a later one.

Here ksmd is a background task that takes the mutex for each scan.

    python -m clients.examples.ksm_like --url http://127.0.0.1:8000 --token T
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence

from clients.client import HotplugClient
from clients.examples._common import example_parser, print_answer, run_example, serve
from clients.models import Block, Notification
from clients.notifier import NOTIFY_OK
from clients.subscriber import Dispatcher, Subscriber

logger = logging.getLogger("ksm_like")

KSM_CALLBACK_PRI = 100


class KsmLike:
    """The callback's state: the mutex, who holds it, the stable tree."""

    def __init__(self, stable_pfns: Iterable[int] = ()) -> None:
        self.ksm_thread_mutex = asyncio.Lock()
        self.holder: str | None = None  # the transition whose offline holds the mutex
        self.stable_nodes = set(stable_pfns)  # pfns of merged pages
        self.scans = 0

    def attach(self, target: Subscriber | Dispatcher) -> None:
        """Register the handlers on a subscriber (or a bare dispatcher, in tests)."""
        target.on("MEM_GOING_OFFLINE")(self.going_offline)
        target.on("MEM_OFFLINE")(self.offline)
        target.on("MEM_CANCEL_OFFLINE")(self.cancel_offline)

    @property
    def offlining(self) -> bool:
        """Whether an offline holds the mutex (ksmd is blocked)."""
        return self.holder is not None

    async def going_offline(self, n: Notification) -> int:
        """Take the mutex and keep it until the offline completes or is cancelled."""
        if self.holder is not None:
            logger.warning("dropping a hold left by transition %s", self.holder)
            self._release()
        await self.ksm_thread_mutex.acquire()
        self.holder = n.transition
        return NOTIFY_OK

    async def offline(self, n: Notification) -> int:
        """Prune the stable nodes in the range, then release like a cancel."""
        pruned = {pfn for pfn in self.stable_nodes if n.arg.start_pfn <= pfn < n.arg.end_pfn}
        self.stable_nodes -= pruned
        if pruned:
            logger.info("pruned %d stable node(s) of block %d", len(pruned), n.block)
        return await self.cancel_offline(n)

    async def cancel_offline(self, n: Notification) -> int:
        """Release the mutex if (and only if) it is held: a cancel may come without GOING."""
        if self.holder is not None:
            if self.holder != n.transition:
                logger.warning("releasing a hold of transition %s on %s", self.holder, n.action)
            self._release()
        return NOTIFY_OK

    def _release(self) -> None:
        self.holder = None
        self.ksm_thread_mutex.release()

    async def scan_once(self) -> None:
        """One ksmd pass: it needs the mutex, so it waits while memory goes offline."""
        async with self.ksm_thread_mutex:
            self.scans += 1

    async def ksmd(self, interval: float) -> None:
        """ksmd: scan every ``interval`` seconds for ever."""
        while True:
            await self.scan_once()
            await asyncio.sleep(interval)  # the scan period, not a readiness wait


def stable_pfns(blocks: Iterable[Block]) -> list[int]:
    """A few merged pages per online block, to have something to prune."""
    return [b["start_pfn"] + offset for b in blocks if b["state"] == "online" for offset in (7, 99)]


async def main_async(args: argparse.Namespace) -> None:
    """Register, attach, run ksmd beside it, serve until Ctrl-C."""
    async with HotplugClient(args.url, args.token) as client:
        ksm = KsmLike(stable_pfns(await client.blocks()))
        subscriber = await Subscriber.register(
            client, args.name, args.priority, on_answer=print_answer
        )
        ksm.attach(subscriber)
        ksmd = asyncio.create_task(ksm.ksmd(args.scan_interval), name="ksmd")
        try:
            await serve(client, subscriber, args.keep)
        finally:
            ksmd.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ksmd


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m clients.examples.ksm_like``."""
    parser = example_parser("ksm_like", __doc__ or "", "ksm-like", KSM_CALLBACK_PRI)
    parser.add_argument("--scan-interval", type=float, default=1.0, help="ksmd period (s)")
    return run_example(parser, main_async, argv)


if __name__ == "__main__":
    raise SystemExit(main())
