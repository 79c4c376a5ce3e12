"""SPEC §2 crash safety under randomized load: SIGKILL at random moments, restart, check.

One seeded run (``HOTPLUG_CRASH_SEED`` overrides the seed; it is printed and
named in every failure) drives a real ``python -m app`` child process:

- several subscribers (random priorities, timeouts and failure policies) are
  real websocket clients that log every notification they receive and come
  back by themselves after the service died; some answer at once, some hold
  their replies (sometimes past their timeout, sometimes forever); on
  ``MEM_GOING_*`` they may veto by errno or ``NOTIFY_BAD``, or stop the walk
  with ``NOTIFY_STOP``. (Completion and cancel events are answered
  ``NOTIFY_OK``/``NOTIFY_DONE`` only: a stop bit there legitimately hides the
  event from lower subscribers, which would blur the exactly-once check.)
- random operations: online/offline with ``wait=false`` (some with an overall
  timeout), probe, remove, simulation flags, abort;
- the service is killed with SIGKILL at a random moment (after the N-th
  notification received, a random short delay after the N-th request, or
  during recovery itself) and restarted on the same data directory and port.

After each kill the database left behind passes an integrity check (SQLite:
``PRAGMA integrity_check`` on the file opened read-only; PostgreSQL: amcheck
on the schema's heaps and B-tree indexes), and its rows agree with their JSON.
After each recovery (``/readyz`` 200): every transition in history has a
final outcome and every 202-accepted one is there; no block is
``going-offline`` or names a transition; every subscriber that received a
``MEM_GOING_X`` received exactly one ``MEM_X`` or ``MEM_CANCEL_X`` for it (a
resend of the same id counts once) and the right one for the outcome; the
blocks equal the layout + probes/removes/flags (tracked by the test) + the
completed transitions of the history replayed in order. Violations are
collected; the test fails at the end with the full list, so one run shows
every kind of violation, not only the first.

A second run, ``acknowledged_run``, aims at concurrency instead: many
concurrent PATCHes and transitions, SIGKILL, restart: nothing answered 200 may
be lost, and the blocks must match the history.

``HOTPLUG_SOAK=1``: 100 crash cycles per backend (default 20 on SQLite, 8 on
PostgreSQL). The timing of a run depends on the machine, so a seed reproduces
the same choices, not necessarily the same interleaving.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.hardening import (
    JSON,
    Behaviour,
    Decision,
    LoggingSubscriber,
    Received,
    all_transitions,
    ensure_amcheck,
    postgres_integrity,
    sqlite_integrity,
)
from tests.support.hotplug import ADMIN_TOKEN
from tests.support.process import HotplugProcess, free_port
from tests.support.server import seconds

SOAK = os.environ.get("HOTPLUG_SOAK") == "1"
SQLITE_CYCLES = 100 if SOAK else 20
POSTGRES_CYCLES = 100 if SOAK else 8
GRACE_MS = 3000
SUBSCRIBERS = 5
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/test"

FINAL = {"completed", "cancelled", "failed", "aborted"}
ENDINGS = {
    "MEM_GOING_ONLINE": ("MEM_ONLINE", "MEM_CANCEL_ONLINE"),
    "MEM_GOING_OFFLINE": ("MEM_OFFLINE", "MEM_CANCEL_OFFLINE"),
}
COMPARED = ("node", "state", "zone", "isolation_fails", "unmovable_pages", "migration_ms")
VETO_ERRNOS = (-16, -12, -11, -22)  # EBUSY, ENOMEM, EAGAIN, EINVAL


def seed_of_run() -> int:
    """The run's seed: ``HOTPLUG_CRASH_SEED`` or a fresh random one."""
    given = os.environ.get("HOTPLUG_CRASH_SEED")
    return int(given) if given else secrets.randbits(32)


def behaviour(rng: random.Random, manual: bool, timeout_ms: int) -> Behaviour:
    """Random replies: vetoes and stops only on MEM_GOING_*; manual ones hold their replies."""

    def decide(frame: JSON) -> Decision:
        if frame["action"].startswith("MEM_GOING_"):
            roll = rng.random()
            if roll < 0.80:
                fields: JSON = {"result": "NOTIFY_OK"}
            elif roll < 0.85:
                fields = {"result": "NOTIFY_DONE"}
            elif roll < 0.90:
                fields = {"result": "NOTIFY_STOP"}
            elif roll < 0.94:
                fields = {"result": "NOTIFY_BAD", "message": "chaos says no"}
            else:
                fields = {"result": "NOTIFY_BAD", "errno": rng.choice(VETO_ERRNOS)}
        else:
            fields = {"result": rng.choice(("NOTIFY_OK", "NOTIFY_DONE"))}
        if not manual:
            return rng.uniform(0, 0.025), fields
        roll = rng.random()
        if roll < 0.03:
            return None  # never answered: the service times it out
        if roll < 0.13:
            return rng.uniform(0.2, 0.9) * timeout_ms / 1000, fields  # held long
        return rng.uniform(0.01, 0.12), fields

    return decide


class Tally:
    """A counter that can be waited on (bounded)."""

    def __init__(self) -> None:
        self.value = 0
        self._changed = asyncio.Event()

    def bump(self, _item: object = None) -> None:
        self.value += 1
        self._changed.set()

    async def reach(self, target: int, deadline: float) -> bool:
        """Wait until ``value >= target`` or the monotonic ``deadline``; whether it got there."""
        while self.value < target:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True


@dataclass
class Op:
    """One operation of the random sequence (what the model needs to resolve it)."""

    kind: str
    block: int = -1
    node: int = 0
    count: int = 0
    first: int = 0
    flags: JSON = field(default_factory=dict)
    previous: JSON = field(default_factory=dict)


class CrashRun:
    """The randomized crash run, its model of the machine and the violations it found."""

    def __init__(
        self,
        workdir: Path,
        seed: int,
        cycles: int,
        database_url: str | None = None,
        integrity: Callable[[], Any] | None = None,
    ) -> None:
        self.workdir = workdir
        self.seed = seed
        self.cycles = cycles
        self.rng = random.Random(seed)
        self.port = free_port()
        self.data = workdir / "data"
        self.env = {
            "HOTPLUG_ADMIN_TOKEN": ADMIN_TOKEN,
            "HOTPLUG_RECOVERY_GRACE_MS": str(GRACE_MS),
            "HOTPLUG_LOG_LEVEL": "warning",
        }
        if database_url is not None:
            self.env["HOTPLUG_DATABASE_URL"] = database_url
        self.integrity = integrity
        self.epoch = 0
        self.proc: HotplugProcess | None = None
        self.client: httpx.AsyncClient | None = None
        self.subs: list[LoggingSubscriber] = []
        self.notifications = Tally()
        self.requests = Tally()
        # the model: blocks as first seen (layout or probe), flags, removals
        self.base: dict[int, JSON] = {}
        self.removed: set[int] = set()
        self.hint: dict[int, str] = {}  # believed state, to pick useful operations
        self.in_flight: Op | None = None
        self.accepted: dict[str, int] = {}  # 202-accepted transition id -> epoch
        self.cycle_offlines: list[str] = []
        self.violations: list[str] = []
        self._reported: set[Any] = set()
        self.stats: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()  # violations by kind

    # -- the service ------------------------------------------------------

    async def start(self) -> None:
        """Start a new service process on the same port and data directory."""
        self.epoch += 1
        self.proc = HotplugProcess(
            self.workdir,
            data_dir=self.data,
            port=self.port,
            env=self.env,
            name=f"epoch{self.epoch:03d}",
        )
        self.proc.start()
        await self.proc.wait_live(timeout=30)
        if self.client is not None:
            await self.client.aclose()
        self.client = httpx.AsyncClient(
            base_url=self.proc.http,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=seconds(15),
        )

    async def kill(self) -> None:
        """SIGKILL the service, then check the database it left."""
        assert self.proc is not None
        await self.proc.kill()
        self.stats["kills"] += 1
        if self.integrity is not None:
            for problem in await self.integrity():
                self.violate("integrity", f"after kill {self.stats['kills']}: {problem}")

    async def ready(self) -> None:
        """Wait for recovery to end, then for every subscriber to be back."""
        assert self.proc is not None
        await self.proc.wait_ready(timeout=60)
        await asyncio.gather(*(sub.wait_connected(timeout=20) for sub in self.subs))

    # -- the run ----------------------------------------------------------

    async def run(self) -> None:
        """Set up, then kill and restart ``cycles`` times, checking after each recovery."""
        await self.start()
        await self.ready()
        await self.register_subscribers()
        for block in await self.blocks():
            self.base[block["id"]] = block
            self.hint[block["id"]] = block["state"]
        started = time.monotonic()
        for cycle in range(1, self.cycles + 1):
            await self.cycle(cycle)
        self.stats["seconds"] = round(time.monotonic() - started)

    async def register_subscribers(self) -> None:
        """Register and connect the random subscribers."""
        assert self.client is not None
        for i in range(SUBSCRIBERS):
            manual = i >= SUBSCRIBERS - 2
            timeout_ms = self.rng.randint(600, 1200)
            body = {
                "name": f"{'manual' if manual else 'auto'}-{i}",
                "priority": self.rng.randint(-3, 3),
                "timeout_ms": timeout_ms,
                "failure_policy": self.rng.choice(("fail", "ignore")),
            }
            if self.rng.random() < 0.35:  # some listen to a few nodes: walks can be empty
                body["nodes"] = sorted(self.rng.sample(range(7), self.rng.randint(2, 5)))
            response = await self.client.post("/api/v1/subscribers", json=body)
            assert response.status_code == 201, response.text
            sub_rng = random.Random(self.rng.getrandbits(64))
            sub = LoggingSubscriber(
                response.json(),
                behaviour(sub_rng, manual, timeout_ms),
                epoch=lambda: self.epoch,
                on_receive=self.notifications.bump,
            )
            self.subs.append(sub)
            sub.start()
        await asyncio.gather(*(sub.wait_connected() for sub in self.subs))

    async def cycle(self, cycle: int) -> None:
        """Operations, a SIGKILL at a random moment, restart, recovery, checks."""
        self.cycle_offlines = []
        began = time.monotonic()
        ops = asyncio.create_task(self.operations(self.rng.randint(2, 10)))
        try:
            await self.kill_at_random_moment(ops)
        finally:
            ops.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(ops, seconds(10))
        killed = time.monotonic()
        await self.start()
        if self.rng.random() < 0.3 and await self.kill_during_recovery():
            await self.start()
        live = time.monotonic()
        await self.ready()
        recovered = time.monotonic()
        await self.resolve_in_flight()
        await self.check(cycle)
        print(
            f"cycle {cycle}: epoch {self.epoch}, run+kill {killed - began:.1f}s,"
            f" restart {live - killed:.1f}s, recovery {recovered - live:.1f}s,"
            f" check {time.monotonic() - recovered:.1f}s; {self.stats['transitions']} transitions,"
            f" {len(self.violations)} violations",
            flush=True,
        )

    async def kill_at_random_moment(self, ops: asyncio.Task[None]) -> None:
        """SIGKILL after the N-th notification, or a short random delay after the N-th request.

        When the operations end before that moment comes, the kill lands a
        random short delay after the last one (the engine may still be busy).
        """
        deadline = time.monotonic() + seconds(5)
        if self.rng.random() < 0.55:
            target = self.notifications.value + self.rng.randint(1, 40)
            moment: Any = self.notifications.reach(target, deadline)
            self.stats["kill_after_notification"] += 1
        else:
            moment = self.requests.reach(self.requests.value + self.rng.randint(1, 10), deadline)
            self.stats["kill_after_request"] += 1
        waiting = asyncio.ensure_future(moment)
        await asyncio.wait({waiting, ops}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        # the random moment itself (not a readiness wait)
        await asyncio.sleep(self.rng.uniform(0, 0.6))
        await self.kill()

    async def kill_during_recovery(self) -> bool:
        """SIGKILL the restarted service during its recovery walk, if it has one; whether it did."""
        assert self.proc is not None
        assert self.client is not None
        first = asyncio.ensure_future(
            self.notifications.reach(self.notifications.value + 1, time.monotonic() + seconds(30))
        )
        ready = asyncio.ensure_future(self.proc.wait_ready(timeout=30))
        done, pending = await asyncio.wait({first, ready}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if first not in done or not first.result():
            ready.result()  # re-raise a start-up failure
            return False  # nothing to recover: ready without a notification
        await asyncio.sleep(self.rng.uniform(0, 0.3))  # the random moment, not a readiness wait
        with contextlib.suppress(httpx.TransportError):
            if (await self.client.get("/readyz")).status_code == 503:
                self.stats["kill_during_recovery"] += 1
        await self.kill()
        return True

    # -- random operations ------------------------------------------------

    async def operations(self, count: int) -> None:
        """``count`` random operations, one at a time, with small random gaps."""
        for _ in range(count):
            await asyncio.sleep(self.rng.uniform(0, 0.15))  # pacing between operations
            op = self.next_op()
            if op is None:
                continue
            self.in_flight = op
            self.requests.bump()
            try:
                await self.perform(op)
            except httpx.TransportError:
                return  # the service died: the operation's fate is resolved after restart
            self.in_flight = None

    def existing(self) -> list[int]:
        """Block ids the model knows to exist."""
        return sorted(set(self.base) - self.removed)

    def next_op(self) -> Op | None:
        """Pick an operation that is likely (not certain) to be meaningful now."""
        kind = self.rng.choices(
            ("online", "offline", "probe", "remove", "flags", "abort"),
            weights=(30, 30, 7, 7, 14, 8),
        )[0]
        blocks = self.existing()
        if kind in ("online", "offline"):
            wanted = "offline" if kind == "online" else "online"
            fitting = [b for b in blocks if self.hint.get(b) == wanted]
            pool = fitting if fitting and self.rng.random() < 0.9 else blocks
            return Op(kind, block=self.rng.choice(pool))
        if kind == "probe":
            node = self.rng.choice((1, 2, 3, self.rng.randint(4, 6)))
            return Op(kind, node=node, count=self.rng.randint(1, 2), first=max(self.base) + 1)
        if kind == "remove":
            # never the highest id: a probe never reuses an id, so replay is per block
            highest = max(blocks)
            fitting = [b for b in blocks if self.hint.get(b) == "offline" and b < highest]
            return Op(kind, block=self.rng.choice(fitting)) if fitting else None
        if kind == "flags":
            block = self.rng.choice(blocks)
            flags = {
                "isolation_fails": self.rng.random() < 0.12,
                "unmovable_pages": self.rng.random() < 0.15,
                "migration_ms": self.rng.choice((0, 0, 0, 40, 150, 300)),
            }
            chosen = dict(self.rng.sample(sorted(flags.items()), self.rng.randint(1, 3)))
            previous = {k: self.base[block][k] for k in chosen}
            return Op(kind, block=block, flags=chosen, previous=previous)
        if not self.cycle_offlines:
            return None
        return Op("abort", flags={"id": self.rng.choice(self.cycle_offlines)})

    async def perform(self, op: Op) -> None:
        """Send one operation and fold a definite answer into the model."""
        assert self.client is not None
        if op.kind in ("online", "offline"):
            body: JSON = {}
            if op.kind == "online":
                body["online_type"] = self.rng.choice(("online", "online_kernel", "online_movable"))
            if self.rng.random() < 0.1:
                body["timeout_ms"] = self.rng.randint(200, 1500)
            response = await self.client.post(
                f"/api/v1/memory/blocks/{op.block}/{op.kind}", params={"wait": "false"}, json=body
            )
            self.expect(response, op, 202)
            if response.status_code == 202:
                transition = response.json()["id"]
                self.accepted[transition] = self.epoch
                self.hint[op.block] = op.kind
                if op.kind == "offline":
                    self.cycle_offlines.append(transition)
        elif op.kind == "probe":
            response = await self.client.post(
                "/api/v1/memory/probe", json={"node": op.node, "count": op.count}
            )
            self.expect(response, op, 201)
            for block in response.json()["blocks"]:
                self.adopt(block)
        elif op.kind == "remove":
            response = await self.client.delete(f"/api/v1/memory/blocks/{op.block}")
            self.expect(response, op, 200, 409)
            if response.status_code == 200:
                self.removed.add(op.block)
        elif op.kind == "flags":
            response = await self.client.patch(f"/api/v1/memory/blocks/{op.block}", json=op.flags)
            self.expect(response, op, 200)
            self.base[op.block].update(op.flags)
        else:
            response = await self.client.post(f"/api/v1/transitions/{op.flags['id']}/abort")
            self.expect(response, op, 200, 409)
        self.stats[f"op_{op.kind}"] += 1

    def expect(self, response: httpx.Response, op: Op, *statuses: int) -> None:
        """A status the operation cannot legitimately get is a violation."""
        if response.status_code not in statuses:
            self.violate("http", f"{op.kind} {op}: {response.status_code} {response.text[:300]}")

    def adopt(self, block: JSON) -> None:
        """A block the service says it just created."""
        self.base[block["id"]] = block
        self.hint[block["id"]] = block["state"]

    async def resolve_in_flight(self) -> None:
        """An operation cut short by the kill may or may not have happened: look which."""
        op, self.in_flight = self.in_flight, None
        if op is None or op.kind in ("online", "offline", "abort"):
            return  # transitions are judged from history
        self.stats["uncertain_ops"] += 1
        observed = {b["id"]: b for b in await self.blocks()}
        if op.kind == "probe":
            ids = range(op.first, op.first + op.count)
            present = [i in observed for i in ids]
            if all(present):
                for i in ids:
                    self.adopt(observed[i])
            elif any(present):
                self.violate("probe", f"probe {op} is half applied: {present}")
        elif op.kind == "remove":
            if op.block not in observed:
                self.removed.add(op.block)
        else:
            now = {k: observed[op.block][k] for k in op.flags}
            if now == op.flags:
                self.base[op.block].update(op.flags)
            elif now != op.previous:
                self.violate("flags", f"flags {op} are neither old nor new: {now}")

    # -- the invariants ---------------------------------------------------

    async def blocks(self) -> list[JSON]:
        """The service's blocks."""
        assert self.client is not None
        response = await self.client.get("/api/v1/memory/blocks")
        assert response.status_code == 200, response.text
        blocks: list[JSON] = response.json()
        return blocks

    def violate(self, kind: str, detail: str, key: Any = None) -> None:
        """Record a violation (once per key)."""
        key = key if key is not None else (kind, detail)
        if key in self._reported:
            return
        self._reported.add(key)
        self.violations.append(f"[epoch {self.epoch}] {kind}: {detail}")
        self.kinds[kind] += 1

    async def check(self, cycle: int) -> None:
        """Every invariant, after a recovery and before any new request."""
        assert self.client is not None
        history = await all_transitions(self.client)
        blocks = await self.blocks()
        self.check_history(history)
        self.check_blocks(blocks)
        self.check_notifications(history)
        self.check_replay(history, blocks)
        self.stats["cycles"] = cycle
        self.stats["transitions"] = len(history)
        for block in blocks:
            self.hint[block["id"]] = block["state"]

    def check_history(self, history: list[JSON]) -> None:
        """Every transition has a final outcome; every accepted request is in history."""
        ids = {r["id"] for r in history}
        for record in history:
            if record["outcome"] not in FINAL:
                self.violate("unfinished", f"{record['id']} is {record['outcome']}", record["id"])
        for transition, epoch in self.accepted.items():
            if transition not in ids:
                self.violate("lost", f"{transition} (accepted in epoch {epoch}) is not in history")

    def check_blocks(self, blocks: list[JSON]) -> None:
        """No block is going-offline or names a transition."""
        for block in blocks:
            if block["state"] == "going-offline" or block["transition"] is not None:
                self.violate(
                    "stuck",
                    f"block {block['id']} state={block['state']} transition={block['transition']}",
                    ("stuck", block["id"], block["transition"]),
                )

    def check_notifications(self, history: list[JSON]) -> None:
        """Who got MEM_GOING_X got exactly one MEM_X or MEM_CANCEL_X (a resend counts once)."""
        outcomes = {r["id"]: r["outcome"] for r in history}
        for sub in self.subs:
            by_transition: dict[str, list[Received]] = {}
            for item in sub.received:
                by_transition.setdefault(item.transition, []).append(item)
            for transition, items in by_transition.items():
                goings = {i.action for i in items if i.action in ENDINGS}
                if not goings:
                    continue
                done, cancel = ENDINGS[goings.pop()]
                endings = {i.id: i for i in items if i.action in (done, cancel)}
                outcome = outcomes.get(transition)
                key = ("once", sub.id, transition, len(endings))
                summary = ", ".join(f"{i.action}#{i.id}@epoch{i.epoch}" for i in endings.values())
                where = f"subscriber {sub.info['name']} ({sub.id}), {transition} ({outcome})"
                if len(endings) != 1:
                    crossed = len({i.epoch for i in endings.values()}) > 1
                    why = " (redelivered with a new id after a restart)" if crossed else ""
                    self.violate(
                        "exactly-once",
                        f"{where}: {len(endings)} completions/cancels [{summary}]{why}",
                        key,
                    )
                    self.stats["exactly_once_violations"] += 1
                    continue
                (ending,) = endings.values()
                expected = done if outcome == "completed" else cancel
                if outcome in FINAL and ending.action != expected:
                    self.violate("ending", f"{where}: got {ending.action}", key)

    def check_replay(self, history: list[JSON], blocks: list[JSON]) -> None:
        """The blocks equal the layout + probes/removes/flags + completed transitions replayed."""
        replay = {i: dict(self.base[i]) for i in self.base}
        for record in history:
            if record["outcome"] != "completed":
                continue
            block = replay.get(record["block"])
            if block is None:
                self.violate(
                    "replay", f"{record['id']} completed on unknown block {record['block']}"
                )
                continue
            before = "offline" if record["operation"] == "online" else "online"
            if block["state"] != before:
                self.violate(
                    "replay",
                    f"{record['id']} {record['operation']} completed on block {record['block']}"
                    f" that the replay has {block['state']}",
                    ("replay-order", record["id"]),
                )
            block["state"] = record["operation"]
            block["zone"] = record["zone"] if record["operation"] == "online" else None
        expected = {i: {k: replay[i][k] for k in COMPARED} for i in replay if i not in self.removed}
        observed = {b["id"]: {k: b[k] for k in COMPARED} for b in blocks}
        for i in sorted(set(expected) | set(observed)):
            if expected.get(i) != observed.get(i):
                self.violate(
                    "state",
                    f"block {i}: replay {expected.get(i)} but service {observed.get(i)}",
                    ("state", i, str(expected.get(i)), str(observed.get(i))),
                )

    def figures(self, history_outcomes: Counter[str]) -> str:
        """A one-line summary for the log and the failure message."""
        return (
            f"seed={self.seed} cycles={self.stats['cycles']} kills={self.stats['kills']} "
            f"(during recovery {self.stats['kill_during_recovery']}) "
            f"transitions={self.stats['transitions']} {dict(history_outcomes)} "
            f"recovered: {self.stats['recovered_cancelled']} cancelled"
            f" + {self.stats['aborted_queued']} queued aborted;"
            f" {self.stats['spanning']} transitions notified across a restart,"
            f" {self.stats['resent_ids']} notifications resent after a restart with their id;"
            f" accepted={len(self.accepted)} "
            f"notifications={self.notifications.value} requests={self.requests.value} "
            f"uncertain_ops={self.stats['uncertain_ops']} violations={len(self.violations)}"
            f" {dict(self.kinds)} "
            f"in {self.stats['seconds']}s"
        )

    async def finish(self) -> str:
        """Count the final figures; the summary line."""
        assert self.client is not None
        history = await all_transitions(self.client)
        outcomes = Counter(r["outcome"] for r in history)
        aborted = [r for r in history if r["outcome"] == "aborted"]
        self.stats["recovered_cancelled"] = sum(1 for r in aborted if r["walks"])
        self.stats["aborted_queued"] = sum(1 for r in aborted if not r["walks"])
        epochs: dict[str, set[int]] = {}
        seen: dict[tuple[str, int], set[int]] = {}
        for sub in self.subs:
            for item in sub.received:
                epochs.setdefault(item.transition, set()).add(item.epoch)
                seen.setdefault((sub.id, item.id), set()).add(item.epoch)
        self.stats["spanning"] = sum(1 for e in epochs.values() if len(e) > 1)
        self.stats["resent_ids"] = sum(1 for e in seen.values() if len(e) > 1)
        return self.figures(outcomes)

    async def close(self) -> None:
        """Stop the subscribers and the service, whatever happened."""
        for sub in self.subs:
            with contextlib.suppress(Exception):
                await sub.stop()
        if self.client is not None:
            await self.client.aclose()
        if self.proc is not None:
            await self.proc.kill()


async def crash_run(
    workdir: Path,
    cycles: int,
    database_url: str | None = None,
    integrity: Callable[[], Any] | None = None,
) -> None:
    """Run the randomized crash test; fail with the seed and every violation found."""
    seed = seed_of_run()
    print(f"crash consistency: HOTPLUG_CRASH_SEED={seed}", flush=True)
    run = CrashRun(workdir, seed, cycles, database_url, integrity)
    try:
        await run.run()
        figures = await run.finish()
    except AssertionError as exc:
        found = "\n".join(run.violations[:40])
        raise AssertionError(
            f"HOTPLUG_CRASH_SEED={seed}: the run stopped in epoch {run.epoch}: {exc}\n"
            f"violations found before: {len(run.violations)}\n{found}"
        ) from exc
    finally:
        await run.close()
    print(f"crash consistency: {figures}", flush=True)
    assert not run.violations, (
        f"HOTPLUG_CRASH_SEED={seed}: {len(run.violations)} violations ({figures}):\n"
        + "\n".join(run.violations[:60])
    )


async def test_crash_consistency_sqlite(tmp_path: Path) -> None:
    """Random SIGKILLs on SQLite: final outcomes, no stuck block, exactly-once endings, replay."""
    database = tmp_path / "data" / "hotplugd.sqlite3"

    async def integrity() -> list[str]:
        return sqlite_integrity(database)

    await crash_run(tmp_path, SQLITE_CYCLES, integrity=integrity)


@contextlib.asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A fresh schema name on the test server, dropped afterwards."""
    schema = f"hotplug_crash_{secrets.token_hex(6)}"
    try:
        admin = await asyncio.wait_for(asyncpg.connect(PG_SERVER), seconds(5))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_SERVER}: {exc}")
    try:
        yield schema
    finally:
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


@pytest.mark.postgres
async def test_crash_consistency_postgres(tmp_path: Path) -> None:
    """Random SIGKILLs on PostgreSQL: the same invariants, amcheck on the schema after each kill."""
    async with postgres_schema() as schema:
        checked = False

        async def integrity() -> list[str]:
            nonlocal checked
            if not checked:  # the schema exists once the first process migrated it
                checked = True
                if await ensure_amcheck(PG_SERVER, schema) is None:
                    print("amcheck is not available: row checks only", flush=True)
            return await postgres_integrity(PG_SERVER, schema)

        await crash_run(
            tmp_path, POSTGRES_CYCLES, f"{PG_SERVER}?schema={schema}", integrity=integrity
        )


# -- acknowledged changes under concurrent writers ------------------------------

BURST_ROUNDS = 50 if SOAK else 16
FLAG_WRITERS = 20  # blocks 16..35 get strictly increasing migration_ms values
EXTRA_BLOCKS = 8  # probed on node 3 at the start: blocks 28..35
TOGGLED = (12, 13, 14, 15)  # blocks onlined/offlined meanwhile


async def acknowledged_run(workdir: Path, rounds: int, database_url: str | None = None) -> None:
    """Concurrent flag writes and transitions, SIGKILL at a random moment, restart, compare.

    Every PATCH that was answered 200 must survive the crash: a block's
    ``migration_ms`` after the restart is at least the last value
    acknowledged for it (and at most the last one sent). Blocks that were
    toggled must be in the state the completed transitions of the history give.
    """
    seed = seed_of_run()
    print(f"acknowledged changes: HOTPLUG_CRASH_SEED={seed}", flush=True)
    rng = random.Random(seed)
    port = free_port()
    settings = {"HOTPLUG_ADMIN_TOKEN": ADMIN_TOKEN, "HOTPLUG_LOG_LEVEL": "warning"}
    if database_url is not None:
        settings["HOTPLUG_DATABASE_URL"] = database_url
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    writers = range(16, 16 + FLAG_WRITERS)
    sent = dict.fromkeys(writers, 0)
    acked = dict.fromkeys(writers, 0)
    violations: list[str] = []
    initial: dict[int, str] = {}
    writes = 0

    async def write_flags(client: httpx.AsyncClient, block: int, stop: asyncio.Event) -> None:
        nonlocal writes
        for _ in range(100_000):  # bounded; the kill ends it long before
            if stop.is_set():
                return
            sent[block] += 1
            value = sent[block]
            response = await client.patch(
                f"/api/v1/memory/blocks/{block}", json={"migration_ms": value}
            )
            if response.status_code != 200:
                violations.append(f"PATCH block {block}: {response.status_code} {response.text}")
                return
            acked[block] = max(acked[block], value)
            writes += 1

    async def toggle_block(client: httpx.AsyncClient, block: int, stop: asyncio.Event) -> None:
        for _ in range(100_000):
            if stop.is_set():
                return
            state = (await client.get(f"/api/v1/memory/blocks/{block}")).json()["state"]
            operation = "offline" if state == "online" else "online"
            response = await client.post(f"/api/v1/memory/blocks/{block}/{operation}", json={})
            if response.status_code not in (200, 409):
                violations.append(f"{operation} {block}: {response.status_code} {response.text}")
                return

    async def check(client: httpx.AsyncClient, round_: int) -> None:
        blocks = {b["id"]: b for b in (await client.get("/api/v1/memory/blocks")).json()}
        for block in writers:
            now = blocks[block]["migration_ms"]
            if not acked[block] <= now <= sent[block]:
                violations.append(
                    f"after kill {round_}: block {block} migration_ms={now}, but {acked[block]}"
                    f" was acknowledged (200) and {sent[block]} was the last value sent"
                )
        history = await all_transitions(client)
        outcomes = {r["id"]: r["outcome"] for r in history}
        for block in blocks.values():
            if block["state"] == "going-offline" or block["transition"] is not None:
                latest = [
                    f"{r['id']} {r['operation']} {r['outcome']}"
                    f" {r['errno_name'] or ''} {[w['action'] for w in r['walks']]}"
                    for r in history
                    if r["block"] == block["id"]
                ][-3:]
                violations.append(
                    f"after kill {round_}: block {block['id']} is stuck: state={block['state']}"
                    f" transition={block['transition']}"
                    f" ({outcomes.get(block['transition'], 'not in history')});"
                    f" its latest transitions: {latest}"
                )
        replay = dict(initial)
        for record in history:
            if record["outcome"] not in FINAL:
                violations.append(f"after kill {round_}: {record['id']} is {record['outcome']}")
            if record["outcome"] == "completed":
                replay[record["block"]] = record["operation"]
        for block in TOGGLED:
            if blocks[block]["state"] != replay[block]:
                violations.append(
                    f"after kill {round_}: block {block} is {blocks[block]['state']} but the"
                    f" completed transitions of the history leave it {replay[block]}"
                )

    proc: HotplugProcess | None = None
    try:
        for round_ in range(rounds + 1):
            proc = HotplugProcess(
                workdir, data_dir=workdir / "data", port=port, env=settings, name=f"burst{round_}"
            )
            proc.start()
            await proc.wait_live(timeout=30)
            await proc.wait_ready(timeout=30)
            async with httpx.AsyncClient(
                base_url=proc.http, headers=headers, timeout=seconds(15)
            ) as client:
                if round_ == 0:
                    probe = await client.post(
                        "/api/v1/memory/probe", json={"node": 3, "count": EXTRA_BLOCKS}
                    )
                    assert probe.status_code == 201, probe.text
                    blocks = (await client.get("/api/v1/memory/blocks")).json()
                    initial = {b["id"]: b["state"] for b in blocks}
                else:
                    await check(client, round_)
                if round_ == rounds:
                    break
                stop = asyncio.Event()
                tasks = [asyncio.create_task(write_flags(client, b, stop)) for b in writers] + [
                    asyncio.create_task(toggle_block(client, b, stop)) for b in TOGGLED
                ]
                # the random moment of the kill (not a readiness wait)
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                await proc.kill()
                stop.set()
                results = await asyncio.gather(*tasks, return_exceptions=True)
                for result in results:
                    if isinstance(result, BaseException) and not isinstance(
                        result, httpx.TransportError
                    ):
                        raise result
    finally:
        if proc is not None:
            await proc.kill()
    kinds = Counter(_kind_of(v) for v in violations)
    figures = (
        f"seed={seed} kills={rounds} acknowledged flag writes={writes},"
        f" violations={len(violations)} {dict(kinds)}"
    )
    print(f"acknowledged changes: {figures}", flush=True)
    assert not violations, (
        f"HOTPLUG_CRASH_SEED={seed}: {len(violations)} violations ({figures}):\n"
        + "\n".join(violations[:40])
    )


def _kind_of(violation: str) -> str:
    """The kind of an ``acknowledged_run`` violation, for the summary."""
    for marker, kind in (
        ("migration_ms=", "acknowledged write lost"),
        ("is stuck", "stuck block"),
        ("completed transitions of the history", "state differs from history"),
    ):
        if marker in violation:
            return kind
    return "other"


async def test_acknowledged_changes_survive_sigkill_sqlite(tmp_path: Path) -> None:
    """Concurrent PATCHes and transitions on SQLite: no acknowledged change is lost to SIGKILL."""
    await acknowledged_run(tmp_path, BURST_ROUNDS)


@pytest.mark.postgres
async def test_acknowledged_changes_survive_sigkill_postgres(tmp_path: Path) -> None:
    """The same on PostgreSQL (its pool has several connections)."""
    async with postgres_schema() as schema:
        await acknowledged_run(tmp_path, BURST_ROUNDS, f"{PG_SERVER}?schema={schema}")
