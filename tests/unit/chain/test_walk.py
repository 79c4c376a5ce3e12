"""One walk of the chain as a state machine (kernel ``notifier_call_chain``; SPEC §4)."""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.chain.actions import Action
from app.chain.chain import FailurePolicy, Subscription
from app.chain.values import (
    EBUSY,
    ENOMEM,
    ENOTCONN,
    EPERM,
    ETIMEDOUT,
    INT32_MAX,
    INT32_MIN,
    NOTIFY_BAD,
    NOTIFY_DONE,
    NOTIFY_OK,
    NOTIFY_STOP,
    notifier_from_errno,
)
from app.chain.walk import Call, CancelScope, DeliveryKind, Walk, WalkError, cancel_targets

GOING = (Action.MEM_GOING_ONLINE, Action.MEM_GOING_OFFLINE)
NOT_GOING = tuple(a for a in Action if a not in GOING)


def sub(sid: str, priority: int = 0, **fields: object) -> Subscription:
    """A subscription named after its id."""
    return Subscription(id=sid, name=f"name-{sid}", priority=priority, **fields)  # type: ignore[arg-type]


def chain_of(*ids: str) -> list[Subscription]:
    """A snapshot with descending priorities, in the given order."""
    return [sub(sid, len(ids) - i) for i, sid in enumerate(ids)]


def reply_all(walk: Walk, replies: dict[str, int]) -> list[str]:
    """Answer each call from ``replies`` (NOTIFY_OK when absent); return who was called."""
    called = []
    while (target := walk.next_call()) is not None:
        called.append(target.id)
        walk.receive_reply(replies.get(target.id, NOTIFY_OK))
    return called


# --- the reference: kernel/notifier.c, on 32-bit C ints --------------------------------


def c_int(value: int) -> int:
    """Wrap an integer to a C ``int``."""
    value &= 0xFFFFFFFF
    return value - 2**32 if value & 0x80000000 else value


def ref_from_errno(err: int) -> int:
    """``notifier_from_errno`` as C computes it."""
    return c_int(0x8000 | c_int(1 - err)) if err else 0x0001


def ref_to_errno(ret: int) -> int:
    """``notifier_to_errno`` as C computes it."""
    ret = c_int(c_int(ret) & c_int(~0x8000))
    return c_int(1 - ret) if ret > 1 else 0


def notifier_call_chain(calls: Sequence[Callable[[], int]]) -> tuple[int, int]:
    """The kernel loop: (value of the last notifier called, nr_calls)."""
    ret = 0x0000  # NOTIFY_DONE
    nr_calls = 0
    for call in calls:
        ret = call()
        nr_calls += 1
        if ret & 0x8000:
            break
    return ret, nr_calls


@dataclass(frozen=True)
class Event:
    """What happens when a subscriber's turn comes."""

    kind: str  # reply | timeout | absence | disconnect | unregistered
    value: int = 0


def ref_value(event: Event, action: Action, policy: FailurePolicy) -> int:
    """The value a call counts as, from SPEC §4's failure rules."""
    if event.kind == "reply":
        return event.value
    veto_capable = action in GOING and policy is FailurePolicy.FAIL
    if not veto_capable:
        return 0x0000
    return ref_from_errno(-errno.ETIMEDOUT if event.kind == "timeout" else -errno.ENOTCONN)


def ref_wants(s: Subscription, action: Action, node: int) -> bool:
    """The filter rule, written independently."""
    by_action = s.actions is None or action in s.actions
    by_node = s.nodes is None or node in s.nodes
    return by_action and by_node


def feed(walk: Walk, event: Event) -> None:
    """Feed one event to the pending call."""
    if event.kind == "reply":
        walk.receive_reply(event.value)
    elif event.kind == "timeout":
        walk.receive_timeout()
    elif event.kind == "absence":
        walk.receive_absence()
    elif event.kind == "disconnect":
        walk.receive_disconnect()
    else:
        walk.skip_unregistered()


special_values = st.sampled_from(
    [
        NOTIFY_DONE,
        NOTIFY_OK,
        NOTIFY_STOP,
        NOTIFY_BAD,
        0x0002,
        0x8000,
        0x7FFF,
        -1,
        -12,
        -4095,
        INT32_MIN,
        INT32_MAX,
    ]
)
reply_values = st.one_of(
    special_values,
    st.integers(-4095, -1).map(notifier_from_errno),
    st.integers(-4095, -1),
    st.integers(INT32_MIN, INT32_MAX),
)
events = st.one_of(
    st.builds(Event, st.just("reply"), reply_values),
    st.builds(Event, st.sampled_from(["timeout", "absence", "disconnect", "unregistered"])),
)
filters_actions = st.none() | st.frozensets(st.sampled_from(list(Action)))
filters_nodes = st.none() | st.frozensets(st.integers(0, 2))


@st.composite
def walks(draw: st.DrawFn) -> tuple[list[Subscription], dict[str, Event], Action, int]:
    """A snapshot with random filters and policies, an event per subscriber, an action, a node."""
    size = draw(st.integers(0, 8))
    snapshot = [
        sub(
            f"s{i}",
            size - i,
            actions=draw(filters_actions),
            nodes=draw(filters_nodes),
            failure_policy=draw(st.sampled_from(list(FailurePolicy))),
        )
        for i in range(size)
    ]
    replies = {s.id: draw(events) for s in snapshot}
    return snapshot, replies, draw(st.sampled_from(list(Action))), draw(st.integers(0, 2))


@settings(deadline=None)
@given(walks())
def test_walk_matches_notifier_call_chain(
    case: tuple[list[Subscription], dict[str, Event], Action, int],
) -> None:
    """Result, calls, stop and veto equal the kernel loop over random replies and filters."""
    snapshot, replies, action, node = case
    targets = [s for s in snapshot if ref_wants(s, action, node)]
    live = [s for s in targets if replies[s.id].kind != "unregistered"]
    calls = [(lambda s=s: ref_value(replies[s.id], action, s.failure_policy)) for s in live]
    expected_result, nr_calls = notifier_call_chain(calls)
    called = [s.id for s in live[:nr_calls]]
    stopped = bool(expected_result & 0x8000)
    last_position = targets.index(live[nr_calls - 1]) if stopped else len(targets) - 1
    recorded = [s.id for s in targets[: last_position + 1]]
    expected_errno = ref_to_errno(expected_result) if action in GOING else 0

    walk = Walk(action, snapshot, node)
    while (target := walk.next_call()) is not None:
        feed(walk, replies[target.id])

    assert walk.done
    assert walk.result == expected_result
    assert [c.subscriber for c in walk.calls] == recorded
    assert [c.subscriber for c in walk.calls if c.counts] == called
    assert walk.stopped_by == (len(recorded) - 1 if stopped else None)
    assert walk.errno == expected_errno
    vetoer = walk.vetoer
    assert (vetoer.subscriber if vetoer else None) == (called[-1] if expected_errno else None)
    chain_cancel = cancel_targets(snapshot, walk, CancelScope.CHAIN)
    assert chain_cancel == snapshot
    # Scope notified: who received the GOING_* event, the vetoer excluded. An absent
    # subscriber never received it; that case is test_cancel_notified_scope_skips_absent_subscriber.
    received = called[:-1] if expected_errno else called
    if not any(replies[sid].kind == "absence" for sid in received):
        notified_cancel = cancel_targets(snapshot, walk, CancelScope.NOTIFIED)
        assert [s.id for s in notified_cancel] == received


@settings(deadline=None)
@given(st.lists(reply_values, max_size=8), st.sampled_from(GOING))
def test_veto_decision_matches_reference(values: list[int], action: Action) -> None:
    """A GOING_* walk vetoes exactly when notifier_to_errno(last value called) != 0."""
    snapshot = [sub(f"s{i}", -i) for i in range(len(values))]
    expected, _ = notifier_call_chain([lambda v=v: v for v in values])  # type: ignore[misc]
    walk = Walk(action, snapshot, 0)
    reply_all(walk, {s.id: v for s, v in zip(snapshot, values, strict=True)})
    assert walk.result == expected
    assert walk.errno == ref_to_errno(expected)
    assert (walk.vetoer is not None) == (ref_to_errno(expected) != 0)


@settings(deadline=None)
@given(st.lists(reply_values, max_size=8), st.sampled_from(NOT_GOING))
def test_non_going_walks_never_veto(values: list[int], action: Action) -> None:
    """MEM_ONLINE/OFFLINE/CANCEL_* walks report errno 0 whatever the replies."""
    snapshot = [sub(f"s{i}") for i in range(len(values))]
    walk = Walk(action, snapshot, 0)
    reply_all(walk, {s.id: v for s, v in zip(snapshot, values, strict=True)})
    assert walk.errno == 0
    assert walk.vetoer is None


# --- the walk's mechanics ------------------------------------------------------------


def test_empty_walk_is_done_with_notify_done() -> None:
    """A walk with nobody to call is done at once and its result is NOTIFY_DONE."""
    walk = Walk(Action.MEM_GOING_ONLINE, [], 0)
    assert walk.done
    assert walk.next_call() is None
    assert walk.result == NOTIFY_DONE
    assert (walk.errno, walk.vetoer, walk.notified, walk.stopped_by) == (0, None, [], None)


def test_next_call_repeats_until_answered() -> None:
    """next_call names the same subscriber until it is answered, then the next one."""
    walk = Walk(Action.MEM_ONLINE, chain_of("a", "b"), 0)
    assert walk.next_call() == walk.next_call()
    assert walk.next_call().id == "a"  # type: ignore[union-attr]
    walk.receive_reply(NOTIFY_OK)
    assert walk.next_call().id == "b"  # type: ignore[union-attr]
    walk.receive_reply(NOTIFY_OK)
    assert walk.done
    assert walk.next_call() is None


@pytest.mark.parametrize(
    "feed_one",
    [
        lambda w: w.receive_reply(NOTIFY_OK),
        lambda w: w.receive_timeout(),
        lambda w: w.receive_absence(),
        lambda w: w.receive_disconnect(),
        lambda w: w.skip_unregistered(),
    ],
)
def test_feeding_without_a_pending_call_is_an_error(feed_one: Callable[[Walk], None]) -> None:
    """Every receive_* and skip_unregistered refuses to run before next_call()."""
    walk = Walk(Action.MEM_ONLINE, chain_of("a"), 0)
    with pytest.raises(WalkError):
        feed_one(walk)
    walk.next_call()
    walk.receive_reply(NOTIFY_OK)
    with pytest.raises(WalkError):
        feed_one(walk)


def test_call_records_who_what_and_how() -> None:
    """Each call records subscriber, name, snapshot priority, delivery, value, errno, message."""
    walk = Walk(Action.MEM_GOING_OFFLINE, [sub("a", 42), sub("b", -3)], 0)
    walk.next_call()
    walk.receive_reply(NOTIFY_OK, message="fine", latency_ms=1.5)
    walk.next_call()
    walk.receive_reply(notifier_from_errno(ENOMEM), message="no memory", latency_ms=2.0)
    assert walk.calls == [
        Call("a", "name-a", 42, DeliveryKind.REPLIED, NOTIFY_OK, 0, "fine", 1.5),
        Call("b", "name-b", -3, DeliveryKind.REPLIED, 0x800D, ENOMEM, "no memory", 2.0),
    ]
    assert walk.errno == ENOMEM
    assert walk.vetoer == walk.calls[1]
    assert walk.notified == ["a"]


def test_result_is_the_last_value_not_an_aggregate() -> None:
    """The walk's result is the last subscriber's value, not a combination."""
    walk = Walk(Action.MEM_GOING_ONLINE, chain_of("a", "b", "c"), 0)
    reply_all(walk, {"a": NOTIFY_OK, "b": NOTIFY_OK, "c": NOTIFY_DONE})
    assert walk.result == NOTIFY_DONE


# --- kernel-notes §9, one test per point -------------------------------------------------


@pytest.mark.parametrize("action", GOING)
def test_notify_stop_on_going_stops_without_veto(action: Action) -> None:
    """§9.2: NOTIFY_STOP on GOING_* stops the walk with errno 0, so no veto."""
    walk = Walk(action, chain_of("a", "b", "c"), 0)
    called = reply_all(walk, {"a": NOTIFY_OK, "b": NOTIFY_STOP})
    assert called == ["a", "b"]
    assert walk.done
    assert walk.stopped_by == 1
    assert walk.result == NOTIFY_STOP
    assert walk.errno == 0
    assert walk.vetoer is None


@pytest.mark.parametrize("action", [Action.MEM_ONLINE, Action.MEM_OFFLINE])
def test_notify_bad_on_completion_hides_event_but_vetoes_nothing(action: Action) -> None:
    """§9.1: NOTIFY_BAD on MEM_ONLINE/OFFLINE stops the walk (lower ones miss it), errno 0."""
    walk = Walk(action, chain_of("high", "bad", "low"), 0)
    called = reply_all(walk, {"bad": NOTIFY_BAD})
    assert called == ["high", "bad"]
    assert walk.result == NOTIFY_BAD
    assert walk.errno == 0
    assert walk.vetoer is None


@pytest.mark.parametrize("action", [Action.MEM_CANCEL_ONLINE, Action.MEM_CANCEL_OFFLINE])
def test_notify_bad_on_cancel_hides_event_but_means_nothing(action: Action) -> None:
    """§9.1: a stop-bit reply on MEM_CANCEL_* only hides the event from lower priorities."""
    walk = Walk(action, chain_of("a", "b"), 0)
    assert reply_all(walk, {"a": NOTIFY_BAD}) == ["a"]
    assert walk.errno == 0


def test_notify_bad_on_going_vetoes_with_eperm() -> None:
    """§9.2: NOTIFY_BAD on GOING_* vetoes with -EPERM, named by its subscriber."""
    walk = Walk(Action.MEM_GOING_ONLINE, chain_of("a", "b", "c"), 0)
    assert reply_all(walk, {"b": NOTIFY_BAD}) == ["a", "b"]
    assert walk.errno == EPERM
    assert walk.vetoer is not None
    assert walk.vetoer.subscriber == "b"


def test_errno_reply_vetoes_with_that_errno() -> None:
    """§9.2: notifier_from_errno(e) on GOING_* vetoes with exactly e."""
    walk = Walk(Action.MEM_GOING_OFFLINE, chain_of("a", "b"), 0)
    assert reply_all(walk, {"a": notifier_from_errno(EBUSY)}) == ["a"]
    assert walk.errno == EBUSY


@pytest.mark.parametrize("action", GOING)
def test_raw_two_from_last_subscriber_vetoes_eperm(action: Action) -> None:
    """§9.2: a raw 0x0002 (no stop bit) from the last subscriber vetoes with -EPERM."""
    walk = Walk(action, chain_of("a", "b"), 0)
    assert reply_all(walk, {"a": NOTIFY_OK, "b": 0x0002}) == ["a", "b"]
    assert walk.stopped_by is None
    assert walk.errno == EPERM
    assert walk.vetoer is not None
    assert walk.vetoer.subscriber == "b"


def test_raw_two_from_middle_subscriber_is_overwritten() -> None:
    """§9.2: a raw 0x0002 from a middle subscriber does not veto; a later reply overwrites it."""
    walk = Walk(Action.MEM_GOING_ONLINE, chain_of("a", "b", "c"), 0)
    assert reply_all(walk, {"a": 0x0002, "b": NOTIFY_DONE, "c": NOTIFY_OK}) == ["a", "b", "c"]
    assert walk.result == NOTIFY_OK
    assert walk.errno == 0


@pytest.mark.parametrize("raw", [-1, -12, -4095, -32768])
def test_negative_raw_value_stops_without_veto(raw: int) -> None:
    """§9.2: a raw negative value stops the walk (bit 15 set) but maps to errno 0."""
    walk = Walk(Action.MEM_GOING_OFFLINE, chain_of("a", "b", "c"), 0)
    assert reply_all(walk, {"b": raw}) == ["a", "b"]
    assert walk.stopped_by == 1
    assert walk.result == raw
    assert walk.errno == 0
    assert walk.vetoer is None


def test_cancel_chain_scope_reaches_whole_chain_including_vetoer() -> None:
    """§9.3: with scope chain, MEM_CANCEL_* goes to everyone from the top, vetoer included."""
    snapshot = chain_of("a", "b", "vetoer", "never-saw-going")
    going = Walk(Action.MEM_GOING_ONLINE, snapshot, 0)
    reply_all(going, {"vetoer": NOTIFY_BAD})
    targets = cancel_targets(snapshot, going, CancelScope.CHAIN)
    assert [s.id for s in targets] == ["a", "b", "vetoer", "never-saw-going"]
    cancel = Walk(Action.MEM_CANCEL_ONLINE, targets, 0)
    assert reply_all(cancel, {}) == ["a", "b", "vetoer", "never-saw-going"]


def test_cancel_chain_scope_includes_filtered_going_subscribers() -> None:
    """§9.3: scope chain also reaches subscribers whose filter dropped the GOING_* event."""
    only_cancel = sub("only-cancel", 9, actions=frozenset({Action.MEM_CANCEL_ONLINE}))
    snapshot = [only_cancel, sub("vetoer", 1)]
    going = Walk(Action.MEM_GOING_ONLINE, snapshot, 0)
    assert reply_all(going, {"vetoer": NOTIFY_BAD}) == ["vetoer"]
    targets = cancel_targets(snapshot, going, CancelScope.CHAIN)
    assert reply_all(Walk(Action.MEM_CANCEL_ONLINE, targets, 0), {}) == ["only-cancel", "vetoer"]


def test_cancel_notified_scope_is_those_before_the_vetoer() -> None:
    """Scope notified: only the subscribers before the vetoer, in chain order (robust variant)."""
    snapshot = chain_of("a", "b", "vetoer", "after")
    going = Walk(Action.MEM_GOING_OFFLINE, snapshot, 0)
    reply_all(going, {"vetoer": notifier_from_errno(EBUSY)})
    assert going.notified == ["a", "b"]
    targets = cancel_targets(snapshot, going, CancelScope.NOTIFIED)
    assert [s.id for s in targets] == ["a", "b"]


def test_cancel_notified_scope_when_first_vetoes_is_nobody() -> None:
    """Scope notified: when the first subscriber vetoes, nobody gets the cancel."""
    snapshot = chain_of("vetoer", "b")
    going = Walk(Action.MEM_GOING_OFFLINE, snapshot, 0)
    reply_all(going, {"vetoer": NOTIFY_BAD})
    assert cancel_targets(snapshot, going, CancelScope.NOTIFIED) == []


def test_cancel_notified_scope_without_vetoer_is_everyone_notified() -> None:
    """Scope notified after a failure with no vetoer (unmovable pages): all who got GOING_*."""
    filtered = sub("filtered", 5, nodes=frozenset({7}))
    snapshot = [sub("a", 9), filtered, sub("b", 1)]
    going = Walk(Action.MEM_GOING_OFFLINE, snapshot, 0)
    reply_all(going, {})
    assert going.errno == 0
    assert [s.id for s in cancel_targets(snapshot, going, CancelScope.NOTIFIED)] == ["a", "b"]


def test_cancel_notified_scope_before_any_going_walk_is_nobody() -> None:
    """Scope notified with no GOING_* walk (recovery before it ran) reaches nobody."""
    assert cancel_targets(chain_of("a", "b"), None, CancelScope.NOTIFIED) == []
    assert [s.id for s in cancel_targets(chain_of("a"), None, CancelScope.CHAIN)] == ["a"]


def test_cancel_notified_scope_skips_absent_subscriber() -> None:
    """Scope notified excludes a subscriber that was not connected, so never received GOING_*."""
    snapshot = [sub("absent", 9, failure_policy=FailurePolicy.IGNORE), sub("b", 5), sub("v", 1)]
    going = Walk(Action.MEM_GOING_OFFLINE, snapshot, 0)
    going.next_call()
    going.receive_absence()
    reply_all(going, {"v": NOTIFY_BAD})
    assert going.errno == EPERM
    assert [s.id for s in cancel_targets(snapshot, going, CancelScope.NOTIFIED)] == ["b"]


def test_skip_unregistered_is_recorded_but_does_not_change_result() -> None:
    """A subscriber removed since the snapshot is recorded as skipped; the result is unchanged."""
    walk = Walk(Action.MEM_GOING_ONLINE, chain_of("a", "gone"), 0)
    walk.next_call()
    walk.receive_reply(0x0002)
    walk.next_call()
    walk.skip_unregistered()
    assert walk.done
    assert walk.calls[1] == Call("gone", "name-gone", 1, DeliveryKind.UNREGISTERED, NOTIFY_DONE, 0)
    assert not walk.calls[1].counts
    assert walk.result == 0x0002
    assert walk.errno == EPERM
    assert walk.vetoer is not None
    assert walk.vetoer.subscriber == "a"
    assert walk.notified == []


def test_skip_unregistered_does_not_overwrite_a_veto_or_count() -> None:
    """A skipped subscriber neither stops the walk nor counts among the notified."""
    walk = Walk(Action.MEM_ONLINE, chain_of("gone", "b"), 0)
    walk.next_call()
    walk.skip_unregistered()
    walk.next_call()
    walk.receive_reply(NOTIFY_OK)
    assert walk.result == NOTIFY_OK
    assert walk.notified == ["b"]


def test_filters_drop_events_without_counting_calls() -> None:
    """A filtered-out subscriber is never called and leaves no call record."""
    snapshot = [
        sub("other-action", 5, actions=frozenset({Action.MEM_OFFLINE})),
        sub("other-node", 4, nodes=frozenset({1})),
        sub("wanted", 3, actions=frozenset({Action.MEM_ONLINE}), nodes=frozenset({0})),
        sub("all", 2),
    ]
    walk = Walk(Action.MEM_ONLINE, snapshot, 0)
    assert reply_all(walk, {}) == ["wanted", "all"]
    assert [c.subscriber for c in walk.calls] == ["wanted", "all"]


def test_filters_leave_an_empty_walk() -> None:
    """When every subscriber filters the event out, the walk is empty: NOTIFY_DONE, no veto."""
    snapshot = [sub("a", nodes=frozenset({3}))]
    walk = Walk(Action.MEM_GOING_ONLINE, snapshot, 0)
    assert walk.done
    assert walk.result == NOTIFY_DONE
    assert walk.calls == []


# --- timeouts and absence (SPEC §4) ------------------------------------------------------


FAILURES = {
    "timeout": (Walk.receive_timeout, DeliveryKind.TIMEOUT, ETIMEDOUT),
    "absence": (Walk.receive_absence, DeliveryKind.DISCONNECTED, ENOTCONN),
    "disconnect": (Walk.receive_disconnect, DeliveryKind.DISCONNECTED, ENOTCONN),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("action", GOING)
def test_failure_under_fail_policy_on_going_vetoes(failure: str, action: Action) -> None:
    """fail on GOING_*: a timeout counts as from_errno(-ETIMEDOUT), absence as -ENOTCONN."""
    method, delivery, err = FAILURES[failure]
    walk = Walk(action, [sub("slow", 1, failure_policy=FailurePolicy.FAIL), sub("b")], 0)
    walk.next_call()
    method(walk)
    assert walk.done
    assert walk.result == notifier_from_errno(err)
    assert walk.errno == err
    assert walk.calls[0].delivery is delivery
    assert walk.calls[0].errno == err
    assert walk.vetoer == walk.calls[0]


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("action", GOING)
def test_failure_under_ignore_policy_on_going_is_notify_done(failure: str, action: Action) -> None:
    """ignore policy on GOING_*: a timeout or absence counts as NOTIFY_DONE; the walk goes on."""
    method, delivery, err = FAILURES[failure]
    walk = Walk(action, [sub("slow", 1, failure_policy=FailurePolicy.IGNORE), sub("b")], 0)
    walk.next_call()
    method(walk)
    assert not walk.done
    assert walk.calls[0].value == NOTIFY_DONE
    assert walk.calls[0].delivery is delivery
    assert walk.calls[0].errno == err
    assert walk.result == NOTIFY_DONE
    assert walk.errno == 0
    assert reply_all(walk, {}) == ["b"]


@pytest.mark.parametrize("policy", list(FailurePolicy))
@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("action", NOT_GOING)
def test_failure_on_other_events_is_always_notify_done(
    policy: FailurePolicy, failure: str, action: Action
) -> None:
    """On non-GOING events a timeout or absence is NOTIFY_DONE whatever the policy."""
    method, _, _ = FAILURES[failure]
    walk = Walk(action, [sub("slow", 1, failure_policy=policy), sub("b")], 0)
    walk.next_call()
    method(walk)
    assert walk.calls[0].value == NOTIFY_DONE
    assert not walk.done
    assert reply_all(walk, {}) == ["b"]
    assert walk.errno == 0


def test_latency_is_recorded_for_timeout_and_disconnect() -> None:
    """Timeouts and disconnects keep the latency they are given; absence has none."""
    walk = Walk(Action.MEM_ONLINE, chain_of("a", "b", "c"), 0)
    walk.next_call()
    walk.receive_timeout(latency_ms=5000.0)
    walk.next_call()
    walk.receive_disconnect(latency_ms=12.5)
    walk.next_call()
    walk.receive_absence()
    assert [c.latency_ms for c in walk.calls] == [5000.0, 12.5, 0.0]
    assert all(c.message is None for c in walk.calls)
