"""The steps of one online or offline transition (SPEC §2), as a pure state machine.

The engine drives it: ``start()`` returns the first step; after running a
walk it calls ``walk_done(walk_errno)``; after a migration
``migration_done()``. Each returns the next step, until ``Finished``. The
machine changes the ``Memory`` it was given (block state, zone) at the moments
the kernel does; ``phase`` says what a journal must remember to recover.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.chain.actions import Action
from app.chain.values import EBUSY, EINTR, EINVAL
from app.memory.model import Block, BlockState, Memory, OnlineType, Zone
from app.memory.notify import MemoryNotify, offline_arg, online_arg


class Operation(enum.Enum):
    """What a transition does."""

    ONLINE = "online"
    OFFLINE = "offline"


class Outcome(enum.Enum):
    """Where a transition stands; the last four are final."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def final(self) -> bool:
        """Whether the transition has ended."""
        return self not in (Outcome.PENDING, Outcome.RUNNING)


class Phase(enum.Enum):
    """What has happened so far: what a restart must finish."""

    QUEUED = "queued"
    GOING = "going"
    MIGRATING = "migrating"
    CANCELLING = "cancelling"
    COMMITTED = "committed"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class WalkStep:
    """Walk the chain with this action."""

    action: Action


@dataclass(frozen=True, slots=True)
class MigrateStep:
    """Simulated page migration; an abort may cut it short."""

    duration_ms: int


@dataclass(frozen=True, slots=True)
class Finished:
    """The transition ended."""

    outcome: Outcome
    errno: int = 0


Step = WalkStep | MigrateStep | Finished

_GOING = {Operation.ONLINE: Action.MEM_GOING_ONLINE, Operation.OFFLINE: Action.MEM_GOING_OFFLINE}
_CANCEL = {Operation.ONLINE: Action.MEM_CANCEL_ONLINE, Operation.OFFLINE: Action.MEM_CANCEL_OFFLINE}
_DONE = {Operation.ONLINE: Action.MEM_ONLINE, Operation.OFFLINE: Action.MEM_OFFLINE}


class Transition:
    """One online/offline of one block, from its turn in the queue to its end."""

    def __init__(
        self, memory: Memory, operation: Operation, block_id: int, online_type: OnlineType | None
    ) -> None:
        self.memory = memory
        self.operation = operation
        self.block_id = block_id
        self.online_type = online_type or OnlineType.ONLINE
        self.zone: Zone | None = None
        self.arg: MemoryNotify | None = None
        self.phase = Phase.QUEUED
        self.aborted = False
        self.committed = False
        self._failure: Finished | None = None

    @property
    def block(self) -> Block:
        """The block this transition works on."""
        return self.memory.block(self.block_id)

    def start(self) -> Step:
        """Check the block now that its turn came; the first step."""
        block = self.block
        wanted = BlockState.OFFLINE if self.operation is Operation.ONLINE else BlockState.ONLINE
        if self.aborted:
            return self._end(Finished(Outcome.FAILED, EINTR))
        if block.state is not wanted:
            return self._end(Finished(Outcome.FAILED, EINVAL))
        if self.operation is Operation.ONLINE:
            self.zone = self.memory.zone_for(block, self.online_type)
            self.arg = online_arg(self.memory, block, self.zone)
        else:
            if block.isolation_fails:
                return self._end(Finished(Outcome.FAILED, EBUSY))
            self.zone = block.zone
            self.arg = offline_arg(self.memory, block)
            block.state = BlockState.GOING_OFFLINE
        self.phase = Phase.GOING
        return WalkStep(_GOING[self.operation])

    def abort(self) -> bool:
        """An admin's abort (a pending signal); True when it can still take effect."""
        if self.operation is not Operation.OFFLINE or self.phase not in (
            Phase.QUEUED,
            Phase.GOING,
            Phase.MIGRATING,
        ):
            return False
        self.aborted = True
        return True

    def walk_done(self, errno: int) -> Step:
        """The current walk ended; ``errno`` is its veto (0 when none or not a GOING_*)."""
        if self.phase is Phase.GOING:
            return self._after_going(errno)
        if self.phase is Phase.CANCELLING:
            assert self._failure is not None
            return self._end(self._failure)
        return self._end(Finished(Outcome.COMPLETED))

    def migration_done(self) -> Step:
        """Migration time is over (or an abort cut it short)."""
        failure = self._migration_failure()
        if failure is not None:
            return self._cancel(failure)
        return self._commit()

    def recover(self) -> Step:
        """Finish a journaled transition after a crash, the way the kernel would fail it.

        Never started: it ends ``aborted`` with no events. Started but not
        committed: the ``MEM_CANCEL_*`` walk, then ``aborted`` (``-EINTR``).
        Committed: the completion walk, then ``completed``.
        """
        if self.phase is Phase.QUEUED:
            return self._end(Finished(Outcome.ABORTED, EINTR))
        if self.phase is Phase.COMMITTED:
            return WalkStep(_DONE[self.operation])
        return self._cancel(Finished(Outcome.ABORTED, EINTR))

    def _after_going(self, errno: int) -> Step:
        if errno:
            return self._cancel(Finished(Outcome.CANCELLED, errno))
        if self.operation is Operation.ONLINE:
            return self._commit()
        if self.block.migration_ms > 0 and not self.aborted:
            self.phase = Phase.MIGRATING
            return MigrateStep(self.block.migration_ms)
        return self.migration_done()

    def _migration_failure(self) -> Finished | None:
        if self.aborted:
            return Finished(Outcome.FAILED, EINTR)
        if self.block.unmovable_pages:
            return Finished(Outcome.FAILED, EBUSY)
        return None

    def _cancel(self, failure: Finished) -> Step:
        self._failure = failure
        self.phase = Phase.CANCELLING
        return WalkStep(_CANCEL[self.operation])

    def _commit(self) -> Step:
        block = self.block
        if self.operation is Operation.ONLINE:
            block.state, block.zone = BlockState.ONLINE, self.zone
        else:
            block.state, block.zone = BlockState.OFFLINE, None
        self.phase = Phase.COMMITTED
        self.committed = True
        return WalkStep(_DONE[self.operation])

    def _end(self, finished: Finished) -> Finished:
        if self.phase is Phase.CANCELLING and self.operation is Operation.OFFLINE:
            self.block.state = BlockState.ONLINE
        self.phase = Phase.DONE
        return finished
