"""The subscriber farm: one process holding many subscribers, driven over stdin/stdout.

It answers every ``notify`` with ``NOTIFY_OK`` and stamps the moment each
notification arrives (``time.perf_counter_ns``), so that the per-hop cost of
a chain is the time between two consecutive subscribers of one walk getting
their notification: the previous reply's trip back, the server's work, and
the next notification's trip out. The same farm process connects to hotplugd
and to the baselines, so every system is measured by the same clients.

Clients:
- ``raw``: ``websockets.asyncio.client`` connections, orjson, a preformatted reply;
- ``lib``: the ``clients/`` library's ``Subscriber`` (its ``Dispatcher`` for NATS);
- NATS: one nats-py connection per subscriber, request-reply on its subject;
- observers: read-only ``/api/v1/events`` websockets that count frames.

Commands (one JSON object per line on stdin; one answer per line on stdout,
always with ``ok``): ``ping``, ``ws``, ``nats``, ``observe``, ``reset``,
``collect``, ``stats``, ``drop``, ``quit``. Logs go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import resource
import sys
import time
from collections import defaultdict
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

log = logging.getLogger("bench.farm")

REPLY = '{"type":"reply","id":%d,"result":"NOTIFY_OK"}'
CONNECT_CONCURRENCY = 64
OPEN_TIMEOUT = 60.0


class Recorder:
    """Arrival times of notifications, grouped by walk (transition, action)."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[int, str, str]] = []

    def hit(self, t_ns: int, transition: str, action: str) -> None:
        self.arrivals.append((t_ns, transition, action))

    def reset(self) -> None:
        self.arrivals = []

    def intervals_us(self) -> tuple[list[float], int]:
        """Gaps between consecutive arrivals of each walk (µs), and the number of walks."""
        walks: dict[tuple[str, str], list[int]] = defaultdict(list)
        for t_ns, transition, action in self.arrivals:
            walks[(transition, action)].append(t_ns)
        gaps: list[float] = []
        for stamps in walks.values():
            stamps.sort()
            gaps.extend((b - a) / 1000 for a, b in itertools.pairwise(stamps))
        return gaps, len(walks)


class Farm:
    """Every connection this process holds, by tag."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.tasks: dict[str, list[asyncio.Task[None]]] = defaultdict(list)
        self.closers: dict[str, list[Any]] = defaultdict(list)
        self.frames = 0  # observer frames received
        self.notifies = 0

    # -- raw websocket subscribers --------------------------------------------

    async def raw_subscriber(
        self, url: str, token: str, ready: asyncio.Future[None], compression: bool
    ) -> None:
        try:
            ws = await connect(
                url,
                additional_headers={"Authorization": f"Bearer {token}"},
                open_timeout=OPEN_TIMEOUT,
                max_size=65536,
                compression="deflate" if compression else None,
            )
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            return
        hit = self.recorder.hit
        try:
            async for message in ws:
                t_ns = time.perf_counter_ns()
                frame = orjson.loads(message)
                kind = frame.get("type")
                if kind == "notify":
                    hit(t_ns, frame["transition"], frame["action"])
                    self.notifies += 1
                    await ws.send(REPLY % frame["id"])
                elif kind == "hello" and not ready.done():
                    ready.set_result(None)
        except Exception as exc:
            log.info("raw subscriber %s ended: %s", url, exc)
        finally:
            if not ready.done():
                ready.set_exception(ConnectionError(f"{url}: closed before hello"))
            await _close_ws(ws)

    # -- the clients/ library ----------------------------------------------------

    async def lib_subscriber(
        self, sub_id: str, url: str, token: str, ready: asyncio.Future[None]
    ) -> None:
        from clients.subscriber import Subscriber

        subscriber = Subscriber(sub_id, token, url)
        hit = self.recorder.hit

        @subscriber.on()
        def answer(notification: Any) -> str:
            hit(time.perf_counter_ns(), notification.transition, notification.action)
            self.notifies += 1
            return "NOTIFY_OK"

        subscriber.start()
        self.closers["lib"].append(subscriber)
        try:
            await subscriber.wait_connected(OPEN_TIMEOUT)
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            await subscriber.close(2)
            return
        if not ready.done():
            ready.set_result(None)
        try:
            await asyncio.Event().wait()  # until cancelled by drop/quit
        finally:
            await subscriber.close(2)

    async def connect_ws(self, cmd: dict[str, Any]) -> dict[str, Any]:
        tag = cmd.get("tag", "ws")
        client = cmd.get("client", "raw")
        compression = cmd.get("compression", True)
        subs = cmd["subs"]
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        started = time.perf_counter()
        loop = asyncio.get_running_loop()

        async def one(sub: dict[str, str]) -> None:
            async with gate:
                ready: asyncio.Future[None] = loop.create_future()
                if client == "lib":
                    coro = self.lib_subscriber(sub["id"], sub["url"], sub["token"], ready)
                else:
                    coro = self.raw_subscriber(sub["url"], sub["token"], ready, compression)
                self.tasks[tag].append(asyncio.create_task(coro))
                await asyncio.wait_for(ready, OPEN_TIMEOUT)

        # One at a time in order for small groups (so chain order = list order
        # on the baselines, which call clients in connection order).
        if len(subs) <= 100:
            for sub in subs:
                await one(sub)
        else:
            async with asyncio.TaskGroup() as group:
                for sub in subs:
                    group.create_task(one(sub))
        return {"connected": len(subs), "elapsed_s": time.perf_counter() - started}

    # -- NATS ---------------------------------------------------------------

    async def connect_nats(self, cmd: dict[str, Any]) -> dict[str, Any]:
        import nats

        tag = cmd.get("tag", "nats")
        client = cmd.get("client", "raw")
        hit = self.recorder.hit
        for subject in cmd["subjects"]:
            nc = await nats.connect(cmd["url"], connect_timeout=10, max_reconnect_attempts=0)
            self.closers[tag].append(nc)
            if client == "lib":
                from clients.subscriber import Dispatcher

                dispatcher = Dispatcher()

                @dispatcher.on()
                def answer(notification: Any) -> str:
                    hit(time.perf_counter_ns(), notification.transition, notification.action)
                    self.notifies += 1
                    return "NOTIFY_OK"

                async def handler(msg: Any, dispatcher: Any = dispatcher) -> None:
                    reply = await dispatcher.receive(msg.data)
                    if reply is not None and hasattr(reply, "to_frame"):
                        await msg.respond(json.dumps(reply.to_frame()).encode())

            else:

                async def handler(msg: Any) -> None:
                    t_ns = time.perf_counter_ns()
                    frame = orjson.loads(msg.data)
                    hit(t_ns, frame["transition"], frame["action"])
                    self.notifies += 1
                    await msg.respond((REPLY % frame["id"]).encode())

            await nc.subscribe(subject, cb=handler)
            await nc.flush(timeout=10)
        return {"subscribed": len(cmd["subjects"])}

    # -- event-stream observers -------------------------------------------------

    async def observer(self, url: str, token: str, ready: asyncio.Future[None]) -> None:
        try:
            ws = await connect(
                url,
                additional_headers={"Authorization": f"Bearer {token}"},
                open_timeout=OPEN_TIMEOUT,
                max_size=2**20,
            )
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            async for _message in ws:
                self.frames += 1
        except Exception as exc:
            log.info("observer ended: %s", exc)
        finally:
            await _close_ws(ws)

    async def observe(self, cmd: dict[str, Any]) -> dict[str, Any]:
        tag = cmd.get("tag", "obs")
        loop = asyncio.get_running_loop()
        for _ in range(cmd["count"]):
            ready: asyncio.Future[None] = loop.create_future()
            self.tasks[tag].append(
                asyncio.create_task(self.observer(cmd["url"], cmd["token"], ready))
            )
            await asyncio.wait_for(ready, OPEN_TIMEOUT)
        return {"observers": cmd["count"]}

    # -- the rest ---------------------------------------------------------------

    async def drop(self, tag: str) -> None:
        tasks = self.tasks.pop(tag, [])
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        for closer in self.closers.pop(tag, []):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(closer.close(), 5)

    async def handle(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd["op"]
        if op == "ping":
            return {"pid": os.getpid()}
        if op == "ws":
            return await self.connect_ws(cmd)
        if op == "nats":
            return await self.connect_nats(cmd)
        if op == "observe":
            return await self.observe(cmd)
        if op == "reset":
            self.recorder.reset()
            return {}
        if op == "collect":
            gaps, walks = self.recorder.intervals_us()
            return {"intervals_us": gaps, "walks": walks, "arrivals": len(self.recorder.arrivals)}
        if op == "stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return {
                "frames": self.frames,
                "notifies": self.notifies,
                "cpu_s": usage.ru_utime + usage.ru_stime,
            }
        if op == "drop":
            await self.drop(cmd.get("tag", "ws"))
            return {}
        raise ValueError(f"unknown op {op!r}")

    async def close_all(self) -> None:
        for tag in list(self.tasks):
            await self.drop(tag)
        for tag in list(self.closers):
            await self.drop(tag)


async def _close_ws(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(), 2)


async def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=256 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    farm = Farm()
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd = json.loads(line)
            if cmd["op"] == "quit":
                await asyncio.wait_for(farm.close_all(), 60)
                _answer({"ok": True})
                break
            try:
                answer = await farm.handle(cmd)
                answer["ok"] = True
            except Exception as exc:
                log.exception("command %s failed", cmd.get("op"))
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            _answer(answer)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(farm.close_all(), 30)


def _answer(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
