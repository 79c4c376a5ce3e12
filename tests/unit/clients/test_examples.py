"""The example subscribers' kernel-like logic, fed notifications through a Dispatcher."""

from __future__ import annotations

import asyncio

import pytest

from clients.examples.ksm_like import KsmLike, stable_pfns
from clients.examples.slub_like import SlubLike, normal_nodes
from clients.examples.virtio_mem_like import VirtioMemLike, parse_blocks
from clients.notifier import NOTIFY_BAD, NOTIFY_DONE, NOTIFY_OK, notifier_from_errno
from clients.subscriber import Dispatcher, Reply

from .frames import notify
from .test_lsmem import block

PAGES = 32768


async def ask(dispatcher: Dispatcher, *args: object, **kwargs: object) -> Reply:
    received = await dispatcher.receive(notify(*args, **kwargs))  # type: ignore[arg-type]
    assert isinstance(received, Reply)
    return received


def attached(example: SlubLike | KsmLike | VirtioMemLike) -> Dispatcher:
    dispatcher = Dispatcher()
    example.attach(dispatcher)
    return dispatcher


async def test_slub_prepares_a_node_and_frees_it() -> None:
    slub = SlubLike(boot_nodes=[0])
    chain = attached(slub)
    # the node does not gain normal memory: nothing to prepare
    assert (await ask(chain, 1, "MEM_GOING_ONLINE", node=1, nid_normal=-1)).value == NOTIFY_OK
    assert sorted(slub.nodes) == [0]
    assert (await ask(chain, 2, "MEM_GOING_ONLINE", node=1, nid_normal=1)).value == NOTIFY_OK
    assert sorted(slub.nodes) == [0, 1]
    assert (await ask(chain, 3, "MEM_ONLINE", node=1, nid_normal=1)).value == NOTIFY_OK
    assert (await ask(chain, 4, "MEM_GOING_OFFLINE", node=1, nid_normal=1)).value == NOTIFY_OK
    assert (await ask(chain, 5, "MEM_OFFLINE", node=1, nid_normal=1)).value == NOTIFY_OK
    assert sorted(slub.nodes) == [0]


async def test_slub_vetoes_with_enomem_when_full_and_frees_on_cancel() -> None:
    slub = SlubLike(max_nodes=2, boot_nodes=[0])
    chain = attached(slub)
    assert (await ask(chain, 1, "MEM_GOING_ONLINE", node=1, nid_normal=1)).value == NOTIFY_OK
    assert (await ask(chain, 2, "MEM_CANCEL_ONLINE", node=1, nid_normal=1)).value == NOTIFY_OK
    assert sorted(slub.nodes) == [0]  # the cancelled onlining's structure is gone
    await ask(chain, 3, "MEM_GOING_ONLINE", node=1, nid_normal=1)
    reply = await ask(chain, 4, "MEM_GOING_ONLINE", node=2, nid_normal=2)
    assert (reply.value, reply.errno) == (notifier_from_errno(-12), -12)
    assert reply.message == "no memory for kmem_cache_node of node 2"
    # the broadcast cancel of the vetoed onlining finds nothing to free: tolerated
    assert (await ask(chain, 5, "MEM_CANCEL_ONLINE", node=2, nid_normal=2)).value == NOTIFY_OK
    assert sorted(slub.nodes) == [0, 1]


def test_slub_boot_nodes_from_memory() -> None:
    memory = {
        "nodes": [{"id": 0, "states": ["N_MEMORY", "N_NORMAL_MEMORY"]}, {"id": 1, "states": []}]
    }
    assert normal_nodes(memory) == [0]  # type: ignore[arg-type]


async def test_ksm_holds_the_lock_across_walks_until_offline() -> None:
    ksm = KsmLike(stable_pfns([block(17), block(18, "offline")]))
    chain = attached(ksm)
    assert ksm.stable_nodes == {17 * PAGES + 7, 17 * PAGES + 99}
    assert (await ask(chain, 1, "MEM_GOING_OFFLINE", block=17, transition="t-1")).value == NOTIFY_OK
    assert ksm.offlining
    scan = asyncio.create_task(ksm.scan_once())
    await asyncio.sleep(0)  # yield once so ksmd reaches the mutex (and must wait)
    assert not scan.done()
    assert (await ask(chain, 2, "MEM_OFFLINE", block=17, transition="t-1")).value == NOTIFY_OK
    await asyncio.wait_for(scan, 5)
    assert ksm.scans == 1
    assert not ksm.offlining
    assert ksm.stable_nodes == set()


async def test_ksm_releases_on_cancel_and_tolerates_cancel_without_going() -> None:
    ksm = KsmLike()
    chain = attached(ksm)
    assert (await ask(chain, 1, "MEM_CANCEL_OFFLINE", transition="t-0")).value == NOTIFY_OK
    await ask(chain, 2, "MEM_GOING_OFFLINE", transition="t-1")
    await ask(chain, 3, "MEM_CANCEL_OFFLINE", transition="t-1")
    assert not ksm.ksm_thread_mutex.locked()
    assert (await ask(chain, 4, "MEM_GOING_ONLINE")).value == NOTIFY_DONE  # not KSM's business


async def test_ksm_drops_a_stale_hold(caplog: pytest.LogCaptureFixture) -> None:
    ksm = KsmLike()
    chain = attached(ksm)
    await ask(chain, 1, "MEM_GOING_OFFLINE", transition="t-1")
    await ask(chain, 2, "MEM_GOING_OFFLINE", transition="t-2")  # t-1's completion never came
    assert ksm.holder == "t-2"
    assert "dropping a hold left by transition t-1" in caplog.text
    await ask(chain, 3, "MEM_CANCEL_OFFLINE", transition="t-3")
    assert "releasing a hold of transition t-2" in caplog.text
    assert not ksm.offlining


async def test_virtio_mem_guard() -> None:
    device = VirtioMemLike(parse_blocks("8-11"), PAGES)
    chain = attached(device)
    assert (await ask(chain, 1, "MEM_GOING_ONLINE", block=3)).value == NOTIFY_DONE  # not ours
    # a cancel without a prior GOING_* (broadcast to the whole chain): nothing to undo
    assert (await ask(chain, 2, "MEM_CANCEL_ONLINE", block=9)).value == NOTIFY_OK
    assert not device.hotplug_mutex.locked()
    assert (await ask(chain, 3, "MEM_GOING_ONLINE", block=9)).value == NOTIFY_OK
    assert device.hotplug_active
    assert device.hotplug_mutex.locked()
    assert (await ask(chain, 4, "MEM_ONLINE", block=9)).value == NOTIFY_OK
    assert device.states == {9: "online"}
    assert not device.hotplug_active
    assert not device.hotplug_mutex.locked()
    await ask(chain, 5, "MEM_GOING_OFFLINE", block=9)
    assert (await ask(chain, 6, "MEM_CANCEL_OFFLINE", block=9)).value == NOTIFY_OK
    assert not device.hotplug_mutex.locked()
    # a completion whose GOING_* was hidden by a higher NOTIFY_STOP: no double unlock
    assert (await ask(chain, 7, "MEM_OFFLINE", block=9)).value == NOTIFY_OK
    assert device.states == {9: "offline"}


async def test_virtio_mem_refuses_while_removing_and_checks_alignment(
    caplog: pytest.LogCaptureFixture,
) -> None:
    device = VirtioMemLike(range(8, 12), PAGES)
    chain = attached(device)
    assert (await ask(chain, 1, "MEM_GOING_ONLINE", block=8, pages=PAGES // 2)).value == NOTIFY_BAD
    device.removing = True
    assert (await ask(chain, 2, "MEM_GOING_OFFLINE", block=8)).value == notifier_from_errno(-16)
    assert not device.hotplug_mutex.locked()
    device.removing = False
    await ask(chain, 3, "MEM_GOING_OFFLINE", block=8)
    await ask(chain, 4, "MEM_GOING_OFFLINE", block=8)  # the completion never came
    assert "stale" in caplog.text
    assert device.hotplug_mutex.locked()
    assert parse_blocks("5") == range(5, 6)
