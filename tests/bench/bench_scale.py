"""Benchmarks (4) and (6) of issue 7: 10,000 idle subscribers in one service process.

(6) Registration of 10,000 subscribers over HTTP (8 requests in flight): time
and rate. They filter on node 2 (``nodes: [2]``), which the benchmark never
touches, so that once connected they stay idle.

(4) The 10,000 connect (raw ``websockets`` clients, split over farm
processes of 2,500 connections each, open-file limits raised): the service
process's VmRSS before and after connecting, per connection (target: at
most 32 KiB each), and the latency of a transition whose one active
subscriber (no filter, in its own farm) sits among them, against the same
server before the idle ones were registered. The same connections to the
bare chain hub give the framework's own floor (uvicorn + FastAPI +
permessage-deflate); the full run also measures 2,000 connections on fresh
servers with and without permessage-deflate (the client does not offer it).

``--quick`` uses 1,000 idle subscribers instead of 10,000.

    .venv/bin/python -m tests.bench.bench_scale [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path

import httpx

from tests.bench.common import (
    IDLE_NODE,
    Farm,
    Figure,
    Profiler,
    Report,
    ServerProcess,
    Toggle,
    admin_client,
    connected_count,
    hotplugd,
    parser,
    raise_nofile,
    register,
    rss_kib,
    run,
    summarize,
    timed,
    wait_until,
    workdir,
    ws_subs,
)

PER_FARM = 2500
GCPROBE = Path(__file__).resolve().parent / "gcprobe"


async def settled_rss(pid: int, seconds: float = 3.0) -> int:
    """VmRSS after the process had a moment to settle (max of the last samples)."""
    await asyncio.sleep(seconds)
    samples = []
    for _ in range(5):
        samples.append(rss_kib(pid))
        await asyncio.sleep(0.2)
    return max(samples)


async def main(args: argparse.Namespace) -> None:
    report = Report("bench_scale", args.quick)
    idle = 1000 if args.quick else 10_000
    transitions = 20 if args.quick else 60
    limit = raise_nofile(idle + 4096)
    if limit < idle + 1024:
        report.note(f"open-file limit {limit} is too low for {idle} connections")
    async with contextlib.AsyncExitStack() as stack:
        wd = await stack.enter_async_context(workdir("scale"))
        gc_log = args.out / f"gc-scale-{time.strftime('%Y%m%dT%H%M%S')}.log"
        probe = {"PYTHONPATH": str(GCPROBE), "GCPROBE_LOG": str(gc_log)} if args.gc_probe else {}
        hp = await stack.enter_async_context(hotplugd(wd, **probe))
        api = await stack.enter_async_context(admin_client(hp.http, timeout=120))
        active = await stack.enter_async_context(Farm(wd, "farm-active"))
        toggle = Toggle(api)
        await toggle.sync()
        regs = await register(api, 1, prefix="active")
        await active.call({"op": "ws", "client": "raw", "tag": "hp", "subs": ws_subs(regs)})
        await timed(toggle, 5, 30)  # warm-up
        alone = await timed(toggle, transitions, 120)
        rss0 = await settled_rss(hp.proc.pid, 1.0)

        print(f"-- (6) registering {idle} subscribers", flush=True)
        t0 = time.perf_counter()
        idle_regs = await register(
            api, idle, prefix="idle", concurrency=8, nodes=[IDLE_NODE], timeout=900
        )
        t_reg = time.perf_counter() - t0
        rss1 = await settled_rss(hp.proc.pid)
        report.add(Figure(f"(6) registration of {idle} subscribers: time", t_reg, "s", note="c=8"))
        report.add(Figure(f"(6) registration of {idle} subscribers: rate", idle / t_reg, "/s"))

        print(f"-- (4) connecting {idle} idle subscribers", flush=True)
        farms = []
        t0 = time.perf_counter()
        chunks = [idle_regs[i : i + PER_FARM] for i in range(0, idle, PER_FARM)]
        for n, _chunk in enumerate(chunks):
            farms.append(await stack.enter_async_context(Farm(wd, f"farm-idle-{n}")))
        await asyncio.gather(
            *(
                farm.call({"op": "ws", "client": "raw", "tag": "idle", "subs": ws_subs(chunk)}, 900)
                for farm, chunk in zip(farms, chunks, strict=True)
            )
        )
        await wait_until(
            lambda: _count_is(api, idle + 1), 300, f"{idle + 1} connected", interval=0.5
        )
        t_conn = time.perf_counter() - t0
        rss2 = await settled_rss(hp.proc.pid)
        per_conn = (rss2 - rss1) / idle
        per_sub = (rss2 - rss0) / idle
        sample = min(idle, 2000)
        hub_per_conn = await hub_rss_per_connection(wd, sample, compression=True)
        report.add(
            Figure(
                f"(4) RSS per idle connection ({idle} connected)",
                per_conn,
                "KiB",
                "bare hub",
                hub_per_conn,
                target="<= 32 KiB",
                limit=32,
                judge_ratio=False,
                note=f"bare hub: {sample} connections to baseline_hub, same client settings",
            )
        )
        report.add(
            Figure(
                "    info: RSS per idle subscriber, registration + connection",
                per_sub,
                "KiB",
            )
        )
        report.add(Figure(f"    info: connecting {idle} subscribers: rate", idle / t_conn, "/s"))

        print(f"-- (4) {transitions} transitions with 1 active among {idle} idle", flush=True)
        await timed(toggle, 3, 60)
        t_crowded = time.time()
        crowded = await timed(toggle, transitions, 300)
        if args.gc_probe:
            gc_summary(report, gc_log, t_crowded, time.time())
        if args.profile:
            path = args.out / f"profile-scale-{time.strftime('%Y%m%dT%H%M%S')}.txt"
            print(f"-- profiling hotplugd with {idle} idle subscribers -> {path}", flush=True)
            with Profiler(hp.proc.pid, path, rate=997):
                await timed(toggle, 10 if args.quick else 40, 300)
            report.note(f"py-spy profile of hotplugd, {idle} idle subscribers: {path}")
        a, c = summarize(alone), summarize(crowded)
        for q in ("p50", "p99"):
            report.add(
                Figure(
                    f"(4) transition {q}, 1 active among {idle} idle, vs 1 alone",
                    c[q],
                    "ms",
                    "1 alone",
                    a[q],
                )
            )
        for compression in () if args.quick else (True, False):
            per = await rss_per_connection(wd, stack, sample, compression)
            hub_per = await hub_rss_per_connection(wd, sample, compression)
            report.add(
                Figure(
                    f"    info: RSS per idle connection, {sample} on a fresh server, "
                    f"deflate {'on' if compression else 'OFF'}",
                    per,
                    "KiB",
                    "bare hub",
                    hub_per,
                )
            )
        report.details.update(
            {
                "idle": idle,
                "rss_kib": {"start": rss0, "registered": rss1, "connected": rss2},
                "registration_s": t_reg,
                "connect_s": t_conn,
                "latency_alone_ms": a,
                "latency_crowded_ms": c,
                "nofile_limit": limit,
            }
        )
    report.finish(args.out)


async def rss_per_connection(
    wd: Path, stack: contextlib.AsyncExitStack, count: int, compression: bool
) -> float:
    """KiB of VmRSS per connection of ``count`` idle subscribers on a fresh server."""
    name = f"hp-{'deflate' if compression else 'plain'}"
    async with contextlib.AsyncExitStack() as inner:
        hp = await inner.enter_async_context(hotplugd(wd, name))
        api = await inner.enter_async_context(admin_client(hp.http, timeout=120))
        regs = await register(api, count, prefix=name, concurrency=8, nodes=[IDLE_NODE])
        before = await settled_rss(hp.proc.pid)
        farm = await inner.enter_async_context(Farm(wd, f"farm-{name}"))
        command = {"op": "ws", "client": "raw", "tag": "idle", "compression": compression}
        await farm.call({**command, "subs": ws_subs(regs)}, 600)
        await wait_until(lambda: _count_is(api, count), 120, f"{count} connected", interval=0.5)
        after = await settled_rss(hp.proc.pid)
    return (after - before) / count


def gc_summary(report: Report, log: Path, start: float, end: float) -> None:
    """The server's GC pauses (from the probe's log) while the crowded transitions ran."""
    pauses: dict[str, list[float]] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            stamp, generation, ms, _collected = line.split()
            if start <= float(stamp) <= end:
                pauses.setdefault(generation, []).append(float(ms))
    for generation, values in sorted(pauses.items()):
        report.add(
            Figure(
                f"    info: server GC {generation} pauses during the crowded transitions",
                max(values),
                "ms max",
                note=f"{len(values)} logged, {sum(values):.0f} ms in all",
            )
        )
    report.note(f"server GC log (--gc-probe): {log}")


async def hub_rss_per_connection(wd: Path, count: int, compression: bool) -> float:
    """KiB of VmRSS per idle connection of the bare hub (the framework's own floor)."""
    args = [] if compression else ["--no-deflate"]
    name = f"hub-{'deflate' if compression else 'plain'}"
    async with contextlib.AsyncExitStack() as inner:
        hub = await inner.enter_async_context(
            ServerProcess("tests.bench.baseline_hub", wd, name, args)
        )
        api = await inner.enter_async_context(httpx.AsyncClient(base_url=hub.http, timeout=60))
        before = await settled_rss(hub.pid, 1.0)
        farm = await inner.enter_async_context(Farm(wd, f"farm-{name}"))
        subs = [{"url": f"{hub.ws}/ws", "token": "none", "id": f"h{i}"} for i in range(count)]
        command = {"op": "ws", "client": "raw", "tag": "idle", "compression": compression}
        await farm.call({**command, "subs": subs}, 600)
        await wait_until(lambda: _hub_has(api, count), 120, f"{count} hub clients")
        after = await settled_rss(hub.pid)
    return (after - before) / count


async def _hub_has(api: httpx.AsyncClient, count: int) -> bool:
    return bool((await api.get("/count")).json()["connected"] >= count)


async def _count_is(api: object, wanted: int) -> bool:
    return await connected_count(api) >= wanted  # type: ignore[arg-type]


if __name__ == "__main__":
    options = parser(__doc__.splitlines()[0])
    options.add_argument(
        "--gc-probe",
        action="store_true",
        help="log the server's GC pauses (tests/bench/gcprobe on its PYTHONPATH)",
    )
    run(main, options.parse_args())
