"""Benchmark (2) of issue 7: durable transitions per second with 10 subscribers.

hotplugd on SQLite and on PostgreSQL (a fresh schema, dropped afterwards)
against the bare chain hub doing the same 2 walks per event, all answered by
the same farm process (raw ``websockets`` clients) in interleaved rounds.
Each system is driven for a fixed time, once with one request at a time
(closed loop: each transition requested when the previous one finished) and
once with 4 concurrent requesters (hotplugd queues them; each requester
toggles its own block, the bare hub serialises its walks).

    .venv/bin/python -m tests.bench.bench_tps [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.bench.common import (
    BLOCK,
    Event,
    Farm,
    Figure,
    Profiler,
    Report,
    ServerProcess,
    Toggle,
    admin_client,
    hotplugd,
    parser,
    postgres_available,
    postgres_schema,
    register,
    run,
    summarize,
    timed,
    wait_until,
    workdir,
    ws_subs,
)

SUBSCRIBERS = 10
Trigger = Callable[[], Any]


async def drive(triggers: list[Trigger], seconds: float, cap: int = 100_000) -> tuple[int, float]:
    """Each trigger in its own requester, back to back, for ``seconds``: (count, elapsed)."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def requester(trigger: Trigger) -> None:
        nonlocal done
        while time.perf_counter() < deadline and done < cap:
            await trigger()
            done += 1

    async with asyncio.TaskGroup() as group:
        for trigger in triggers:
            group.create_task(requester(trigger))
    return done, time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    report = Report("bench_tps", args.quick)
    rounds, seconds = (2, 1.0) if args.quick else (5, 5.0)
    pg_problem = await postgres_available()
    if pg_problem:
        report.note(f"PostgreSQL skipped: {pg_problem}")
    async with contextlib.AsyncExitStack() as stack:
        wd = await stack.enter_async_context(workdir("tps"))
        servers = {"sqlite": await stack.enter_async_context(hotplugd(wd, "hp-sqlite"))}
        if pg_problem is None:
            url = await stack.enter_async_context(postgres_schema())
            servers["postgresql"] = await stack.enter_async_context(
                hotplugd(wd, "hp-postgresql", database_url=url)
            )
        hub = await stack.enter_async_context(
            ServerProcess("tests.bench.baseline_hub", wd, "bare-hub")
        )
        hub_api = await stack.enter_async_context(httpx.AsyncClient(base_url=hub.http, timeout=60))
        farm = await stack.enter_async_context(Farm(wd, "farm"))
        apis: dict[str, httpx.AsyncClient] = {}
        for backend, server in servers.items():
            api = apis[backend] = await stack.enter_async_context(admin_client(server.http))
            regs = await register(api, SUBSCRIBERS, prefix=f"tps-{backend}")
            await farm.call({"op": "ws", "client": "raw", "tag": backend, "subs": ws_subs(regs)})
        hub_subs = [{"url": f"{hub.ws}/ws", "token": "none", "id": f"h{i}"} for i in range(10)]
        await farm.call({"op": "ws", "client": "raw", "tag": "hub", "subs": hub_subs})
        await wait_until(
            lambda: hub_api.get("/count"), 5, "hub up"
        )  # the hub registers a client right after its hello

        async def make(concurrency: int) -> dict[str, list[Trigger]]:
            systems: dict[str, list[Trigger]] = {}
            for backend, api in apis.items():
                toggles = [Toggle(api, BLOCK + i) for i in range(concurrency)]
                for toggle in toggles:
                    await toggle.sync()
                systems[f"hotplugd {backend}"] = list(toggles)
            systems["bare hub"] = [Event(hub_api, walks=2) for _ in range(concurrency)]
            return systems

        for concurrency in (1, 4):
            systems = await make(concurrency)
            for triggers in systems.values():  # warm-up
                await drive(triggers, 0.3)
            tps: dict[str, list[float]] = {name: [] for name in systems}
            print(f"-- (2) concurrency {concurrency}: {rounds} rounds x {seconds}s", flush=True)
            names = list(systems)
            for r in range(rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    count, elapsed = await drive(systems[name], seconds)
                    tps[name].append(count / elapsed)
            med = {name: statistics.median(values) for name, values in tps.items()}
            report.details[f"tps c={concurrency}"] = tps
            for backend, limit in (("sqlite", 0.9), ("postgresql", 0.7)):
                name = f"hotplugd {backend}"
                if name not in med:
                    continue
                report.add(
                    Figure(
                        f"(2) durable transitions/s, {backend}, c={concurrency}",
                        med[name],
                        "tr/s",
                        "bare hub",
                        med["bare hub"],
                        f">= {limit}x",
                        limit,
                        higher_is_better=True,
                    )
                )
            for backend in apis:
                paired = [
                    hp / hub
                    for hp, hub in zip(tps[f"hotplugd {backend}"], tps["bare hub"], strict=True)
                ]
                report.add(
                    Figure(
                        f"    info: {backend}, c={concurrency}: median of per-round ratios",
                        statistics.median(paired),
                        "x",
                        note="each round's hotplugd rate over the bare hub's, same round",
                    )
                )
                extra = 1000 / med[f"hotplugd {backend}"] - 1000 / med["bare hub"]
                report.add(
                    Figure(
                        f"    info: hotplugd {backend} extra time per transition, c={concurrency}",
                        extra,
                        "ms",
                        note="1/tps(hotplugd) - 1/tps(bare hub)",
                    )
                )

        if args.profile:
            for backend, server in servers.items():
                toggle = Toggle(apis[backend], BLOCK)
                await toggle.sync()
                stamp = time.strftime("%Y%m%dT%H%M%S")
                path = args.out / f"profile-tps-{backend}-{stamp}.txt"
                count = 100 if args.quick else 1000
                print(f"-- profiling hotplugd {backend}: {count} transitions -> {path}", flush=True)
                with Profiler(server.proc.pid, path, rate=997):
                    latencies = await timed(toggle, count, 120)
                report.details[f"profile {backend}"] = {
                    "file": str(path),
                    "latency_ms": summarize(latencies),
                }
                report.note(f"py-spy profile of hotplugd on {backend}: {path}")
    report.finish(args.out)


if __name__ == "__main__":
    run(main, parser(__doc__.splitlines()[0]).parse_args())
