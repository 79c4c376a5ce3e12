"""The ordered chain (kernel ``notifier_chain_register``; SPEC §4 order and priority changes)."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.chain.actions import Action
from app.chain.chain import Chain, ChainError, FailurePolicy, Subscription
from app.chain.values import INT32_MAX, INT32_MIN


def sub(sid: str, priority: int = 0, **fields: object) -> Subscription:
    """A subscription named after its id."""
    return Subscription(id=sid, name=f"name-{sid}", priority=priority, **fields)  # type: ignore[arg-type]


def order(chain: Chain) -> list[str]:
    """The ids in call order."""
    return [entry.id for entry in chain]


# --- the reference: a plain list kept in call order --------------------------------------


def ref_insert(ref: list[tuple[str, int]], sid: str, priority: int) -> None:
    """Append at the end of the priority group: after every entry of equal or higher priority."""
    position = 0
    for i, (_, p) in enumerate(ref):
        if p >= priority:
            position = i + 1
    ref.insert(position, (sid, priority))


def ref_remove(ref: list[tuple[str, int]], sid: str) -> int:
    """Remove an entry and return its priority."""
    index = next(i for i, (s, _) in enumerate(ref) if s == sid)
    return ref.pop(index)[1]


priorities = st.one_of(
    st.sampled_from([INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX]),
    st.integers(-2, 2),
    st.integers(INT32_MIN, INT32_MAX),
)
ids = st.sampled_from(["a", "b", "c", "d", "e", "f"])
Op = tuple[Literal["register", "unregister", "update"], str, int]
ops = st.lists(
    st.tuples(st.sampled_from(["register", "unregister", "update"]), ids, priorities),
    max_size=40,
)


@settings(deadline=None)
@given(ops)
def test_order_matches_plain_reference(operations: list[Op]) -> None:
    """After any register/unregister/priority-update sequence the order equals the reference."""
    chain = Chain()
    ref: list[tuple[str, int]] = []
    for kind, sid, priority in operations:
        known = any(s == sid for s, _ in ref)
        if kind == "register":
            if known:
                with pytest.raises(ChainError):
                    chain.register(sub(sid, priority))
            else:
                chain.register(sub(sid, priority))
                ref_insert(ref, sid, priority)
        elif kind == "unregister":
            if known:
                assert chain.unregister(sid).id == sid
                ref_remove(ref, sid)
            else:
                with pytest.raises(ChainError):
                    chain.unregister(sid)
        elif known:
            old = ref_remove(ref, sid)
            if old == priority:
                index = next(i for i, entry in enumerate(order(chain)) if entry == sid)
                ref.insert(index, (sid, priority))
            else:
                ref_insert(ref, sid, priority)
            chain.update(sid, priority=priority)
        else:
            with pytest.raises(ChainError):
                chain.update(sid, priority=priority)
        assert order(chain) == [s for s, _ in ref]
        assert [e.priority for e in chain] == [p for _, p in ref]
        assert [e.priority for e in chain] == sorted((p for _, p in ref), reverse=True)
        assert len(chain) == len(ref)


def test_higher_priority_runs_first() -> None:
    """Higher priority is called first; negative priorities come after zero."""
    chain = Chain()
    for sid, priority in [("low", -5), ("mid", 0), ("high", 100), ("top", INT32_MAX)]:
        chain.register(sub(sid, priority))
    chain.register(sub("bottom", INT32_MIN))
    assert order(chain) == ["top", "high", "mid", "low", "bottom"]


def test_equal_priorities_run_fifo() -> None:
    """Among equal priorities the earlier registration is called first (kernel-notes §9.7)."""
    chain = Chain()
    for sid in ["first", "second", "third"]:
        chain.register(sub(sid, 7))
    chain.register(sub("higher", 8))
    chain.register(sub("fourth", 7))
    assert order(chain) == ["higher", "first", "second", "third", "fourth"]


def test_register_stamps_increasing_seq() -> None:
    """register returns the subscription stamped with a fresh, increasing sequence number."""
    chain = Chain()
    a = chain.register(sub("a"))
    b = chain.register(sub("b"))
    assert a.seq < b.seq
    assert chain.get("a") == a


def test_duplicate_registration_is_refused() -> None:
    """Registering an id twice is refused (the kernel's -EEXIST) and changes nothing."""
    chain = Chain()
    chain.register(sub("a", 1))
    with pytest.raises(ChainError, match="already registered"):
        chain.register(sub("a", 2))
    assert [(e.id, e.priority) for e in chain] == [("a", 1)]


@pytest.mark.parametrize("priority", [INT32_MIN - 1, INT32_MAX + 1, 2**40])
def test_priority_outside_int32_is_refused(priority: int) -> None:
    """A priority that is not a 32-bit signed int is refused."""
    chain = Chain()
    with pytest.raises(ChainError, match="32-bit"):
        chain.register(sub("a", priority))
    assert len(chain) == 0


def test_unregister_unknown_is_refused() -> None:
    """Unregistering an unknown id is refused (the kernel's -ENOENT)."""
    with pytest.raises(ChainError, match="not registered"):
        Chain().unregister("ghost")


def test_unregister_removes_and_returns() -> None:
    """unregister removes the subscriber and returns what it was."""
    chain = Chain([sub("a", 1), sub("b", 0)])
    removed = chain.unregister("a")
    assert removed.id == "a"
    assert "a" not in chain
    assert chain.get("a") is None
    assert order(chain) == ["b"]


def test_priority_change_places_subscriber_last_in_its_new_group() -> None:
    """A priority change lands after the existing subscribers of the new priority."""
    chain = Chain()
    for sid, priority in [("a", 5), ("b", 5), ("c", 1), ("d", 1)]:
        chain.register(sub(sid, priority))
    chain.update("a", priority=1)
    assert order(chain) == ["b", "c", "d", "a"]


def test_setting_the_same_priority_changes_nothing() -> None:
    """Setting the priority a subscriber already has keeps its place and its seq."""
    chain = Chain()
    for sid in ["a", "b", "c"]:
        chain.register(sub(sid, 3))
    before = chain.get("a")
    after = chain.update("a", priority=3)
    assert order(chain) == ["a", "b", "c"]
    assert after == before


def test_update_of_other_fields_keeps_the_place() -> None:
    """Changing filters, timeout or policy keeps the subscriber where it is."""
    chain = Chain()
    for sid in ["a", "b"]:
        chain.register(sub(sid))
    updated = chain.update(
        "a",
        timeout_ms=100,
        failure_policy=FailurePolicy.IGNORE,
        actions=frozenset({Action.MEM_ONLINE}),
        nodes=frozenset({1}),
    )
    assert order(chain) == ["a", "b"]
    assert chain.get("a") == updated
    assert (updated.timeout_ms, updated.failure_policy) == (100, FailurePolicy.IGNORE)
    assert next(iter(chain)) == updated


def test_update_unknown_is_refused() -> None:
    """Updating an unknown id is refused."""
    with pytest.raises(ChainError, match="not registered"):
        Chain().update("ghost", priority=1)


@pytest.mark.parametrize("field", ["id", "seq"])
def test_update_cannot_change_identity(field: str) -> None:
    """id and seq cannot be changed through update."""
    chain = Chain([sub("a")])
    with pytest.raises(ChainError, match="cannot be changed"):
        chain.update("a", **{field: 9})


def test_update_to_invalid_priority_keeps_the_subscriber() -> None:
    """A refused priority change leaves the subscriber registered where it was."""
    chain = Chain()
    for sid in ["a", "b"]:
        chain.register(sub(sid, 1))
    with pytest.raises(ChainError, match="32-bit"):
        chain.update("a", priority=INT32_MAX + 1)
    assert order(chain) == ["a", "b"]
    assert chain.get("a") is not None


def test_snapshot_is_not_affected_by_later_changes() -> None:
    """A snapshot keeps its membership and order whatever happens to the chain after it."""
    chain = Chain()
    for sid, priority in [("a", 1), ("b", 0)]:
        chain.register(sub(sid, priority))
    snapshot = chain.snapshot()
    chain.register(sub("c", 9))
    chain.unregister("a")
    chain.update("b", priority=10)
    assert [e.id for e in snapshot] == ["a", "b"]
    assert [e.priority for e in snapshot] == [1, 0]
    assert order(chain) == ["b", "c"]


def test_chain_from_existing_subscriptions() -> None:
    """A chain rebuilt from stored subscriptions sorts them and continues their seq numbers."""
    stored = [sub("x", 0, seq=4), sub("y", 2, seq=9), sub("z", 0, seq=1)]
    chain = Chain(stored)
    assert order(chain) == ["y", "z", "x"]
    assert len(chain) == 3
    assert "x" in chain
    assert chain.register(sub("w", 0)).seq == 10
    assert order(chain) == ["y", "z", "x", "w"]


def test_chain_from_duplicate_ids_is_refused() -> None:
    """Two stored subscriptions with the same id are refused."""
    with pytest.raises(ChainError, match="duplicate"):
        Chain([sub("a", seq=1), sub("a", seq=2)])


def test_empty_chain_starts_seq_at_one() -> None:
    """The first registration on an empty chain gets seq 1."""
    assert Chain().register(sub("a")).seq == 1


def test_wants_without_filters_takes_everything() -> None:
    """A subscriber without filters wants every action on every node."""
    s = sub("a")
    assert all(s.wants(action, node) for action in Action for node in (0, 1, 1023))


def test_wants_filters_by_action_and_node() -> None:
    """Action and node filters each drop the events outside them."""
    by_action = sub("a", actions=frozenset({Action.MEM_ONLINE}))
    by_node = sub("b", nodes=frozenset({2}))
    both = sub("c", actions=frozenset({Action.MEM_OFFLINE}), nodes=frozenset({0}))
    assert by_action.wants(Action.MEM_ONLINE, 5)
    assert not by_action.wants(Action.MEM_OFFLINE, 5)
    assert by_node.wants(Action.MEM_OFFLINE, 2)
    assert not by_node.wants(Action.MEM_OFFLINE, 3)
    assert both.wants(Action.MEM_OFFLINE, 0)
    assert not both.wants(Action.MEM_OFFLINE, 1)
    assert not both.wants(Action.MEM_ONLINE, 0)


def test_order_key_and_defaults() -> None:
    """order_key is (-priority, seq); defaults are priority 0, 5000 ms, policy fail."""
    s = Subscription(id="a", name="a")
    assert (s.priority, s.timeout_ms, s.failure_policy) == (0, 5000, FailurePolicy.FAIL)
    assert sub("b", 7, seq=3).order_key == (-7, 3)
    assert FailurePolicy("ignore") is FailurePolicy.IGNORE
