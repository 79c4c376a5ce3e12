"""Benchmarks (1) and (5) of issue 7: per-hop latency, and the cost of 100 observers.

(1) 10 subscribers answering NOTIFY_OK from a separate farm process, once
with raw ``websockets`` clients and once with the ``clients/`` library;
hotplugd's per-hop p50/p99 against the bare chain hub and the NATS
baseline, all driven by the same farm process in interleaved rounds.

(5) The same chain with 100 ``/api/v1/events`` observers connected (from a
second process): slowdown of hotplugd's per hop (measured before, with, and
after the observers; the bare hub runs alongside as a drift check).

A hop is the time between two consecutive subscribers of one walk receiving
their notification (see ``farm.py``); each transition is 2 walks
(online: GOING_ONLINE + ONLINE; offline: GOING_OFFLINE + OFFLINE).

    .venv/bin/python -m tests.bench.bench_hop [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.bench.common import (
    ADMIN_TOKEN,
    NATS_URL,
    Event,
    Farm,
    Figure,
    Profiler,
    Report,
    ServerProcess,
    Toggle,
    admin_client,
    ensure_nats,
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

SUBSCRIBERS = 10
OBSERVERS = 100
Trigger = Callable[[], Any]


async def measure(
    farm: Farm,
    systems: dict[str, Trigger],
    rounds: int,
    per_round: int,
    warmup: int = 5,
    budget_s: float = 60,
    pids: dict[str, int] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Interleaved rounds; per system the hop gaps (µs), trigger latencies (ms) and,
    for the systems in ``pids``, the server process's CPU time per hop (µs)."""
    out: dict[str, dict[str, list[float]]] = {
        name: {"hops_us": [], "latency_ms": [], "cpu_us_per_hop": []} for name in systems
    }
    for trigger in systems.values():
        await timed(trigger, warmup, budget_s)
    names = list(systems)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            await farm.call({"op": "reset"})
            pid = (pids or {}).get(name)
            cpu_before = process_cpu_s(pid) if pid else 0.0
            out[name]["latency_ms"] += await timed(systems[name], per_round, budget_s)
            cpu = process_cpu_s(pid) - cpu_before if pid else 0.0
            collected = await farm.call({"op": "collect"}, timeout=120)
            out[name]["hops_us"] += collected["intervals_us"]
            hops = per_round * 2 * SUBSCRIBERS
            if pid:
                out[name]["cpu_us_per_hop"].append(cpu / hops * 1e6)
    return out


def process_cpu_s(pid: int) -> float:
    """CPU seconds all threads of a process ran so far (Linux schedstat: ns, not ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def hop_figures(
    report: Report, label: str, results: dict[str, dict[str, list[float]]], has_nats: bool
) -> None:
    hp = summarize(results["hotplugd"]["hops_us"])
    hub = summarize(results["bare hub"]["hops_us"])
    report.details[f"hops {label}"] = {
        name: {
            "hops_us": summarize(r["hops_us"]),
            "transition_latency_ms": summarize(r["latency_ms"]),
        }
        for name, r in results.items()
    }
    for q in ("p50", "p99"):
        report.add(
            Figure(
                f"(1) per hop {q}, {label}, vs bare hub",
                hp[q],
                "µs",
                "bare hub",
                hub[q],
                "<= 1.1x",
                1.1,
            )
        )
        if has_nats:
            nats = summarize(results["NATS"]["hops_us"])
            report.add(
                Figure(
                    f"(1) per hop {q}, {label}, vs NATS",
                    hp[q],
                    "µs",
                    "NATS",
                    nats[q],
                    "<= 0.5x",
                    0.5,
                )
            )
    cpu = {name: r["cpu_us_per_hop"] for name, r in results.items() if r["cpu_us_per_hop"]}
    if "hotplugd" in cpu and "bare hub" in cpu:
        mine, theirs = statistics.median(cpu["hotplugd"]), statistics.median(cpu["bare hub"])
        report.add(
            Figure(
                f"    info: server CPU per hop (all included), {label}, vs bare hub",
                mine,
                "µs",
                "bare hub",
                theirs,
                note="median over rounds; HTTP request, records, storage and events included",
            )
        )
    for name, r in results.items():
        lat = summarize(r["latency_ms"])
        report.add(
            Figure(
                f"    info: {name} transition (2 walks) p50, {label}",
                lat["p50"],
                "ms",
                note="driver-side HTTP latency of one transition/event",
            )
        )


async def main(args: argparse.Namespace) -> None:
    report = Report("bench_hop", args.quick, profiled=False)
    rounds, per_round = (2, 10) if args.quick else (6, 40)
    nats_problem = await ensure_nats()
    if nats_problem:
        report.note(f"NATS baseline skipped: {nats_problem}")
    async with contextlib.AsyncExitStack() as stack:
        wd = await stack.enter_async_context(workdir("hop"))
        hp = await stack.enter_async_context(hotplugd(wd))
        hub = await stack.enter_async_context(
            ServerProcess("tests.bench.baseline_hub", wd, "bare-hub")
        )
        nats_srv = None
        if nats_problem is None:
            nats_srv = await stack.enter_async_context(
                ServerProcess("tests.bench.baseline_nats", wd, "nats-baseline")
            )
        api = await stack.enter_async_context(admin_client(hp.http))
        hub_api = await stack.enter_async_context(httpx.AsyncClient(base_url=hub.http, timeout=60))
        systems: dict[str, Trigger] = {}
        toggle = Toggle(api)
        await toggle.sync()
        systems["hotplugd"] = toggle
        systems["bare hub"] = Event(hub_api)
        nats_api = None
        if nats_srv is not None:
            nats_api = await stack.enter_async_context(
                httpx.AsyncClient(base_url=nats_srv.http, timeout=60)
            )
            systems["NATS"] = Event(nats_api)
        regs = await register(api, SUBSCRIBERS, prefix="hop")
        report.details["setup"] = {
            "subscribers": SUBSCRIBERS,
            "rounds": rounds,
            "transitions_per_round": per_round,
            "hotplugd_storage": "SQLite (default, data dir in a temp dir)",
        }

        for client in ("raw", "lib"):
            async with Farm(wd, f"farm-{client}") as farm:
                await connect_all(farm, client, regs, hub, hub_api, nats_api, True)
                print(f"-- (1) {client} clients: {rounds} rounds x {per_round}", flush=True)
                pids = {"hotplugd": hp.proc.pid, "bare hub": hub.pid}
                results = await measure(farm, systems, rounds, per_round, pids=pids)
                hop_figures(report, f"{client} clients", results, nats_api is not None)
                await server_side(report, api, client, results)
                if client == "raw":
                    await observers_phase(
                        report, wd, farm, hp.ws, systems, results, rounds, per_round
                    )
                    if args.profile:
                        await profile_phase(report, hp.proc.pid, toggle, args.out, args.quick)
                await farm.call({"op": "drop", "tag": "hp"})
                await farm.call({"op": "drop", "tag": "hub"})
                await farm.call({"op": "drop", "tag": "nats"})
                (await hub_api.delete("/clients")).raise_for_status()

        # Informational (full run): the same without permessage-deflate (not offered).
        async with contextlib.AsyncExitStack() as nodeflate:
            if args.quick:
                report.note("--quick: the run without permessage-deflate is skipped")
                await nodeflate.aclose()
                report.finish(args.out)
                return
            farm = await nodeflate.enter_async_context(Farm(wd, "farm-raw-nodeflate"))
            await connect_all(farm, "raw", regs, hub, hub_api, None, False)
            print("-- raw clients without permessage-deflate", flush=True)
            two = {"hotplugd": systems["hotplugd"], "bare hub": systems["bare hub"]}
            results = await measure(farm, two, max(2, rounds // 2), per_round)
            hp_nd = summarize(results["hotplugd"]["hops_us"])
            hub_nd = summarize(results["bare hub"]["hops_us"])
            report.details["hops raw clients, no deflate"] = {
                "hotplugd": hp_nd,
                "bare hub": hub_nd,
            }
            raw = report.details["hops raw clients"]
            report.add(
                Figure(
                    "    info: per hop p50, raw, NO deflate, vs bare hub (no deflate)",
                    hp_nd["p50"],
                    "µs",
                    "bare hub",
                    hub_nd["p50"],
                )
            )
            report.add(
                Figure(
                    "    info: hotplugd per hop p50 no deflate vs with deflate",
                    hp_nd["p50"],
                    "µs",
                    "with deflate",
                    raw["hotplugd"]["hops_us"]["p50"],
                )
            )
    report.finish(args.out)


async def server_side(
    report: Report, api: httpx.AsyncClient, client: str, results: dict[str, Any]
) -> None:
    """hotplugd's own view: each call's latency (send to reply) from the last records.

    A hop seen by the farm = the call's round trip as the engine times it
    + the service's own work between a reply and the next send; so the
    difference of the two p50s approximates the service's work per hop.
    """
    response = await api.get("/api/v1/transitions", params={"limit": 200})
    response.raise_for_status()
    calls = [
        call["latency_ms"] * 1000
        for record in response.json()
        for walk in record["walks"]
        for call in walk["calls"]
        if call["delivery"] == "replied"
    ]
    latency = summarize(calls)
    hop = summarize(results["hotplugd"]["hops_us"])
    report.details[f"server-side call latency, {client} clients"] = latency
    report.add(
        Figure(
            f"    info: hotplugd call latency p50 as the engine times it, {client}",
            latency["p50"],
            "µs",
            "farm hop",
            hop["p50"],
            note="hop - call latency ~ the service's own work per hop",
        )
    )


async def gauge(api: httpx.AsyncClient, name: str, wanted: float) -> bool:
    for line in (await api.get("/metrics")).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1]) == wanted
    return False


async def hub_count(hub_api: httpx.AsyncClient, wanted: int) -> bool:
    return bool((await hub_api.get("/count")).json()["connected"] == wanted)


async def connect_all(
    farm: Farm,
    client: str,
    regs: list[dict[str, Any]],
    hub: ServerProcess,
    hub_api: httpx.AsyncClient,
    nats_api: httpx.AsyncClient | None,
    compression: bool,
) -> None:
    """Connect the farm's subscribers to hotplugd, the bare hub and (if any) NATS."""
    common = {"op": "ws", "client": client, "compression": compression}
    await farm.call({**common, "tag": "hp", "subs": ws_subs(regs)}, timeout=120)
    hub_subs = [
        {"url": f"{hub.ws}/ws", "token": "none", "id": f"hub-{i}"} for i in range(len(regs))
    ]
    await farm.call({**common, "tag": "hub", "subs": hub_subs}, timeout=120)
    await wait_until(lambda: hub_count(hub_api, len(regs)), 30, "hub clients")
    if nats_api is not None:
        subjects = [f"bench.{uuid.uuid4().hex[:8]}.{i}" for i in range(len(regs))]
        await farm.call(
            {"op": "nats", "client": client, "url": NATS_URL, "subjects": subjects, "tag": "nats"},
            timeout=120,
        )
        (await nats_api.put("/chain", json={"subjects": subjects})).raise_for_status()


async def observers_phase(
    report: Report,
    wd: Path,
    farm: Farm,
    hp_ws: str,
    systems: dict[str, Trigger],
    before: dict[str, dict[str, list[float]]],
    rounds: int,
    per_round: int,
) -> None:
    """(5): A (before, from (1)) / B (100 observers connected) / A2 (after)."""
    two = {"hotplugd": systems["hotplugd"], "bare hub": systems["bare hub"]}
    print(f"-- (5) {OBSERVERS} event-stream observers", flush=True)
    async with Farm(wd, "observers") as watchers:
        await watchers.call(
            {
                "op": "observe",
                "url": f"{hp_ws}/api/v1/events",
                "token": ADMIN_TOKEN,
                "count": OBSERVERS,
                "tag": "obs",
            },
            timeout=120,
        )
        frames_before = (await watchers.call({"op": "stats"}))["frames"]
        cpu_before = (await watchers.call({"op": "stats"}))["cpu_s"]
        t0 = time.perf_counter()
        with_obs = await measure(farm, two, rounds, per_round)
        elapsed = time.perf_counter() - t0
        stats = await watchers.call({"op": "stats"})
        frames = stats["frames"] - frames_before
        cpu = stats["cpu_s"] - cpu_before
        await watchers.call({"op": "drop", "tag": "obs"})
    api = getattr(systems["hotplugd"], "client", None)
    if api is not None:
        await wait_until(lambda: gauge(api, "hotplug_event_observers", 0), 60, "observers gone")
    await asyncio.sleep(1)  # let the server finish closing them
    after = await measure(farm, two, rounds, per_round)
    a = [summarize(before["hotplugd"]["hops_us"]), summarize(after["hotplugd"]["hops_us"])]
    b = summarize(with_obs["hotplugd"]["hops_us"])
    hub_a = [summarize(before["bare hub"]["hops_us"]), summarize(after["bare hub"]["hops_us"])]
    hub_b = summarize(with_obs["bare hub"]["hops_us"])
    for q in ("p50", "mean"):
        base = (a[0][q] + a[1][q]) / 2
        report.add(
            Figure(
                f"(5) per hop {q} with {OBSERVERS} observers vs none",
                b[q],
                "µs",
                "no observers",
                base,
                "<= 1.05x",
                1.05,
            )
        )
    drift = hub_b["p50"] / ((hub_a[0]["p50"] + hub_a[1]["p50"]) / 2)
    report.add(
        Figure(
            "    info: bare hub p50 during (5) vs around it (drift check)",
            hub_b["p50"],
            "µs",
            "around",
            (hub_a[0]["p50"] + hub_a[1]["p50"]) / 2,
        )
    )
    report.details["observers"] = {
        "count": OBSERVERS,
        "hotplugd_before": a[0],
        "hotplugd_with": b,
        "hotplugd_after": a[1],
        "hub_before": hub_a[0],
        "hub_with": hub_b,
        "hub_after": hub_a[1],
        "hub_drift_ratio": drift,
        "frames_received": frames,
        "observer_farm_cpu_s": cpu,
        "elapsed_s": elapsed,
        "transition_latency_ms_with": summarize(with_obs["hotplugd"]["latency_ms"]),
    }


async def profile_phase(report: Report, pid: int, toggle: Toggle, out: Path, quick: bool) -> None:
    """py-spy on the hotplugd process while it runs transitions alone (not measured)."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = out / f"profile-hop-{stamp}.txt"
    count = 150 if quick else 1500
    print(f"-- profiling hotplugd with py-spy over {count} transitions -> {path}", flush=True)
    with Profiler(pid, path, rate=997):
        latencies = await timed(toggle, count, 120)
    report.details["profile"] = {
        "file": str(path),
        "transitions": len(latencies),
        "latency_ms": summarize(latencies),
    }
    report.note(f"py-spy profile of hotplugd (10 subs, raw clients): {path}")


if __name__ == "__main__":
    run(main, parser(__doc__.splitlines()[0]).parse_args())
