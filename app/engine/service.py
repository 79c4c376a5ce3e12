"""The engine: one transition at a time, every wait bounded, everything journaled.

``Engine`` owns the memory model, the registry of subscribers, the FIFO queue
of requests and the single worker task that runs them (the kernel's
``mem_hotplug_lock``). It reaches the network only through the ``Delivery``
port, the database only through ``Storage``, dashboards through
``EventPublisher``.

Errors it raises to callers::

    EngineError
    ├── NotFound     unknown block, transition or subscriber
    ├── Conflict     refused by the model (errno) or by the state of a transition
    ├── Invalid      bad input the API could not catch (errno -EINVAL)
    └── Unavailable  the queue is full, or the service is shutting down
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from app.chain.actions import Action
from app.chain.chain import ChainError, Subscription
from app.chain.values import EINTR, EINVAL, EIO, ENODEV, errno_name, result_name
from app.chain.walk import CancelScope, DeliveryKind, Walk
from app.engine.injector import INJECTOR_ID, ErrorInjection
from app.engine.metrics import Metrics
from app.engine.ports import (
    Batch,
    Delivery,
    Disconnected,
    EventPublisher,
    NotConnected,
    Notification,
    Storage,
    StoredState,
)
from app.engine.registry import Registry, subscription_to_json, utcnow
from app.engine.runs import JSON, Run, summary
from app.memory import ops
from app.memory.layout import memory_from_dict, memory_to_dict
from app.memory.model import Block, BlockState, HotplugError, Memory, OnlineType
from app.memory.transition import (
    Finished,
    MigrateStep,
    Operation,
    Outcome,
    Phase,
    Step,
    Transition,
    WalkStep,
)

log = logging.getLogger("hotplugd.engine")

INJECTION_KEY = "notifier_error_inject"


class EngineError(Exception):
    """Base of the engine's refusals."""

    def __init__(self, message: str, errno: int = 0, record: JSON | None = None) -> None:
        super().__init__(message)
        self.errno = errno
        self.record = record


class NotFound(EngineError):
    """Unknown block, transition or subscriber."""


class Conflict(EngineError):
    """Refused because of the current state (errno says why)."""


class Invalid(EngineError):
    """Input the model rejects (-EINVAL)."""


class Unavailable(EngineError):
    """Queue full or shutting down: try again later."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The engine's knobs, taken from ``Settings`` by the composition root."""

    cancel_scope: CancelScope = CancelScope.CHAIN
    max_queue: int = 256
    recovery_grace_ms: int = 10_000
    shutdown_grace_s: float = 10.0
    history_keep: int = 100_000


class Engine:
    """The memory hotplug notifier chain, run one transition at a time."""

    def __init__(
        self,
        memory: Memory,
        storage: Storage,
        delivery: Delivery,
        events: EventPublisher,
        config: EngineConfig | None = None,
        metrics: Metrics | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.memory = memory
        self.storage = storage
        self.delivery = delivery
        self.events = events
        self.config = config or EngineConfig()
        self.metrics = metrics or Metrics()
        self.registry = registry or Registry(delivery.is_connected)
        self.injection = ErrorInjection()
        self.ready = False
        self._seq = 0
        self._notification_id = time.time_ns() // 1000  # increases across restarts
        self._queue: deque[Run] = deque()
        self._admitting = 0
        self._current: Run | None = None
        self._memory_writes = asyncio.Lock()
        self._runs: dict[str, Run] = {}
        self._wakeup = asyncio.Event()
        self._connections = asyncio.Event()
        self._closing = False
        self._worker: asyncio.Task[None] | None = None
        self._unfinished: list[JSON] = []
        self._finished_count = 0

    # -- life cycle -------------------------------------------------------

    async def start(self, stored: StoredState) -> None:
        """Restore from storage, then start the worker (which first recovers)."""
        if stored.memory is not None:
            self.memory = memory_from_dict(stored.memory)
        else:
            await self._save_memory()
        injection = stored.settings.get(INJECTION_KEY)
        extra: list[Subscription] = []
        if injection is not None:
            self.injection = ErrorInjection.from_json(injection)
            if self.injection.enabled:
                sub = self.injection.subscription()
                extra.append(Subscription(sub.id, sub.name, sub.priority, injection["seq"]))
        self.registry.restore(stored.subscribers, extra)
        self._seq = stored.last_transition_seq
        self._unfinished = stored.unfinished
        self._worker = asyncio.create_task(self._work(), name="hotplugd-engine")

    async def close(self) -> None:
        """Refuse new requests, let the transition in flight finish (bounded), stop."""
        if self._closing:
            return
        self._closing = True
        while self._queue:
            await self._finish(self._queue.popleft(), Finished(Outcome.ABORTED, EINTR))
        self._wakeup.set()
        if self._worker is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), self.config.shutdown_grace_s)
            except TimeoutError:
                log.warning("transition still running at shutdown; it will be recovered")
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    @property
    def closing(self) -> bool:
        """Whether shutdown has begun (no new requests)."""
        return self._closing

    def connection_changed(self, _subscriber_id: str = "") -> None:
        """Hook for the transport: a subscriber connected or disconnected."""
        self._connections.set()

    # -- requests ---------------------------------------------------------

    async def submit(
        self,
        operation: Operation,
        block_id: int,
        online_type: OnlineType | None = None,
        timeout_ms: int | None = None,
        *,
        awaited: bool = False,
    ) -> Run:
        """Queue an online/offline request; its record is stored as ``pending``.

        ``awaited``: the caller waits for the outcome. When nothing else is
        queued or running, the request starts at once and its journal entry
        is its first write, so the ``pending`` write is skipped (a caller that
        got no answer knows nothing happened). A request answered at once
        (202) is always stored before the answer.
        """
        self._check_capacity(1)
        block = self.block(block_id)
        self._seq += 1
        transition = Transition(self.memory, operation, block_id, online_type)
        run = Run(self._seq, transition, block.node, timeout_ms)
        if not (awaited and self._idle()):
            self._admitting += 1  # holds its queue slot while the record is written
            try:
                await self.storage.write(Batch(transitions=[run.record()]))
            finally:
                self._admitting -= 1
        if self.closing:  # shutdown began while the record was written
            await self._finish(run, Finished(Outcome.ABORTED, EINTR))
            raise Unavailable("the service is shutting down")
        self._runs[run.id] = run
        self._queue.append(run)
        self.metrics.queue_depth.set(len(self._queue))
        self._publish("hotplug.transition.queued", summary(run.record()), run.id)
        self._wakeup.set()
        return run

    def _idle(self) -> bool:
        return not self._queue and not self._admitting and self._current is None

    def _check_capacity(self, requests: int) -> None:
        if self._closing:
            raise Unavailable("the service is shutting down")
        if len(self._queue) + self._admitting + requests > self.config.max_queue:
            raise Unavailable(f"the transition queue is full ({self.config.max_queue})")

    async def abort(self, transition_id: str) -> JSON:
        """Abort an offline in flight (a pending signal: ``-EINTR``)."""
        run = self._runs.get(transition_id)
        if run is None:
            record = await self.storage.get_transition(transition_id)
            if record is None:
                raise NotFound(f"transition {transition_id} does not exist")
            raise Conflict(f"transition {transition_id} has already finished", EINVAL, record)
        if not run.transition.abort():
            raise Conflict(
                f"transition {transition_id} cannot be aborted now "
                "(only an offline before its commit can)",
                EINVAL,
                run.record(),
            )
        run.abort_requested.set()
        return run.record()

    async def get_transition(self, transition_id: str) -> JSON:
        """A transition record, live when it is still running."""
        run = self._runs.get(transition_id)
        if run is not None:
            return run.record()
        record = await self.storage.get_transition(transition_id)
        if record is None:
            raise NotFound(f"transition {transition_id} does not exist")
        return record

    def live_record(self, record: JSON) -> JSON:
        """The freshest form of a stored record (a running one lives in memory)."""
        run = self._runs.get(record["id"])
        return run.record() if run is not None else record

    def transition_seq(self, transition_id: str) -> int | None:
        """The sequence number encoded in a transition id, for pagination."""
        prefix, _, number = transition_id.partition("-")
        if prefix != "tr" or not number.isdigit() or len(number) > 18:
            return None
        return int(number)

    # -- memory -----------------------------------------------------------

    async def probe(
        self, node: int, count: int | None = None, block_id: int | None = None
    ) -> tuple[list[Block], list[Run]]:
        """Hot-add blocks (no events); auto-online them if configured."""
        online_type = ops.auto_online_type(self.memory)
        if online_type is not None:  # all or nothing: never add blocks it cannot online
            self._check_capacity(1 if block_id is not None else count or 1)
        try:
            if block_id is not None:
                blocks = [ops.add_block_at(self.memory, block_id, node)]
            else:
                blocks = ops.add_blocks(self.memory, node, count or 1)
        except HotplugError as exc:
            raise Conflict(str(exc), exc.errno) from None
        await self._save_memory()
        for block in blocks:
            self._publish("hotplug.block.added", self.block_json(block), f"block/{block.id}")
        runs = [
            await self.submit(Operation.ONLINE, b.id, online_type) for b in blocks if online_type
        ]
        return blocks, runs

    async def remove(self, block_id: int) -> Block:
        """Hot-remove an offline block (no events)."""
        self.block(block_id)
        try:
            block = ops.remove_block(self.memory, block_id)
        except HotplugError as exc:
            raise Conflict(str(exc), exc.errno) from None
        await self._save_memory()
        self._publish("hotplug.block.removed", self.block_json(block), f"block/{block_id}")
        return block

    async def set_flags(self, block_id: int, **flags: Any) -> Block:
        """Set a block's simulation flags."""
        block = self.block(block_id)
        for name, value in flags.items():
            setattr(block, name, value)
        await self._save_memory()
        self._publish("hotplug.block.changed", self.block_json(block), f"block/{block_id}")
        return block

    async def set_auto_online(self, value: str) -> None:
        """Change ``auto_online_blocks``."""
        if value not in ops.AUTO_ONLINE_VALUES:
            raise Invalid(f"auto_online_blocks must be one of {', '.join(ops.AUTO_ONLINE_VALUES)}")
        self.memory.auto_online_blocks = value
        await self._save_memory()

    def block_json(self, block: Block) -> JSON:
        """A block as the API shows it (SPEC §1)."""
        geometry = self.memory.geometry
        return {
            "id": block.id,
            "start_pfn": geometry.start_pfn(block.id),
            "nr_pages": geometry.pages_per_block,
            "phys_addr": hex(block.id * geometry.block_size_bytes),
            "node": block.node,
            "state": block.state.value,
            "zone": block.zone.value if block.zone else None,
            "removable": block.removable,
            "valid_zones": [z.value for z in self.memory.valid_zones(block)],
            "isolation_fails": block.isolation_fails,
            "unmovable_pages": block.unmovable_pages,
            "migration_ms": block.migration_ms,
            "transition": block.transition,
        }

    def block(self, block_id: int) -> Block:
        """A block by id; ``NotFound`` when there is none."""
        try:
            return self.memory.block(block_id)
        except LookupError as exc:
            raise NotFound(str(exc)) from None

    # -- subscribers ------------------------------------------------------

    async def register(self, subscription: Subscription) -> tuple[JSON, str]:
        """Register a subscriber; return its public form and its token (shown once)."""
        stamped, token = self.registry.register(subscription)
        await self.storage.write(Batch(subscribers=[self.registry.stored(stamped.id)]))
        public = self.registry.public(stamped.id)
        self._publish("hotplug.subscriber.registered", public, f"subscriber/{stamped.id}")
        return public, token

    async def update_subscriber(self, subscriber_id: str, **changes: Any) -> JSON:
        """Change priority, filters, timeout or failure policy."""
        self._subscriber(subscriber_id)
        try:
            self.registry.update(subscriber_id, **changes)
        except ChainError as exc:
            raise Invalid(str(exc), EINVAL) from None
        await self.storage.write(Batch(subscribers=[self.registry.stored(subscriber_id)]))
        public = self.registry.public(subscriber_id)
        self._publish("hotplug.subscriber.updated", public, f"subscriber/{subscriber_id}")
        return public

    async def unregister(self, subscriber_id: str) -> None:
        """Remove a subscriber; its connection is closed with 4004."""
        public = self.subscriber(subscriber_id)
        self.registry.unregister(subscriber_id)
        await self.storage.write(Batch(deleted_subscribers=[subscriber_id]))
        await self.delivery.drop(subscriber_id, 4004, "subscriber unregistered")
        self._publish("hotplug.subscriber.removed", public, f"subscriber/{subscriber_id}")

    def subscriber(self, subscriber_id: str) -> JSON:
        """A subscriber's public form."""
        self._subscriber(subscriber_id)
        return self.registry.public(subscriber_id)

    def subscribers(self) -> list[JSON]:
        """Every registered subscriber, in registration order."""
        ids = sorted(self.registry.info, key=lambda i: self._subscriber(i).seq)
        return [self.registry.public(i) for i in ids]

    def chain(self) -> list[JSON]:
        """The call order the next transition will use."""
        return [
            {"position": i, **self._chain_entry(entry)}
            for i, entry in enumerate(self.registry.chain.snapshot())
        ]

    def _chain_entry(self, entry: Subscription) -> JSON:
        if entry.id == INJECTOR_ID:
            return {**subscription_to_json(entry), "builtin": True, "connected": True}
        return {**subscription_to_json(entry), "builtin": False,
                "connected": self.delivery.is_connected(entry.id)}  # fmt: skip

    def _subscriber(self, subscriber_id: str) -> Subscription:
        entry = self.registry.get(subscriber_id)
        if entry is None or subscriber_id == INJECTOR_ID:
            raise NotFound(f"subscriber {subscriber_id} does not exist")
        return entry

    # -- error injection --------------------------------------------------

    async def set_injection(self, injection: ErrorInjection) -> JSON:
        """Enable, change or disable the built-in ``notifier-error-inject``."""
        chain = self.registry.chain
        present = chain.get(INJECTOR_ID)
        if injection.enabled and present is None:
            chain.register(injection.subscription())
        elif injection.enabled and present is not None:
            chain.update(INJECTOR_ID, priority=injection.priority)
        elif present is not None:
            chain.unregister(INJECTOR_ID)
        self.injection = injection
        entry = chain.get(INJECTOR_ID)
        stored = {**injection.to_json(), "seq": entry.seq if entry else 0}
        await self.storage.write(Batch(settings={INJECTION_KEY: stored}))
        return injection.to_json()

    # -- the worker -------------------------------------------------------

    async def _work(self) -> None:
        await self._recover()
        self.ready = True
        while not self._closing:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            run = self._queue.popleft()
            self.metrics.queue_depth.set(len(self._queue))
            self._current = run
            try:
                await self._execute(run)
            finally:
                self._current = None

    async def _execute(self, run: Run) -> None:
        try:
            await self._run(run)
        except Exception:
            log.exception("transition %s failed inside the engine", run.id)
            if not run.done.done():
                _undo_going_offline(run)
                await self._finish(run, Finished(Outcome.FAILED, EIO))

    async def _run(self, run: Run) -> None:
        run.outcome, run.started_at = Outcome.RUNNING, utcnow()
        self._publish("hotplug.transition.started", summary(run.record()), run.id)
        try:
            step = run.transition.start()
        except LookupError:
            step = Finished(Outcome.FAILED, ENODEV)
        if isinstance(step, Finished):
            await self._finish(run, step)
            return
        if run.timeout_ms is not None:
            run.deadline = asyncio.get_running_loop().time() + run.timeout_ms / 1000
        run.snapshot = self.registry.chain.snapshot()
        run.transition.block.transition = run.id
        await self._steps(run, step)

    async def _steps(self, run: Run, step: Step) -> None:
        """Run steps to the end, journaling each new phase before its first walk."""
        journaled: Phase | None = None
        while not isinstance(step, Finished):
            walk = self._new_walk(run, step.action) if isinstance(step, WalkStep) else None
            if run.transition.phase is not journaled:
                journaled = run.transition.phase
                await self._journal(run)
                self._block_changed(run)
            if walk is not None:
                await self._run_walk(run, walk)
                step = run.transition.walk_done(walk.errno)
                self._note_veto(run, walk)
            else:
                assert isinstance(step, MigrateStep)
                await self._migrate(run, step)
                step = run.transition.migration_done()
        await self._finish(run, step)

    async def _migrate(self, run: Run, step: MigrateStep) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.abort_requested.wait(), step.duration_ms / 1000)

    def _note_veto(self, run: Run, walk: Walk) -> None:
        vetoer = walk.vetoer
        if vetoer is None:
            return
        run.vetoed_by = {
            "subscriber": vetoer.subscriber,
            "name": vetoer.name,
            "errno": vetoer.errno,
            "errno_name": errno_name(vetoer.errno),
            "message": vetoer.message,
        }
        self.registry.record_veto(vetoer.subscriber)
        self.metrics.vetoes.labels(vetoer.subscriber).inc()

    def _new_walk(self, run: Run, action: Action) -> Walk:
        targets: list[Subscription] | tuple[Subscription, ...] = run.snapshot
        if action.is_cancel and self.config.cancel_scope is CancelScope.NOTIFIED:
            notified = run.going_notified()
            targets = [entry for entry in run.snapshot if entry.id in notified]
        walk = Walk(action, targets, run.node)
        first = run.resume_first_id
        run.resume_first_id = None
        if first is None:
            first = self._notification_id + 1
            self._notification_id += len(targets)  # ids reserved for this walk
        run.walks.append(walk)
        run.walk_ids.append(first)
        return walk

    async def _run_walk(self, run: Run, walk: Walk) -> None:
        while (entry := walk.next_call()) is not None:
            await self._call(run, walk, entry)

    async def _call(self, run: Run, walk: Walk, entry: Subscription) -> None:
        if entry.id == INJECTOR_ID:
            self._call_injector(walk)
            return
        if entry.id not in self.registry.chain:
            walk.skip_unregistered()
            return
        wait = self._wait_for(run, walk.action, entry)
        if wait <= 0:  # the request's deadline is spent: a timeout, nothing is sent
            walk.receive_timeout(delivered=False)
        else:
            await self._deliver(run, walk, entry, wait)
        call = walk.calls[-1]
        self.registry.record_call(call, walk.action)
        self.metrics.latency_for(walk.action.name).observe(call.latency_ms / 1000)
        if call.delivery is DeliveryKind.TIMEOUT or call.delivery is DeliveryKind.DISCONNECTED:
            self.metrics.timeouts.labels(entry.id, call.delivery.value).inc()

    def _call_injector(self, walk: Walk) -> None:
        if self.injection.enabled:
            walk.receive_reply(self.injection.value_for(walk.action))
        else:
            walk.skip_unregistered()

    def _wait_for(self, run: Run, action: Action, entry: Subscription) -> float:
        wait = entry.timeout_ms / 1000
        if action.can_veto and run.deadline is not None:
            wait = min(wait, run.deadline - asyncio.get_running_loop().time())
        return wait

    async def _deliver(self, run: Run, walk: Walk, entry: Subscription, wait: float) -> None:
        arg = run.transition.arg
        assert arg is not None
        notification = Notification(
            id=run.walk_ids[-1] + len(walk.calls),  # deterministic: a redone walk resends ids
            transition=run.id,
            action=walk.action.name,
            action_value=walk.action.value,
            arg=arg.to_dict(),
            block=run.transition.block_id,
            node=run.node,
            timeout_ms=max(1, round(wait * 1000)),
        )
        self._publish_notification("hotplug.notification.sent", run, notification, entry)
        started = time.perf_counter()
        try:
            reply = await self.delivery.deliver(entry.id, notification, wait)
        except NotConnected:
            walk.receive_absence()
        except Disconnected:
            walk.receive_disconnect(_ms_since(started))
        except TimeoutError:
            walk.receive_timeout(_ms_since(started))
        else:
            walk.receive_reply(reply.value, reply.message, _ms_since(started))
        self._publish_replied(run, notification, walk)

    def _publish_notification(
        self, type_: str, run: Run, notification: Notification, entry: Subscription
    ) -> None:
        data = {
            "transition": run.id,
            "notification": notification.id,
            "action": notification.action,
            "subscriber": entry.id,
            "name": entry.name,
        }
        self._publish(type_, data, run.id)

    def _publish_replied(self, run: Run, notification: Notification, walk: Walk) -> None:
        call = walk.calls[-1]
        data = {
            "transition": run.id,
            "notification": notification.id,
            "action": notification.action,
            "subscriber": call.subscriber,
            "name": call.name,
            "delivery": call.delivery.value,
            "result": result_name(call.value),
            "value": call.value,
            "errno": call.errno or None,
            "latency_ms": round(call.latency_ms, 3),
        }
        self._publish("hotplug.notification.replied", data, run.id)

    # -- journal and history ----------------------------------------------

    async def _journal(self, run: Run) -> None:
        """The record and the memory state it implies, atomically."""
        await self._write_with_memory(transitions=[run.record()])

    async def _finish(self, run: Run, finished: Finished) -> None:
        run.outcome, run.errno, run.finished_at = finished.outcome, finished.errno, utcnow()
        block = self.memory.blocks.get(run.transition.block_id)
        if block is not None and block.transition == run.id:
            block.transition = None
        record = run.record()
        try:
            await self._write_with_memory(transitions=[record], subscribers=self.registry.dirty())
        finally:
            self._runs.pop(run.id, None)
            self._after_finish(run, record)
        await self._prune()

    def _after_finish(self, run: Run, record: JSON) -> None:
        self.metrics.transitions.labels(run.operation.value, run.outcome.value).inc()
        self._publish("hotplug.transition.finished", summary(record), run.id)
        self._block_changed(run)
        if not run.done.done():
            run.done.set_result(record)

    async def _prune(self) -> None:
        self._finished_count += 1
        if self._finished_count % 1000 == 0:
            await self.storage.prune_transitions(self.config.history_keep)

    async def _save_memory(self) -> None:
        await self._write_with_memory()

    async def _write_with_memory(self, **fields: Any) -> None:
        """Write a batch with the memory state as it is now.

        Such writes commit in the order they were asked for (a FIFO lock; the
        snapshot is taken before waiting): an older state can never land
        after a newer one that was already acknowledged.
        """
        batch = Batch(memory=memory_to_dict(self.memory), **fields)
        async with self._memory_writes:
            await self.storage.write(batch)

    def _block_changed(self, run: Run) -> None:
        block = self.memory.blocks.get(run.transition.block_id)
        if block is not None:
            self._publish("hotplug.block.changed", self.block_json(block), f"block/{block.id}")

    def _publish(self, type_: str, data: JSON, subject: str | None = None) -> None:
        self.events.publish(type_, data, subject)

    # -- crash recovery ---------------------------------------------------

    async def _recover(self) -> None:
        for record in self._unfinished:
            run = Run.from_record(record, self.memory)
            self._runs[run.id] = run
            self._seq = max(self._seq, run.seq)
            await self._await_subscribers(run)
            run.outcome = Outcome.RUNNING
            log.warning("recovering transition %s from phase %s", run.id, record["phase"])
            step = run.transition.recover()
            if isinstance(step, WalkStep):
                run.resume_interrupted(step.action.name)
            await self._steps(run, step)
        self._unfinished = []

    async def _await_subscribers(self, run: Run) -> None:
        """Wait (bounded) for the snapshot's subscribers to reconnect."""
        if run.transition.phase is Phase.QUEUED:
            return
        ids = [e.id for e in run.snapshot if e.id != INJECTOR_ID and e.id in self.registry.chain]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.recovery_grace_ms / 1000
        while not all(map(self.delivery.is_connected, ids)):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._connections.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connections.wait(), remaining)


def _undo_going_offline(run: Run) -> None:
    """After an internal failure, a block that had not committed goes back to online."""
    block = run.transition.memory.blocks.get(run.transition.block_id)
    if block is not None and block.state is BlockState.GOING_OFFLINE:
        block.state = BlockState.ONLINE


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
