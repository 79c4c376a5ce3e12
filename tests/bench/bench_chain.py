"""Benchmark (3) of issue 7: a 1,000-subscriber chain, per hop against 10 subscribers.

One hotplugd and the bare chain hub, one farm process (raw ``websockets``
clients). First 10 subscribers on each, measured in interleaved rounds;
then 990 more are registered and connected, and the same is measured with
1,000. The per-hop cost must stay flat (linear chain cost): hotplugd's
1,000-subscriber per-hop p50 within 1.2x of its 10-subscriber figure. The
bare hub's own ratio is shown as the reference for what the machine does.
``--quick`` uses 300 subscribers instead of 1,000.

    .venv/bin/python -m tests.bench.bench_chain [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Any

import httpx

from tests.bench.bench_hop import hub_count, measure
from tests.bench.common import (
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
    register,
    run,
    summarize,
    timed,
    wait_until,
    workdir,
    ws_subs,
)

SMALL, LARGE_FULL, LARGE_QUICK = 10, 1000, 300


async def main(args: argparse.Namespace) -> None:
    report = Report("bench_chain", args.quick)
    small_rounds, small_per_round = (2, 10) if args.quick else (5, 30)
    large_rounds, large_per_round = (2, 2) if args.quick else (4, 4)
    large = LARGE_QUICK if args.quick else LARGE_FULL
    async with contextlib.AsyncExitStack() as stack:
        wd = await stack.enter_async_context(workdir("chain"))
        hp = await stack.enter_async_context(hotplugd(wd))
        hub = await stack.enter_async_context(
            ServerProcess("tests.bench.baseline_hub", wd, "bare-hub")
        )
        api = await stack.enter_async_context(admin_client(hp.http))
        hub_api = await stack.enter_async_context(httpx.AsyncClient(base_url=hub.http, timeout=120))
        farm = await stack.enter_async_context(Farm(wd, "farm"))
        toggle = Toggle(api)
        await toggle.sync()
        systems = {"hotplugd": toggle, "bare hub": Event(hub_api)}
        results: dict[int, Any] = {}
        regs: list[dict[str, Any]] = []
        for size, rounds, per_round in (
            (SMALL, small_rounds, small_per_round),
            (large, large_rounds, large_per_round),
        ):
            t0 = time.perf_counter()
            more = await register(
                api, size - len(regs), prefix=f"chain{size}", concurrency=8, timeout=600
            )
            t_reg = time.perf_counter() - t0
            await farm.call({"op": "ws", "client": "raw", "tag": "hp", "subs": ws_subs(more)}, 600)
            hub_subs = [
                {"url": f"{hub.ws}/ws", "token": "none", "id": f"h{i}"}
                for i in range(len(regs), size)
            ]
            await farm.call({"op": "ws", "client": "raw", "tag": "hub", "subs": hub_subs}, 600)
            await wait_until(lambda size=size: hub_count(hub_api, size), 60, "hub clients")
            regs += more
            print(f"-- (3) {size} subscribers: {rounds} rounds x {per_round}", flush=True)
            results[size] = await measure(
                farm, systems, rounds, per_round, warmup=2 if size == large else 5, budget_s=300
            )
            report.details[f"{size} subscribers"] = {
                "registration_s": t_reg,
                **{
                    name: {
                        "hops_us": summarize(r["hops_us"]),
                        "transition_latency_ms": summarize(r["latency_ms"]),
                    }
                    for name, r in results[size].items()
                },
            }
            if args.profile and size == large:
                path = args.out / f"profile-chain-{time.strftime('%Y%m%dT%H%M%S')}.txt"
                print(f"-- profiling hotplugd with {size} subscribers -> {path}", flush=True)
                with Profiler(hp.proc.pid, path, rate=997):
                    await timed(toggle, 4 if args.quick else 20, 300)
                report.note(f"py-spy profile of hotplugd, {size} subscribers: {path}")

        for q in ("p50", "p99"):
            hp_small = summarize(results[SMALL]["hotplugd"]["hops_us"])[q]
            hp_large = summarize(results[large]["hotplugd"]["hops_us"])[q]
            hub_small = summarize(results[SMALL]["bare hub"]["hops_us"])[q]
            hub_large = summarize(results[large]["bare hub"]["hops_us"])[q]
            report.add(
                Figure(
                    f"(3) hotplugd per hop {q}, {large} vs {SMALL} subscribers",
                    hp_large,
                    "µs",
                    f"{SMALL} subs",
                    hp_small,
                    "<= 1.2x" if q == "p50" else "",
                    1.2 if q == "p50" else None,
                )
            )
            report.add(
                Figure(
                    f"    info: bare hub per hop {q}, {large} vs {SMALL} (reference)",
                    hub_large,
                    "µs",
                    f"{SMALL} subs",
                    hub_small,
                )
            )
            report.add(
                Figure(
                    f"    info: hotplugd vs bare hub per hop {q}, {large} subscribers",
                    hp_large,
                    "µs",
                    "bare hub",
                    hub_large,
                )
            )
        for size in (SMALL, large):
            hp_lat = summarize(results[size]["hotplugd"]["latency_ms"])["p50"]
            hub_lat = summarize(results[size]["bare hub"]["latency_ms"])["p50"]
            report.add(
                Figure(
                    f"    info: transition p50, {size} subscribers, vs bare hub event",
                    hp_lat,
                    "ms",
                    "bare hub",
                    hub_lat,
                )
            )
    report.finish(args.out)


if __name__ == "__main__":
    run(main, parser(__doc__.splitlines()[0]).parse_args())
