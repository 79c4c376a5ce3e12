"""``clients`` against a real hotplugd: the library, ``hotplugctl`` and the examples.

The service runs in the test's event loop (tests/support), so ``hotplugctl``
runs in a worker thread (it has its own loop), and the long-running commands
(``subscribe``, ``watch``, an example) run as real processes; every wait is
bounded and readiness comes from their output, never from a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from clients import HotplugClient, HotplugError, Subscriber
from clients.cli import run as hotplugctl_run
from clients.examples.ksm_like import KsmLike, stable_pfns
from clients.examples.slub_like import SlubLike, normal_nodes
from clients.examples.virtio_mem_like import VirtioMemLike
from clients.models import Notification
from clients.subscriber import Answer, AnswerSource, Veto
from tests.support.hotplug import (
    ADMIN_TOKEN,
    VIEWER_TOKEN,
    Service,
    answer_by_action,
    start_transition,
    wait_finished,
)
from tests.support.server import seconds, wait_for

LSMEM_GOLDEN = """\
RANGE                                  SIZE   STATE REMOVABLE BLOCK
0x0000000000000000-0x000000003fffffff    1G  online        no   0-7
0x0000000040000000-0x000000005fffffff  512M  online       yes  8-11
0x0000000060000000-0x00000000dfffffff    2G offline           12-27

Memory block size:       128M
Total online memory:     1.5G
Total offline memory:      2G
"""

LSMEM_NODES_ZONES_GOLDEN = """\
RANGE                                  SIZE   STATE REMOVABLE BLOCK NODE          ZONES
0x0000000000000000-0x000000003fffffff    1G  online        no   0-7    0         Normal
0x0000000040000000-0x000000005fffffff  512M  online       yes  8-11    0        Movable
0x0000000060000000-0x000000009fffffff    1G offline           12-19    1 Normal/Movable
0x00000000a0000000-0x00000000dfffffff    1G offline           20-27    2 Movable/Normal
"""


async def hotplugctl(
    service: Service, *argv: str, token: str = ADMIN_TOKEN
) -> tuple[int, str, str]:
    """Run ``hotplugctl argv`` against the service; (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    args = [*argv, "--url", service.server.http, "--token", token]
    status = await asyncio.to_thread(hotplugctl_run, args, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


@contextlib.asynccontextmanager
async def process(service: Service, *argv: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """A real ``python -m ...`` process talking to the service; killed if still running."""
    args = [*argv, "--url", service.server.http, "--token", ADMIN_TOKEN]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def read_until(
    stream: asyncio.StreamReader | None, text: str, timeout: float = 20
) -> list[str]:
    """Lines of ``stream`` up to and including the first that contains ``text``."""
    assert stream is not None
    lines: list[str] = []
    async with asyncio.timeout(seconds(timeout)):
        while not lines or text not in lines[-1]:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"stream ended before {text!r}: {lines}")
            lines.append(line.decode().rstrip("\n"))
    return lines


async def interrupt(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """Ctrl-C the process; its exit status and the rest of its output."""
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(seconds(20)):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def client(service: Service, token: str = ADMIN_TOKEN) -> HotplugClient:
    return HotplugClient(service.server.http, token)


# -- hotplugctl ---------------------------------------------------------------


async def test_lsmem_golden(service: Service) -> None:
    assert await hotplugctl(service, "lsmem") == (0, LSMEM_GOLDEN, "")
    status, out, _ = await hotplugctl(service, "lsmem", "-o", "+NODE,ZONES", "--summary=never")
    assert (status, out) == (0, LSMEM_NODES_ZONES_GOLDEN)
    status, out, _ = await hotplugctl(service, "lsmem", "-J", "-a", "-o", "BLOCK,STATE,NODE")
    rows = json.loads(out)["memory"]
    assert len(rows) == 28
    assert rows[12] == {"block": "12", "state": "offline", "node": 1}


async def test_lsmem_shows_going_offline_as_on_off(service: Service) -> None:
    await service.admin.patch("/api/v1/memory/blocks/9", json={"migration_ms": 60_000})
    record = await start_transition(service, "offline", 9)
    await wait_for(lambda: _state_of(service, 9, "going-offline"))
    status, out, _ = await hotplugctl(service, "lsmem", "-o", "BLOCK,STATE", "--summary=never")
    assert (status, out) == (
        0,
        "BLOCK   STATE\n  0-8  online\n    9 on->off\n10-11  online\n12-27 offline\n",
    )
    status, out, _ = await hotplugctl(service, "abort", record["id"])
    assert status == 0
    assert out.startswith("offline block 9 (node 0): ")
    finished = await wait_finished(service, record["id"])
    assert (finished["outcome"], finished["errno"]) == ("failed", -4)


async def _state_of(service: Service, block: int, state: str) -> bool:
    return bool((await service.block(block))["state"] == state)


async def test_chmem_exit_statuses_and_veto(service: Service) -> None:
    await service.subscriber(
        "vetoer",
        lambda f: (
            {"result": "NOTIFY_OK"}
            if f["block"] not in (13, 8)
            else {"result": "NOTIFY_BAD", "errno": -16, "message": "pinned"}
        ),
    )
    status, out, err = await hotplugctl(service, "chmem", "-e", "-b", "12", "-v")
    assert (status, err) == (0, "")
    assert out == "Memory Block 12 (0x0000000060000000-0x0000000067ffffff) enabled\n"
    status, _, err = await hotplugctl(service, "chmem", "-e", "-b", "13-14")
    assert status == 64
    assert "Memory Block 13" in err
    assert "vetoed by 'vetoer'" in err
    assert "-EBUSY (-16): pinned" in err
    status, _, err = await hotplugctl(service, "chmem", "-d", "-b", "8")
    assert status == 1
    assert "disable failed: cancelled" in err
    assert await hotplugctl(service, "chmem", "-e", "-b", "12") == (0, "", "")  # already enabled
    status, _, err = await hotplugctl(service, "chmem", "-e", "100G")
    assert status == 64
    assert "Could only enable" in err
    status, _, err = await hotplugctl(service, "chmem", "-e", "100")
    assert status == 1
    assert "HTTP 422" in err


async def test_subscribe_veto_makes_chmem_fail_with_ebusy(service: Service) -> None:
    async with process(
        service, "clients", "subscribe", "--name", "cli-veto", "--veto", "MEM_GOING_OFFLINE:-16"
    ) as proc:
        await read_until(proc.stderr, "connected to")
        status, _, err = await hotplugctl(service, "chmem", "-d", "-b", "9")
        assert status == 1
        assert "vetoed by 'cli-veto'" in err
        assert "with -EBUSY (-16)" in err
        code, out, err = await interrupt(proc)
    assert code == 0
    lines = out.splitlines()
    assert "MEM_GOING_OFFLINE block 9" in lines[0]
    assert "errno -EBUSY (-16)" in lines[0]
    assert "MEM_CANCEL_OFFLINE block 9" in lines[1]
    assert "unregistered subscriber" in err
    assert (await service.admin.get("/api/v1/subscribers")).json() == []


async def test_subscribe_json_keep_and_delay(service: Service) -> None:
    async with process(
        service, "clients", "subscribe", "--json", "--keep", "--delay", "0.01", "--priority", "7"
    ) as proc:
        await read_until(proc.stderr, "connected to")
        assert (await service.online(12)).status_code == 200
        code, out, err = await interrupt(proc)
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["notification"]["action"] for e in events] == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    assert events[0]["reply"]["result"] == "NOTIFY_OK"
    assert "kept subscriber" in err
    (kept,) = (await service.admin.get("/api/v1/subscribers")).json()
    assert kept["priority"] == 7


async def test_watch_prints_a_whole_transition(service: Service) -> None:
    await service.subscriber("ok")
    record = (await service.offline(9)).json()
    async with process(service, "clients", "watch", "--since", "0") as proc:
        lines = await read_until(proc.stdout, f"transition.finished {record['id']}")
        code, _, _ = await interrupt(proc)
    assert code == 0
    kinds = [line.split()[2] for line in lines if f" {record['id']}" in line or "block/9" in line]
    for kind in (
        "transition.queued",
        "transition.started",
        "notification.sent",
        "notification.replied",
        "block.changed",
        "transition.finished",
    ):
        assert kind in kinds


async def test_watch_json_count(service: Service) -> None:
    await service.online(12)
    status, out, _ = await hotplugctl(service, "watch", "--since", "0", "--json", "--count", "3")
    assert status == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 3
    assert all(e["specversion"] == "1.0" for e in events)


async def test_every_other_command(service: Service) -> None:
    sub = await service.subscriber("scripted", priority=5)
    status, out, _ = await hotplugctl(service, "memory")
    assert status == 0
    assert "block size:         128M" in out
    assert (await hotplugctl(service, "blocks", "--state", "online", "--node", "0"))[1].count(
        "online"
    ) == 12
    assert "Movable" in (await hotplugctl(service, "blocks", "9"))[1]
    status, out, _ = await hotplugctl(service, "online", "12", "--type", "online_movable")
    assert status == 0
    assert out.startswith("online block 12 (node 1): completed [transition ")
    transition_id = out.rsplit(" ", 1)[1].rstrip("]\n")
    status, out, _ = await hotplugctl(service, "offline", "12", "--timeout-ms", "3000")
    assert "completed" in out
    status, out, _ = await hotplugctl(service, "show", transition_id)
    assert "walk 1: MEM_GOING_ONLINE (1 calls)" in out
    assert "scripted" in out
    status, out, _ = await hotplugctl(service, "transitions", "--limit", "2", "--block", "12")
    assert len(out.splitlines()) == 3
    assert "MEM_ONLINE" in (await hotplugctl(service, "transitions", transition_id))[1]
    assert (await hotplugctl(service, "history", "--outcome", "completed"))[0] == 0
    status, out, _ = await hotplugctl(service, "chain")
    assert out.splitlines()[1].split()[:4] == ["1", "5", "scripted", sub.id]
    status, out, _ = await hotplugctl(service, "subscribers", "set-priority", sub.id, "-3")
    assert "priority:        -3" in out
    assert sub.id in (await hotplugctl(service, "subscribers", "show", sub.id))[1]
    assert sub.id in (await hotplugctl(service, "subscribers"))[1]
    status, out, _ = await hotplugctl(service, "set-flags", "9", "--isolation-fails", "yes")
    assert "isolation-fails" in out
    status, _, err = await hotplugctl(service, "offline", "9")
    assert status == 1
    assert "-EBUSY (-16)" in err
    status, out, _ = await hotplugctl(service, "probe", "--count", "2", "--node", "3")
    assert out == "added block 28 on node 3\nadded block 29 on node 3\n"
    assert (await hotplugctl(service, "remove", "29")) == (0, "removed block 29\n", "")
    status, out, _ = await hotplugctl(service, "inject", "--going-online", "-12", "--priority", "9")
    assert "MEM_GOING_ONLINE: -ENOMEM (-12)" in out
    status, _, err = await hotplugctl(service, "online", "13")
    assert "vetoed by 'notifier-error-inject'" in err
    assert (await hotplugctl(service, "inject", "--disable"))[1].startswith(
        "notifier-error-inject: disabled"
    )
    assert await hotplugctl(service, "health") == (0, "healthz: ok\nreadyz: ready\n", "")
    assert (await hotplugctl(service, "subscribers", "remove", sub.id))[0] == 0
    assert (await hotplugctl(service, "version"))[0] == 0


async def test_errors_are_one_line(service: Service) -> None:
    status, out, err = await hotplugctl(service, "blocks", token="not-a-token-at-all")
    assert (status, out) == (1, "")
    assert err.startswith("hotplugctl: HTTP 401")
    assert err.endswith("(check --token or HOTPLUG_TOKEN)\n")
    status, _, err = await hotplugctl(service, "offline", "3", token=VIEWER_TOKEN)
    assert (status, err.count("\n")) == (1, 1)
    assert "HTTP 403" in err
    status, _, err = await hotplugctl(service, "online", "3")
    assert (status, err.count("\n")) == (1, 1)
    assert "-EINVAL (-22)" in err
    status, _, err = await hotplugctl(service, "blocks", "999")
    assert "HTTP 404" in err
    status, _, err = await asyncio.to_thread(_unreachable)
    assert (status, err) == (
        1,
        "hotplugctl: cannot reach http://127.0.0.1:9: All connection attempts failed\n",
    )


def _unreachable() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = hotplugctl_run(["lsmem", "--url", "http://127.0.0.1:9"], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


# -- the library -------------------------------------------------------------


async def test_veto_raises_with_vetoer_and_errno(service: Service) -> None:
    async with client(service) as hotplug:
        sub = await Subscriber.register(hotplug, "cache", priority=3)

        @sub.on("MEM_GOING_OFFLINE")
        async def going_offline(n: Notification) -> None:
            raise Veto("EBUSY", f"block {n.block} pinned")

        async with sub:
            await sub.wait_connected(seconds(5))
            with pytest.raises(HotplugError) as info:
                await hotplug.offline(9)
        error = info.value
        assert (error.status, error.errno, error.outcome) == (409, -16, "cancelled")
        assert error.vetoed_by is not None
        assert error.vetoed_by["name"] == "cache"
        assert "vetoed by 'cache'" in str(error)
        assert "with -EBUSY (-16): block 9 pinned" in str(error)
        await hotplug.unregister_subscriber(sub.id)


async def test_handler_exception_vetoes_by_policy(service: Service) -> None:
    async with client(service) as hotplug:
        sub = await Subscriber.register(hotplug, "buggy")
        sub.on("MEM_GOING_ONLINE")(_boom)
        async with sub:
            await sub.wait_connected(seconds(5))
            with pytest.raises(HotplugError) as info:
                await hotplug.online(12)
        assert info.value.errno == -5
        record = await hotplug.transition(info.value.transition_id or "")
        call = record["walks"][0]["calls"][0]
        assert call["message"] == "handler raised RuntimeError: boom"


def _boom(n: Notification) -> None:
    raise RuntimeError("boom")


async def test_reconnect_after_drop_mid_notification_answers_once(service: Service) -> None:
    calls: list[int] = []
    answers: list[Answer] = []
    started, release = asyncio.Event(), asyncio.Event()
    async with client(service) as hotplug:
        sub = await Subscriber.register(hotplug, "slow", on_answer=answers.append)

        @sub.on("MEM_GOING_OFFLINE")
        async def going_offline(n: Notification) -> str:
            calls.append(n.id)
            started.set()
            await release.wait()
            return "NOTIFY_OK"

        async with sub:
            await sub.wait_connected(seconds(5))
            offline = asyncio.create_task(hotplug.offline(9))
            async with asyncio.timeout(seconds(5)):
                await started.wait()
            await service.app.state.hub.drop(sub.id, 1001, "dropped by the test")
            release.set()
            record = await asyncio.wait_for(offline, seconds(10))
        assert record["outcome"] == "completed"
        assert len(calls) == 1
        sources = [a.source for a in answers if a.notification.id == calls[0]]
        assert sources == [AnswerSource.HANDLER, AnswerSource.RESENT]


async def test_unregister_stops_the_subscriber(service: Service) -> None:
    async with client(service) as hotplug:
        sub = await Subscriber.register(hotplug, "short-lived")
        sub.start()
        await sub.wait_connected(seconds(5))
        await hotplug.unregister_subscriber(sub.id)
        with pytest.raises(HotplugError, match="unregistered"):
            await asyncio.wait_for(sub.wait(), seconds(5))
        await sub.close()


async def test_sync_client_and_events(service: Service) -> None:
    from clients import SyncHotplugClient

    def sync_part() -> list[Any]:
        with SyncHotplugClient(service.server.http, ADMIN_TOKEN) as sync:
            record = sync.online(12)
            return [record["outcome"], len(sync.blocks(state="online"))]

    assert await asyncio.to_thread(sync_part) == ["completed", 13]
    async with client(service, VIEWER_TOKEN) as viewer:
        events = viewer.events(since=0)
        kinds = []
        async for event in events:
            kinds.append(event.type)
            if event.type == "hotplug.transition.finished":
                break
        await events.aclose()
    assert "hotplug.transition.started" in kinds


# -- the examples ------------------------------------------------------------


async def test_slub_like_vetoes_a_node_it_cannot_prepare(service: Service) -> None:
    async with client(service) as hotplug:
        slub = SlubLike(max_nodes=1, boot_nodes=normal_nodes(await hotplug.memory()))
        sub = await Subscriber.register(hotplug, "slub-like", 1)
        slub.attach(sub)
        async with sub:
            await sub.wait_connected(seconds(5))
            with pytest.raises(HotplugError) as info:
                await hotplug.online(12, "online_kernel")  # node 1 gains normal memory
            assert info.value.errno == -12
            assert info.value.vetoed_by is not None
            assert info.value.vetoed_by["name"] == "slub-like"
            record = await hotplug.online(12, "online_movable")  # no normal memory: no need
            assert record["outcome"] == "completed"
        assert sorted(slub.nodes) == [0]


async def test_slub_like_runs_as_a_module(service: Service) -> None:
    async with process(service, "clients.examples.slub_like", "--max-nodes", "1") as proc:
        await read_until(proc.stderr, "nodes prepared at start: [0]")
        await wait_for(lambda: _all_connected(service))
        response = await service.online(12, "online_kernel")
        assert response.status_code == 409
        assert response.json()["errno"] == -12
        code, out, _ = await interrupt(proc)
    assert code == 0
    assert "errno -ENOMEM (-12)" in out
    assert (await service.admin.get("/api/v1/subscribers")).json() == []


async def _all_connected(service: Service) -> bool:
    subscribers = (await service.admin.get("/api/v1/subscribers")).json()
    return bool(subscribers) and all(s["connected"] for s in subscribers)


async def test_ksm_like_holds_its_lock_across_the_walks(service: Service) -> None:
    async with client(service) as hotplug:
        ksm = KsmLike(stable_pfns(await hotplug.blocks()))
        sub = await Subscriber.register(hotplug, "ksm-like", 100)
        ksm.attach(sub)
        async with sub:
            await sub.wait_connected(seconds(5))
            await hotplug.patch_block(9, migration_ms=300)
            pending = await hotplug.offline(9, wait=False)
            await wait_for(lambda: ksm.offlining)  # held between GOING_OFFLINE and OFFLINE
            assert ksm.ksm_thread_mutex.locked()
            finished = await wait_finished(service, pending["id"])
            assert finished["outcome"] == "completed"
            assert not ksm.offlining
            assert not any(9 * 32768 <= pfn < 10 * 32768 for pfn in ksm.stable_nodes)
            await hotplug.patch_block(10, unmovable_pages=True)
            with pytest.raises(HotplugError, match="-EBUSY"):
                await hotplug.offline(10)  # MEM_CANCEL_OFFLINE releases it
            assert not ksm.ksm_thread_mutex.locked()
            await asyncio.wait_for(ksm.scan_once(), seconds(5))


async def test_virtio_mem_like_tolerates_a_cancel_without_going(service: Service) -> None:
    await service.subscriber(
        "vetoer",
        answer_by_action({"MEM_GOING_ONLINE": {"result": "NOTIFY_BAD"}}),
        priority=10,
        actions=["MEM_GOING_ONLINE"],
    )
    async with client(service) as hotplug:
        memory = await hotplug.memory()
        device = VirtioMemLike(range(12, 16), memory["block_size_bytes"] // memory["page_size"])
        sub = await Subscriber.register(hotplug, "virtio-mem-like")
        device.attach(sub)
        async with sub:
            await sub.wait_connected(seconds(5))
            with pytest.raises(HotplugError):
                await hotplug.online(13)  # the vetoer stops the walk before us
            assert not device.hotplug_mutex.locked()
            await hotplug.update_subscriber(
                (await hotplug.chain())[0]["id"], actions=["MEM_ONLINE"]
            )
            record = await hotplug.online(13)
            assert device.states == {13: "online"}
            assert not device.hotplug_active
            record = await hotplug.online(20)  # not this device's block
            calls = record["walks"][0]["calls"]
            assert [c["result"] for c in calls if c["name"] == "virtio-mem-like"] == ["NOTIFY_DONE"]
