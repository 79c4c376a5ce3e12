"""Where hotplugd's time goes, measured in-process (no network): a guide for the profile.

Not a target of issue 7 itself: it prices the parts of the hot path so that
the end-to-end figures of the other benchmarks can be explained.

1. Micro-costs (µs per call) of what the service does per hop and per
   transition: building and encoding a notification, parsing a reply, the
   event bus, the registry's counters, the metrics, ``Run.record()``,
   ``memory_to_dict``, a storage write (SQLite and PostgreSQL).
2. The engine and the hub end to end, in one process, with websockets faked
   by in-memory queues (so what remains is hotplugd's own Python work):
   engine + real ``Hub``/``Session`` + ``EventBus`` with a storage that does
   nothing, then with SQLite; and, as the floor, a bare loop that does only
   send + await reply over the same fake websockets. Per hop = the slope
   between 10 and 100 subscribers; per transition = what is left.
3. cProfile of (2) with 10 subscribers: the functions with the most time.
4. Cyclic-GC pauses during (2): how often, how long.
5. What-if: (2)'s per-hop CPU after cheap fixes, patched in this process only.

    .venv/bin/python -m tests.bench.bench_parts [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import pstats
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from app.chain.actions import Action
from app.chain.chain import Subscription
from app.engine.events import EventBus
from app.engine.metrics import Metrics
from app.engine.ports import Batch, Notification, StoredState
from app.engine.registry import Registry, utcnow
from app.engine.service import Engine
from app.memory.layout import default_layout, memory_to_dict
from app.memory.transition import Operation
from app.transport.hub import Hub
from app.transport.replies import parse_reply
from tests.bench.common import (
    BLOCK,
    Figure,
    Report,
    parser,
    postgres_available,
    postgres_schema,
    run,
    workdir,
)

REPLY = '{"type":"reply","id":%d,"result":"NOTIFY_OK"}'


# CPU time of this process: on a shared, loaded machine, wall time also counts
# the time spent waiting for a CPU; CPU time (best of several batches) does not.
CPU = time.process_time


def per_call_us(fn: Callable[[], object], count: int, clock: Callable[[], float] = CPU) -> float:
    """Mean µs of ``fn()`` over ``count`` calls (best of 5 batches)."""
    best = float("inf")
    for _ in range(5):
        started = clock()
        for _ in range(count):
            fn()
        best = min(best, (clock() - started) / count)
    return best * 1e6


async def per_call_async_us(
    fn: Callable[[], Awaitable[object]], count: int, clock: Callable[[], float] = CPU
) -> float:
    best = float("inf")
    for _ in range(5):
        started = clock()
        for _ in range(count):
            await fn()
        best = min(best, (clock() - started) / count)
    return best * 1e6


# -- fakes ---------------------------------------------------------------------


class NullStorage:
    """A storage that stores nothing (counts the writes)."""

    def __init__(self) -> None:
        self.writes = 0

    async def open(self) -> StoredState:
        return StoredState()

    async def write(self, batch: Batch) -> None:
        self.writes += 1

    async def get_transition(self, transition_id: str) -> None:
        return None

    async def list_transitions(self, query: object) -> list[Any]:
        return []

    async def prune_transitions(self, keep: int) -> int:
        return 0

    async def close(self) -> None:
        return None


class CountingStorage:
    """Wraps a real storage and counts its writes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes = 0
        self.seconds = 0.0

    async def open(self) -> StoredState:
        stored: StoredState = await self.inner.open()
        return stored

    async def write(self, batch: Batch) -> None:
        self.writes += 1
        started = time.perf_counter()
        await self.inner.write(batch)
        self.seconds += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FakeWebSocket:
    """What ``Session`` uses of a Starlette websocket; the peer answers at once.

    ``send_text`` of a notify frame queues the subscriber's reply, which the
    session's reader then receives: one loop iteration, no network.
    """

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.scope: dict[str, Any] = {"extensions": {}}  # no fast path: the ASGI way

    async def accept(self) -> None:
        return None

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send_text(self, text: str) -> None:
        if text.startswith('{"type":"notify"'):
            frame = orjson.loads(text)
            self.inbox.put_nowait({"type": "websocket.receive", "text": REPLY % frame["id"]})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": code})


class Directory:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def authenticate(self, subscriber_id: str, token: str) -> dict[str, Any] | None:
        return {"id": subscriber_id, "name": subscriber_id}


@contextlib.asynccontextmanager
async def engine_with_hub(subscribers: int, storage: Any) -> Any:
    """An engine whose delivery is the real Hub over fake websockets."""
    bus = EventBus()
    registry = Registry()
    hub = Hub(Directory(registry), bus)
    registry.is_connected = hub.is_connected
    engine = Engine(default_layout(), storage, hub, bus, registry=registry, metrics=Metrics())
    stored = await storage.open()
    await engine.start(stored)
    await _wait(lambda: engine.ready)
    serving = []
    for i in range(subscribers):
        public, _token = await engine.register(Subscription(id=f"s{i}", name=f"s{i}"))
        ws = FakeWebSocket()
        serving.append(asyncio.create_task(hub.serve(ws, public["id"], public)))  # type: ignore[arg-type]
    await _wait(lambda: all(hub.is_connected(f"s{i}") for i in range(subscribers)))
    try:
        yield engine
    finally:
        await engine.close()
        await hub.close_all(grace=2)
        for task in serving:
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)
        with contextlib.suppress(Exception):
            await storage.close()


async def _wait(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.001)


async def transitions(engine: Engine, count: int, clock: Callable[[], float] = CPU) -> float:
    """Run ``count`` transitions (online/offline of BLOCK) one after the other; seconds each."""
    block = engine.block(BLOCK)
    started = clock()
    for _ in range(count):
        online = block.state.value == "online"
        op = Operation.OFFLINE if online else Operation.ONLINE
        run_ = await engine.submit(op, BLOCK, None if online else _online_type())
        record = await run_.done
        if record["outcome"] != "completed":
            raise RuntimeError(f"transition {record['outcome']}")
    return (clock() - started) / count


def _online_type() -> Any:
    from app.memory.model import OnlineType

    return OnlineType("online")


async def bare_walks(subscribers: int, count: int) -> float:
    """The floor: per transition, 2 walks of send + await reply over the same fakes."""
    sockets = [FakeWebSocket() for _ in range(subscribers)]
    n = 0
    started = CPU()
    for _ in range(count):
        for _walk in range(2):
            for ws in sockets:
                n += 1
                frame = {"type": "notify", "id": n, "transition": "t", "action": "MEM_ONLINE"}
                await ws.send_text(orjson.dumps(frame).decode())
                reply = orjson.loads((await ws.receive())["text"])
                assert reply["id"] == n
    return (CPU() - started) / count


# -- the benchmark ----------------------------------------------------------------


async def micro(report: Report, count: int) -> None:
    bus = EventBus()
    memory = default_layout()
    arg = {
        "start_pfn": 1,
        "nr_pages": 2,
        "status_change_nid_normal": 1,
        "status_change_nid_high": -1,
        "status_change_nid": 1,
    }
    from app.memory.notify import MemoryNotify

    notify_arg = MemoryNotify(**arg)
    metrics = Metrics()
    registry = Registry()
    stamped, _ = registry.register(Subscription(id="s1", name="s1"))
    from app.chain.walk import Walk

    walk = Walk(Action.MEM_ONLINE, [stamped], 1)
    walk.next_call()
    walk.receive_reply(1, None, 0.2)
    call = walk.calls[-1]

    def notification() -> str:
        n = Notification(1, "tr-1", "MEM_ONLINE", 1, notify_arg.to_dict(), 12, 1, 5000)
        return orjson.dumps(n.to_wire()).decode()

    timeout_cm = asyncio.timeout

    async def a_timeout() -> None:
        async with timeout_cm(5):
            pass

    loop = asyncio.get_running_loop()

    async def future_roundtrip() -> None:
        fut = loop.create_future()
        loop.call_soon(fut.set_result, None)
        await fut

    rows = [
        ("MemoryNotify.to_dict (dataclasses.asdict)", per_call_us(notify_arg.to_dict, count)),
        ("the same as a literal dict", per_call_us(lambda: dict(arg), count)),
        ("Notification + to_wire + orjson.dumps", per_call_us(notification, count)),
        ("parse_reply (orjson + checks)", per_call_us(lambda: parse_reply(REPLY % 7), count)),
        (
            "EventBus.publish, no observer",
            per_call_us(lambda: bus.publish("hotplug.notification.sent", {"a": 1}, "tr"), count),
        ),
        ("  of which _now_rfc3339 / utcnow", per_call_us(utcnow, count)),
        (
            "Registry.record_call",
            per_call_us(lambda: registry.record_call(call, Action.MEM_ONLINE), count),
        ),
        (
            "metrics latency.labels().observe",
            per_call_us(lambda: metrics.latency.labels("MEM_ONLINE").observe(0.0002), count),
        ),
        ("asyncio.timeout() enter+exit", await per_call_async_us(a_timeout, count)),
        ("future set + await (one loop turn)", await per_call_async_us(future_roundtrip, count)),
        (
            "memory_to_dict(default layout)",
            per_call_us(lambda: memory_to_dict(memory), count // 10),
        ),
        (
            "orjson.dumps(memory_to_dict)",
            per_call_us(lambda: orjson.dumps(memory_to_dict(memory)), count // 10),
        ),
    ]
    observers = [bus.subscribe() for _ in range(100)]
    rows.append(
        (
            "EventBus.publish, 100 observers (queue only)",
            per_call_us(lambda: _publish_drain(bus, observers), count // 10),
        )
    )
    for observer in observers:
        observer.close()
    for name, us in rows:
        report.add(Figure(f"micro: {name}", us, "µs"))


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _publish_drain(bus: EventBus, observers: list[Any]) -> None:
    bus.publish("hotplug.notification.sent", {"a": 1}, "tr")
    for observer in observers:
        observer._events.clear()


async def records(report: Report, quick: bool) -> None:
    """Run.record() and storage writes at 10 and 1,000 subscribers."""
    for subscribers in (10, 1000):
        storage = NullStorage()
        async with engine_with_hub(subscribers, storage) as engine:
            await transitions(engine, 1)
            # A finished run's record: rebuild the cost by timing a live one.
            block = engine.block(BLOCK)
            online = block.state.value == "online"
            op = Operation.OFFLINE if online else Operation.ONLINE
            run_ = await engine.submit(op, BLOCK, None if online else _online_type())
            await run_.done
            us = per_call_us(run_.record, 20 if subscribers > 100 else 200)
            size = len(orjson.dumps(run_.record()))
            report.add(
                Figure(
                    f"micro: Run.record(), {subscribers} subscribers (2 walks)",
                    us,
                    "µs",
                    note=f"{size} bytes as JSON",
                )
            )
            enc = per_call_us(lambda run_=run_: orjson.dumps(run_.record()), 20)
            report.add(Figure(f"micro: orjson.dumps(Run.record()), {subscribers} subs", enc, "µs"))
            import json

            std = per_call_us(lambda run_=run_: json.dumps(run_.record()), 20)
            report.add(
                Figure(
                    f"micro: json.dumps(Run.record()) (JSONResponse), {subscribers} subs",
                    std,
                    "µs",
                )
            )


async def storage_writes(report: Report, quick: bool) -> None:
    from app.storage import create_storage

    count = 30 if quick else 150
    targets: list[tuple[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        wd = await stack.enter_async_context(workdir("parts"))
        targets.append(("SQLite", f"sqlite:///{wd / 'parts.sqlite3'}"))
        targets.append(
            ("SQLite synchronous=NORMAL (what-if)", f"sqlite:///{wd / 'normal.sqlite3'}")
        )
        if await postgres_available() is None:
            targets.append(("PostgreSQL", await stack.enter_async_context(postgres_schema())))
        from app.storage import engines

        full_pragmas = engines._SQLITE_PRAGMAS
        for name, url in targets:
            # The what-if swaps one pragma in this process only (app/ is untouched).
            engines._SQLITE_PRAGMAS = tuple(
                p.replace("FULL", "NORMAL") if "NORMAL" in name else p for p in full_pragmas
            )
            storage = create_storage(url)
            await storage.open()
            memory = memory_to_dict(default_layout())
            record = {
                "id": "tr-1",
                "seq": 1,
                "operation": "online",
                "block": 12,
                "node": 1,
                "outcome": "running",
                "created_at": utcnow(),
                "walks": [],
            }
            try:
                one = await per_call_async_us(
                    lambda storage=storage, record=record: storage.write(
                        Batch(transitions=[record])
                    ),
                    count,
                    time.perf_counter,
                )
                both = await per_call_async_us(
                    lambda storage=storage, record=record, memory=memory: storage.write(
                        Batch(transitions=[record], memory=memory)
                    ),
                    count,
                    time.perf_counter,
                )
            finally:
                await storage.close()  # type: ignore[attr-defined]
                engines._SQLITE_PRAGMAS = full_pragmas
            report.add(Figure(f"micro: storage.write, {name}: 1 record", one / 1000, "ms"))
            report.add(Figure(f"micro: storage.write, {name}: record + memory", both / 1000, "ms"))


class WalkMeter:
    """CPU time spent inside ``Engine._run_walk`` (the hops), patched in this process only."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.hops = 0
        self._original = Engine._run_walk

    def __enter__(self) -> WalkMeter:
        original = self._original
        meter = self

        async def run_walk(engine: Engine, run_: Any, walk: Any) -> None:
            started = CPU()
            await original(engine, run_, walk)
            meter.cpu += CPU() - started
            meter.hops += len(walk.calls)

        Engine._run_walk = run_walk  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Engine._run_walk = self._original  # type: ignore[method-assign]

    def reset(self) -> None:
        self.cpu, self.hops = 0.0, 0


async def hop_and_rest(subscribers: int, count: int) -> tuple[float, float, float]:
    """hotplugd in-process, null storage: (CPU per hop, CPU per transition outside the
    walks, storage writes per transition); each the best of 3 batches."""
    storage = NullStorage()
    best_hop, best_rest = float("inf"), float("inf")
    async with engine_with_hub(subscribers, storage) as engine:
        await transitions(engine, 10)
        before = storage.writes
        with WalkMeter() as meter:
            for _ in range(3):
                meter.reset()
                per_transition = await transitions(engine, count)
                hop = meter.cpu / meter.hops
                best_hop = min(best_hop, hop)
                best_rest = min(best_rest, per_transition - meter.cpu / count)
        writes = (storage.writes - before) / (3 * count)
    return best_hop, best_rest, writes


async def end_to_end(report: Report, quick: bool, out: Path) -> None:
    count = 100 if quick else 400
    hop, rest, writes = await hop_and_rest(10, count)
    await bare_walks(10, 10)
    bare_hop = min([await bare_walks(10, count) for _ in range(3)]) / 20
    report.add(
        Figure(
            "in-process hotplugd: CPU per hop (engine + Hub/Session, fake sockets)",
            hop * 1e6,
            "µs",
            "bare send+await",
            bare_hop * 1e6,
        )
    )
    report.add(
        Figure(
            "    info: in-process extra CPU per hop, hotplugd - bare",
            (hop - bare_hop) * 1e6,
            "µs",
        )
    )
    report.add(
        Figure(
            "in-process hotplugd: CPU per transition outside the walks (null storage)",
            rest * 1e6,
            "µs",
            note="submit, journal/finish records, memory_to_dict, events",
        )
    )
    hop_1000, rest_1000, _ = await hop_and_rest(1000, 3 if quick else 10)
    report.add(
        Figure(
            "in-process hotplugd: CPU per hop, 1000 subscribers",
            hop_1000 * 1e6,
            "µs",
            "10 subs",
            hop * 1e6,
        )
    )
    report.add(
        Figure(
            "in-process hotplugd: CPU per transition outside the walks, 1000 subs",
            rest_1000 * 1e3,
            "ms",
        )
    )
    report.details["in-process"] = {
        "per_hop_us": hop * 1e6,
        "bare_per_hop_us": bare_hop * 1e6,
        "outside_walks_us": rest * 1e6,
        "per_hop_1000_us": hop_1000 * 1e6,
        "outside_walks_1000_us": rest_1000 * 1e6,
    }
    report.details["storage writes per transition"] = writes
    null_transition = hop * 20 + rest

    # The same with SQLite, to price the storage per transition.
    from app.storage import create_storage

    async with contextlib.AsyncExitStack() as stack:
        wd = await stack.enter_async_context(workdir("parts-e2e"))
        urls = {"SQLite": f"sqlite:///{wd / 'e2e.sqlite3'}"}
        if await postgres_available() is None:
            urls["PostgreSQL"] = await stack.enter_async_context(postgres_schema())
        for name, url in urls.items():
            storage = CountingStorage(create_storage(url))
            async with engine_with_hub(10, storage) as engine:
                await transitions(engine, 5)
                before, spent = storage.writes, storage.seconds
                n = count // 4
                real_t = await transitions(engine, n, time.perf_counter)
                w = (storage.writes - before) / n
                per_write = (storage.seconds - spent) / (storage.writes - before)
            report.add(
                Figure(
                    f"in-process hotplugd, 10 subs, {name}: time per transition",
                    real_t * 1e3,
                    "ms",
                    "null storage",
                    null_transition * 1e3,
                    note=f"{w:.1f} storage writes per transition",
                )
            )
            report.add(
                Figure(
                    f"    info: {name} storage.write wall time inside the engine",
                    per_write * 1e3,
                    "ms",
                    note=f"x {w:.1f} writes per transition",
                )
            )

    # cProfile of the 10-subscriber, null-storage loop.
    storage = NullStorage()
    async with engine_with_hub(10, storage) as engine:
        await transitions(engine, 10)
        profile = cProfile.Profile()
        profile.enable()
        await transitions(engine, count)
        profile.disable()
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(45)
    path = out / f"cprofile-parts-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    write_text(
        path,
        f"cProfile: {count} transitions, 10 subscribers (20 hops each), engine + Hub over "
        f"fake websockets, null storage\n\n" + text.getvalue(),
    )
    report.note(f"cProfile of the in-process engine + hub loop: {path}")


def _cached_clock(real: Callable[[], str]) -> Callable[[], str]:
    """``real`` (a timestamp formatter), recomputed at most once per millisecond."""
    last = [-1, ""]

    def now() -> str:
        ms = time.time_ns() // 1_000_000
        if ms != last[0]:
            last[0], last[1] = ms, real()
        return str(last[1])

    return now


async def what_if(report: Report, quick: bool) -> None:
    """Per-hop CPU in-process after cheap fixes, patched in this process only (app/ untouched).

    Cumulative: (a) ``MemoryNotify.to_dict`` as a literal dict instead of
    ``dataclasses.asdict``; (b) + event and registry timestamps formatted at
    most once per millisecond; (c) + the metrics' labelled child cached.
    """
    from app.engine import events, registry
    from app.memory.notify import MemoryNotify

    count = 100 if quick else 300
    originals = (MemoryNotify.to_dict, events._now_rfc3339, registry.utcnow)
    latency = Metrics().latency
    original_labels = type(latency).labels

    def fast_to_dict(self: Any) -> dict[str, int]:
        return {
            "start_pfn": self.start_pfn,
            "nr_pages": self.nr_pages,
            "status_change_nid_normal": self.status_change_nid_normal,
            "status_change_nid_high": self.status_change_nid_high,
            "status_change_nid": self.status_change_nid,
        }

    children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def cached_labels(self: Any, *values: str) -> Any:
        key = (id(self), values)
        child = children.get(key)
        if child is None:
            child = children[key] = original_labels(self, *values)
        return child

    async def per_hop() -> float:
        return (await hop_and_rest(10, count))[0] * 1e6

    steps: list[tuple[str, Callable[[], None]]] = [
        ("as is", lambda: None),
        (
            "+ literal dict for MemoryNotify.to_dict",
            lambda: setattr(MemoryNotify, "to_dict", fast_to_dict),
        ),
        (
            "+ timestamps cached per ms",
            lambda: (
                setattr(events, "_now_rfc3339", _cached_clock(originals[1])),
                setattr(registry, "utcnow", _cached_clock(originals[2])),
            ),
        ),
        ("+ metrics labels() cached", lambda: setattr(type(latency), "labels", cached_labels)),
    ]
    try:
        base = None
        for name, patch in steps:
            patch()
            us = await per_hop()
            base = us if base is None else base
            report.add(Figure(f"what-if: in-process CPU per hop, {name}", us, "µs", "as is", base))
    finally:
        MemoryNotify.to_dict, events._now_rfc3339, registry.utcnow = originals  # type: ignore[method-assign]
        type(latency).labels = original_labels  # type: ignore[method-assign]


async def gc_pauses(report: Report, quick: bool) -> None:
    """Cyclic-GC pauses while the engine runs (the event bus retains 10,000 events)."""
    import gc

    count = 300 if quick else 1500
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: dict[str, float] = {}

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started["t"] = CPU()
        else:
            pauses[info["generation"]].append((CPU() - started["t"]) * 1e3)

    async with engine_with_hub(10, NullStorage()) as engine:
        await transitions(engine, 50)
        gc.collect()
        gc.callbacks.append(callback)
        try:
            t0 = CPU()
            await transitions(engine, count)
            elapsed = CPU() - t0
        finally:
            gc.callbacks.remove(callback)
        tracked = len(gc.get_objects())
    for generation, values in pauses.items():
        if not values:
            continue
        report.add(
            Figure(
                f"gc: generation {generation} collections per 100 transitions",
                100 * len(values) / count,
                "",
                note=f"max {max(values):.2f} ms, total {sum(values):.1f} ms",
            )
        )
        report.add(Figure(f"gc: generation {generation} pause, max", max(values), "ms"))
    report.add(
        Figure(
            "gc: share of the engine loop's time spent in collections",
            100 * sum(sum(v) for v in pauses.values()) / 1e3 / elapsed,
            "%",
            note=f"{tracked} objects tracked at the end",
        )
    )


async def main(args: argparse.Namespace) -> None:
    report = Report("bench_parts", args.quick)
    await micro(report, 2000 if args.quick else 20000)
    await records(report, args.quick)
    await storage_writes(report, args.quick)
    await end_to_end(report, args.quick, args.out)
    await gc_pauses(report, args.quick)
    await what_if(report, args.quick)
    report.finish(args.out)


if __name__ == "__main__":
    run(main, parser(__doc__.splitlines()[0]).parse_args())
