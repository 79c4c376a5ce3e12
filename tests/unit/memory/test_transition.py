"""The online/offline transition steps (SPEC §2) and their recovery, as a pure state machine."""

from __future__ import annotations

import pytest

from app.chain.actions import Action
from app.chain.chain import Subscription
from app.chain.values import (
    EBUSY,
    EINTR,
    EINVAL,
    ENOMEM,
    EPERM,
    NOTIFY_BAD,
    NOTIFY_OK,
    NOTIFY_STOP,
    notifier_from_errno,
)
from app.chain.walk import Walk
from app.memory.model import Block, BlockState, Memory, OnlineType, Zone
from app.memory.notify import MemoryNotify
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

GOING_ONLINE = WalkStep(Action.MEM_GOING_ONLINE)
GOING_OFFLINE = WalkStep(Action.MEM_GOING_OFFLINE)
CANCEL_ONLINE = WalkStep(Action.MEM_CANCEL_ONLINE)
CANCEL_OFFLINE = WalkStep(Action.MEM_CANCEL_OFFLINE)
ONLINE = WalkStep(Action.MEM_ONLINE)
OFFLINE = WalkStep(Action.MEM_OFFLINE)


def machine(**flags: object) -> Memory:
    """Block 0 offline on node 1; block 1 online in Normal on node 0, with the given flags."""
    memory = Memory()
    memory.blocks[0] = Block(id=0, node=1)
    memory.blocks[1] = Block(id=1, node=0, state=BlockState.ONLINE, zone=Zone.NORMAL, **flags)  # type: ignore[arg-type]
    memory.nodes.update({0, 1})
    return memory


def onlining(memory: Memory, online_type: OnlineType | None = None) -> Transition:
    """A transition onlining block 0."""
    return Transition(memory, Operation.ONLINE, 0, online_type)


def offlining(memory: Memory) -> Transition:
    """A transition offlining block 1."""
    return Transition(memory, Operation.OFFLINE, 1, None)


def run(transition: Transition, going_errno: int = 0, first: Step | None = None) -> list[Step]:
    """Drive a transition to its end, the GOING_* walk ending with ``going_errno``."""
    steps = [first or transition.start()]
    while not isinstance(steps[-1], Finished):
        step = steps[-1]
        if isinstance(step, MigrateStep):
            steps.append(transition.migration_done())
        else:
            errno = going_errno if step.action.can_veto else 0
            steps.append(transition.walk_done(errno))
    return steps


# --- online -----------------------------------------------------------------------------


def test_online_walks_going_then_online_and_commits() -> None:
    """Online: MEM_GOING_ONLINE, commit, MEM_ONLINE, completed; block online in its zone."""
    memory = machine()
    transition = onlining(memory)
    assert run(transition) == [GOING_ONLINE, ONLINE, Finished(Outcome.COMPLETED)]
    block = memory.block(0)
    assert (block.state, block.zone) == (BlockState.ONLINE, Zone.NORMAL)
    assert transition.phase is Phase.DONE
    assert transition.committed


def test_online_has_no_going_online_state() -> None:
    """§9.9: a block stays offline while its MEM_GOING_ONLINE walk runs."""
    memory = machine()
    transition = onlining(memory)
    assert transition.start() == GOING_ONLINE
    assert memory.block(0).state is BlockState.OFFLINE
    assert transition.phase is Phase.GOING
    assert not transition.committed
    assert transition.walk_done(0) == ONLINE
    assert memory.block(0).state is BlockState.ONLINE
    assert transition.committed


def test_online_argument_is_computed_before_and_kept() -> None:
    """The memory_notify argument comes from the states before and is the same for every event."""
    memory = machine()
    transition = onlining(memory)
    transition.start()
    before = transition.arg
    assert before == MemoryNotify(0, 32768, 1, -1, 1)
    run(transition, first=transition.walk_done(0))
    assert transition.arg is before


@pytest.mark.parametrize(
    ("online_type", "zone"),
    [
        (None, Zone.NORMAL),
        (OnlineType.ONLINE, Zone.NORMAL),
        (OnlineType.ONLINE_KERNEL, Zone.NORMAL),
        (OnlineType.ONLINE_MOVABLE, Zone.MOVABLE),
    ],
)
def test_online_type_picks_the_zone(online_type: OnlineType | None, zone: Zone) -> None:
    """The online type decides the zone; no type means plain online (the default zone)."""
    memory = machine()
    transition = onlining(memory, online_type)
    run(transition)
    assert transition.online_type is (online_type or OnlineType.ONLINE)
    assert transition.zone is zone
    assert memory.block(0).zone is zone


def test_online_veto_cancels_and_leaves_block_offline() -> None:
    """A vetoed online walks MEM_CANCEL_ONLINE, stays offline, cancelled with the veto errno."""
    memory = machine()
    transition = onlining(memory)
    assert run(transition, going_errno=ENOMEM) == [
        GOING_ONLINE,
        CANCEL_ONLINE,
        Finished(Outcome.CANCELLED, ENOMEM),
    ]
    block = memory.block(0)
    assert (block.state, block.zone) == (BlockState.OFFLINE, None)
    assert not transition.committed
    assert memory.present_pages(1) == {}


def test_notify_stop_on_going_online_is_no_veto() -> None:
    """§9.2: NOTIFY_STOP on MEM_GOING_ONLINE stops the walk, errno 0, and the online commits."""
    memory = machine()
    snapshot = [Subscription("a", "a", 2), Subscription("stopper", "s", 1), Subscription("c", "c")]
    transition = onlining(memory)
    assert transition.start() == GOING_ONLINE
    going = Walk(Action.MEM_GOING_ONLINE, snapshot, 1)
    for value in (NOTIFY_OK, NOTIFY_STOP):
        going.next_call()
        going.receive_reply(value)
    assert going.done
    assert going.errno == 0
    assert transition.walk_done(going.errno) == ONLINE
    done = Walk(Action.MEM_ONLINE, snapshot, 1)
    called = []
    while (target := done.next_call()) is not None:
        called.append(target.id)
        done.receive_reply(NOTIFY_OK)
    assert called == ["a", "stopper", "c"]  # the skipped subscriber still gets MEM_ONLINE
    assert transition.walk_done(done.errno) == Finished(Outcome.COMPLETED)
    assert memory.block(0).state is BlockState.ONLINE


@pytest.mark.parametrize("operation", list(Operation))
def test_notify_bad_on_completion_walk_is_ignored(operation: Operation) -> None:
    """§9.1: NOTIFY_BAD on MEM_ONLINE/MEM_OFFLINE stops that walk but the transition completes."""
    memory = machine()
    transition = onlining(memory) if operation is Operation.ONLINE else offlining(memory)
    transition.start()
    completion = transition.walk_done(0)
    assert isinstance(completion, WalkStep)
    walk = Walk(completion.action, [Subscription("bad", "bad", 1), Subscription("low", "low")], 0)
    walk.next_call()
    walk.receive_reply(NOTIFY_BAD)
    assert walk.done
    assert [c.subscriber for c in walk.calls] == ["bad"]
    assert transition.walk_done(walk.errno) == Finished(Outcome.COMPLETED)
    assert transition.committed


def test_completion_walk_result_is_ignored_even_if_an_errno_is_passed() -> None:
    """After the commit nothing is undone, whatever the completion walk's result."""
    memory = machine()
    transition = onlining(memory)
    transition.start()
    transition.walk_done(0)
    assert transition.walk_done(EPERM) == Finished(Outcome.COMPLETED)
    assert memory.block(0).state is BlockState.ONLINE


@pytest.mark.parametrize(("operation", "block_id"), [(Operation.ONLINE, 1), (Operation.OFFLINE, 0)])
def test_already_in_state_is_einval_without_walk(operation: Operation, block_id: int) -> None:
    """§9.9: online of an online block (offline of an offline one) fails -EINVAL, no events."""
    memory = machine()
    before = memory.block(block_id).state
    transition = Transition(memory, operation, block_id, None)
    assert transition.start() == Finished(Outcome.FAILED, EINVAL)
    assert memory.block(block_id).state is before
    assert transition.phase is Phase.DONE
    assert transition.arg is None


def test_failed_start_is_not_committed() -> None:
    """A transition refused at its start (-EINVAL, -EBUSY) has not committed anything."""
    memory = machine(isolation_fails=True)
    refused = Transition(memory, Operation.ONLINE, 1, None)
    refused.start()
    isolated = offlining(memory)
    isolated.start()
    assert not refused.committed
    assert not isolated.committed


def test_unknown_block_is_a_lookup_error() -> None:
    """A transition on a block that does not exist raises LookupError at its start."""
    with pytest.raises(LookupError):
        Transition(machine(), Operation.ONLINE, 99, None).start()


# --- offline ----------------------------------------------------------------------------


def test_offline_walks_going_then_offline_and_commits() -> None:
    """Offline: going-offline, MEM_GOING_OFFLINE, commit, MEM_OFFLINE, completed."""
    memory = machine()
    transition = offlining(memory)
    assert transition.start() == GOING_OFFLINE
    assert memory.block(1).state is BlockState.GOING_OFFLINE
    assert transition.arg == MemoryNotify(32768, 32768, 0, -1, 0)
    assert transition.zone is Zone.NORMAL
    assert transition.walk_done(0) == OFFLINE
    block = memory.block(1)
    assert (block.state, block.zone) == (BlockState.OFFLINE, None)
    assert transition.walk_done(0) == Finished(Outcome.COMPLETED)
    assert transition.committed


def test_offline_with_migration_time() -> None:
    """With migration_ms, MEM_GOING_OFFLINE is followed by a migration step, then the commit."""
    memory = machine(migration_ms=250)
    transition = offlining(memory)
    transition.start()
    assert transition.walk_done(0) == MigrateStep(250)
    assert transition.phase is Phase.MIGRATING
    assert memory.block(1).state is BlockState.GOING_OFFLINE
    assert transition.migration_done() == OFFLINE
    assert memory.block(1).state is BlockState.OFFLINE


def test_isolation_failure_is_ebusy_before_any_event() -> None:
    """§9.4: isolation_fails ends the offline with -EBUSY and no WalkStep at all."""
    memory = machine(isolation_fails=True)
    transition = offlining(memory)
    assert transition.start() == Finished(Outcome.FAILED, EBUSY)
    assert memory.block(1).state is BlockState.ONLINE
    assert transition.arg is None


def test_vetoed_offline_goes_back_online_after_the_cancel_walk() -> None:
    """§9.9: a vetoed offline walks MEM_CANCEL_OFFLINE while going-offline, then is online again."""
    memory = machine(migration_ms=100)
    transition = offlining(memory)
    transition.start()
    assert transition.walk_done(EBUSY) == CANCEL_OFFLINE
    assert memory.block(1).state is BlockState.GOING_OFFLINE
    assert transition.phase is Phase.CANCELLING
    assert transition.walk_done(0) == Finished(Outcome.CANCELLED, EBUSY)
    block = memory.block(1)
    assert (block.state, block.zone) == (BlockState.ONLINE, Zone.NORMAL)
    assert not transition.committed


@pytest.mark.parametrize("migration_ms", [0, 50])
def test_unmovable_pages_cancel_after_going_offline(migration_ms: int) -> None:
    """§9.4: unmovable pages give MEM_CANCEL_OFFLINE after GOING_OFFLINE, then failed -EBUSY."""
    memory = machine(unmovable_pages=True, migration_ms=migration_ms)
    steps = run(offlining(memory))
    migration = [MigrateStep(migration_ms)] if migration_ms else []
    assert steps == [
        GOING_OFFLINE,
        *migration,
        CANCEL_OFFLINE,
        Finished(Outcome.FAILED, EBUSY),
    ]
    assert memory.block(1).state is BlockState.ONLINE


def test_abort_during_migration_cancels_with_eintr() -> None:
    """§9.4: an abort during migration gives MEM_CANCEL_OFFLINE, then failed -EINTR."""
    memory = machine(migration_ms=1000)
    transition = offlining(memory)
    transition.start()
    assert transition.walk_done(0) == MigrateStep(1000)
    assert transition.abort()
    assert transition.migration_done() == CANCEL_OFFLINE
    assert transition.walk_done(0) == Finished(Outcome.FAILED, EINTR)
    assert memory.block(1).state is BlockState.ONLINE


@pytest.mark.parametrize("migration_ms", [0, 1000])
def test_abort_during_going_walk_takes_effect_when_it_ends(migration_ms: int) -> None:
    """An abort does not cut the GOING_OFFLINE walk; when it ends, cancel at once (no migration)."""
    memory = machine(migration_ms=migration_ms)
    transition = offlining(memory)
    transition.start()
    assert transition.abort()
    assert transition.walk_done(0) == CANCEL_OFFLINE
    assert transition.walk_done(0) == Finished(Outcome.FAILED, EINTR)


def test_abort_wins_over_unmovable_pages() -> None:
    """With both an abort and unmovable pages the failure is -EINTR (the signal is seen first)."""
    memory = machine(unmovable_pages=True)
    transition = offlining(memory)
    transition.start()
    transition.abort()
    assert run(transition, first=transition.walk_done(0))[-1] == Finished(Outcome.FAILED, EINTR)


def test_veto_wins_over_abort() -> None:
    """When the GOING_OFFLINE walk vetoes, the outcome is the veto even if an abort arrived."""
    memory = machine()
    transition = offlining(memory)
    transition.start()
    transition.abort()
    assert transition.walk_done(EPERM) == CANCEL_OFFLINE
    assert transition.walk_done(0) == Finished(Outcome.CANCELLED, EPERM)


def test_abort_while_queued_fails_without_events() -> None:
    """An offline aborted before its turn fails -EINTR at its start, with no events."""
    memory = machine()
    transition = offlining(memory)
    assert transition.abort()
    assert transition.start() == Finished(Outcome.FAILED, EINTR)
    assert memory.block(1).state is BlockState.ONLINE


def test_abort_is_refused_for_online() -> None:
    """Only an offline can be aborted."""
    transition = onlining(machine())
    assert not transition.abort()
    transition.start()
    assert not transition.abort()
    assert not transition.aborted


def test_abort_is_refused_once_cancelling_or_committed() -> None:
    """An abort is refused once the offline is cancelling, committed or done."""
    memory = machine()
    cancelling = offlining(memory)
    cancelling.start()
    cancelling.walk_done(EPERM)
    assert not cancelling.abort()
    cancelling.walk_done(0)
    assert not cancelling.abort()
    committed = offlining(memory)
    committed.start()
    committed.walk_done(0)
    assert committed.phase is Phase.COMMITTED
    assert not committed.abort()


def test_errno_reply_veto_on_going_offline_end_to_end() -> None:
    """notifier_from_errno(-EBUSY) from a subscriber cancels the offline with -EBUSY."""
    memory = machine()
    transition = offlining(memory)
    transition.start()
    going = Walk(Action.MEM_GOING_OFFLINE, [Subscription("db", "db")], 0)
    going.next_call()
    going.receive_reply(notifier_from_errno(EBUSY))
    assert transition.walk_done(going.errno) == CANCEL_OFFLINE
    assert transition.walk_done(0) == Finished(Outcome.CANCELLED, EBUSY)


# --- recovery after a crash ---------------------------------------------------------------


def test_recover_queued_is_aborted_without_events() -> None:
    """A journaled transition that never started ends aborted (-EINTR) with no walk."""
    memory = machine()
    transition = offlining(memory)
    assert transition.recover() == Finished(Outcome.ABORTED, EINTR)
    assert memory.block(1).state is BlockState.ONLINE


@pytest.mark.parametrize("operation", list(Operation))
def test_recover_going_walks_cancel_and_aborts(operation: Operation) -> None:
    """Recovered during the GOING_* walk: the MEM_CANCEL_* walk, then aborted (-EINTR)."""
    memory = machine()
    transition = onlining(memory) if operation is Operation.ONLINE else offlining(memory)
    transition.start()
    cancel = CANCEL_ONLINE if operation is Operation.ONLINE else CANCEL_OFFLINE
    assert transition.recover() == cancel
    assert transition.walk_done(0) == Finished(Outcome.ABORTED, EINTR)
    assert memory.block(0).state is BlockState.OFFLINE
    assert memory.block(1).state is BlockState.ONLINE
    assert not transition.committed


def test_recover_migrating_walks_cancel_and_aborts() -> None:
    """Recovered during migration: MEM_CANCEL_OFFLINE, aborted, block back online."""
    memory = machine(migration_ms=500)
    transition = offlining(memory)
    transition.start()
    transition.walk_done(0)
    assert transition.phase is Phase.MIGRATING
    assert transition.recover() == CANCEL_OFFLINE
    assert transition.walk_done(0) == Finished(Outcome.ABORTED, EINTR)
    assert memory.block(1).state is BlockState.ONLINE


def test_recover_cancelling_walks_cancel_again_and_aborts() -> None:
    """Recovered during a cancel walk: the cancel walk is run again, outcome aborted (-EINTR)."""
    memory = machine()
    transition = offlining(memory)
    transition.start()
    transition.walk_done(EPERM)
    assert transition.phase is Phase.CANCELLING
    assert transition.recover() == CANCEL_OFFLINE
    assert transition.walk_done(0) == Finished(Outcome.ABORTED, EINTR)
    assert memory.block(1).state is BlockState.ONLINE


@pytest.mark.parametrize("operation", list(Operation))
def test_recover_committed_walks_completion_and_completes(operation: Operation) -> None:
    """Recovered after the commit: the MEM_ONLINE/MEM_OFFLINE walk, then completed."""
    memory = machine()
    transition = onlining(memory) if operation is Operation.ONLINE else offlining(memory)
    transition.start()
    transition.walk_done(0)
    assert transition.phase is Phase.COMMITTED
    done = ONLINE if operation is Operation.ONLINE else OFFLINE
    assert transition.recover() == done
    assert transition.walk_done(0) == Finished(Outcome.COMPLETED)
    committed = BlockState.ONLINE if operation is Operation.ONLINE else BlockState.OFFLINE
    assert transition.block.state is committed


@pytest.mark.parametrize("phase", [Phase.GOING, Phase.MIGRATING, Phase.CANCELLING])
def test_recover_uncommitted_rebuilt_from_journal(phase: Phase) -> None:
    """An offline rebuilt after a restart in an uncommitted phase cancels, aborts, is online."""
    memory = machine()
    memory.block(1).state = BlockState.GOING_OFFLINE
    transition = offlining(memory)
    transition.phase = phase
    assert transition.recover() == CANCEL_OFFLINE
    assert transition.walk_done(0) == Finished(Outcome.ABORTED, EINTR)
    assert memory.block(1).state is BlockState.ONLINE


def test_recover_committed_rebuilt_from_journal() -> None:
    """An offline rebuilt after a restart in the committed phase walks MEM_OFFLINE, completes."""
    memory = machine()
    block = memory.block(1)
    block.state, block.zone = BlockState.OFFLINE, None
    transition = offlining(memory)
    transition.phase = Phase.COMMITTED
    assert transition.recover() == OFFLINE
    assert transition.walk_done(0) == Finished(Outcome.COMPLETED)
    assert memory.block(1).state is BlockState.OFFLINE


# --- small pieces -------------------------------------------------------------------------


def test_final_outcomes() -> None:
    """pending and running are not final; completed, cancelled, failed and aborted are."""
    assert {o for o in Outcome if o.final} == {
        Outcome.COMPLETED,
        Outcome.CANCELLED,
        Outcome.FAILED,
        Outcome.ABORTED,
    }


def test_finished_defaults_to_no_errno() -> None:
    """A Finished step without errno carries 0."""
    assert Finished(Outcome.COMPLETED).errno == 0


def test_new_transition_is_queued() -> None:
    """A new transition is queued, not aborted, without zone or argument."""
    transition = offlining(machine())
    assert transition.phase is Phase.QUEUED
    assert (transition.zone, transition.arg, transition.aborted) == (None, None, False)
    assert transition.block.id == 1
    assert not transition.committed
