"""Notifier values and errno conversion against ``include/linux/notifier.h`` (SPEC §4)."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.chain.values import (
    EAGAIN,
    EBUSY,
    EEXIST,
    EINTR,
    EINVAL,
    EIO,
    ENOENT,
    ENOMEM,
    ENOTCONN,
    EOPNOTSUPP,
    EPERM,
    ETIMEDOUT,
    INT32_MAX,
    INT32_MIN,
    MAX_ERRNO,
    NOTIFY_BAD,
    NOTIFY_DONE,
    NOTIFY_OK,
    NOTIFY_STOP,
    NOTIFY_STOP_MASK,
    RESULT_VALUES,
    errno_name,
    errno_value,
    notifier_from_errno,
    notifier_to_errno,
    result_name,
    stops_walk,
)

int32 = st.integers(INT32_MIN, INT32_MAX)
errnos = st.integers(-MAX_ERRNO, -1)


def c_int(value: int) -> int:
    """Wrap an integer to a C ``int`` (32-bit two's complement)."""
    value &= 0xFFFFFFFF
    return value - 2**32 if value & 0x80000000 else value


def ref_notifier_to_errno(ret: int) -> int:
    """``notifier_to_errno`` computed on 32-bit C ints, independently of the code."""
    ret = c_int(c_int(ret) & c_int(~0x8000))
    return c_int(1 - ret) if ret > 1 else 0


def ref_notifier_from_errno(err: int) -> int:
    """``notifier_from_errno`` computed on 32-bit C ints, independently of the code."""
    return c_int(0x8000 | c_int(1 - err)) if err else 1


def test_constants_are_the_kernel_values() -> None:
    """The NOTIFY_* constants have exactly the values of notifier.h."""
    assert (NOTIFY_DONE, NOTIFY_OK, NOTIFY_STOP_MASK) == (0x0000, 0x0001, 0x8000)
    assert (NOTIFY_BAD, NOTIFY_STOP) == (0x8002, 0x8001)
    assert RESULT_VALUES == {
        "NOTIFY_DONE": 0,
        "NOTIFY_OK": 1,
        "NOTIFY_BAD": 0x8002,
        "NOTIFY_STOP": 0x8001,
    }
    assert (MAX_ERRNO, INT32_MIN, INT32_MAX) == (4095, -(2**31), 2**31 - 1)


def test_notifier_from_errno_zero_is_notify_ok() -> None:
    """notifier_from_errno(0) is NOTIFY_OK, not NOTIFY_DONE (kernel-notes §1.1)."""
    assert notifier_from_errno(0) == NOTIFY_OK


def test_notifier_from_errno_examples() -> None:
    """-ENOMEM encodes as 0x800D and -EBUSY as 0x8011, as kernel-notes §1.1 shows."""
    assert notifier_from_errno(-12) == 0x800D
    assert notifier_from_errno(-16) == 0x8011


def test_notify_bad_is_eperm() -> None:
    """NOTIFY_BAD <=> -EPERM in both directions."""
    assert notifier_to_errno(NOTIFY_BAD) == EPERM == -1
    assert notifier_from_errno(EPERM) == NOTIFY_BAD


@pytest.mark.parametrize("value", [NOTIFY_DONE, NOTIFY_OK, NOTIFY_STOP, NOTIFY_STOP_MASK])
def test_values_without_an_errno_convert_to_zero(value: int) -> None:
    """NOTIFY_DONE, NOTIFY_OK, NOTIFY_STOP and the bare stop bit carry no errno."""
    assert notifier_to_errno(value) == 0


def test_raw_two_without_stop_bit_is_eperm() -> None:
    """A plain 0x0002 (no stop bit) still converts to -EPERM: the stop bit is ignored."""
    assert notifier_to_errno(0x0002) == EPERM
    assert not stops_walk(0x0002)


def test_raw_negative_errno_stops_but_carries_no_errno() -> None:
    """A raw negative errno returned by mistake has bit 15 set (stops) and converts to 0."""
    assert stops_walk(-12)
    assert notifier_to_errno(-12) == 0


@given(errnos)
def test_errno_round_trips(err: int) -> None:
    """notifier_to_errno(notifier_from_errno(e)) == e for every errno in -4095..-1."""
    value = notifier_from_errno(err)
    assert stops_walk(value)
    assert notifier_to_errno(value) == err


@given(int32)
def test_notifier_to_errno_matches_c(value: int) -> None:
    """notifier_to_errno agrees with a 32-bit C model for every int reply value."""
    assert notifier_to_errno(value) == ref_notifier_to_errno(value)


@given(st.integers(-MAX_ERRNO, MAX_ERRNO))
def test_notifier_from_errno_matches_c(err: int) -> None:
    """notifier_from_errno agrees with a 32-bit C model, positive inputs included."""
    assert notifier_from_errno(err) == ref_notifier_from_errno(err)


@given(int32)
def test_stops_walk_is_the_stop_bit(value: int) -> None:
    """A value stops a walk exactly when bit 15 (0x8000) of its C int is set."""
    assert stops_walk(value) == bool(c_int(value) & 0x8000)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (NOTIFY_DONE, "NOTIFY_DONE"),
        (NOTIFY_OK, "NOTIFY_OK"),
        (NOTIFY_BAD, "NOTIFY_BAD"),
        (NOTIFY_STOP, "NOTIFY_STOP"),
        (notifier_from_errno(ENOMEM), "NOTIFY_STOP_MASK|ENOMEM"),
        (notifier_from_errno(ETIMEDOUT), "NOTIFY_STOP_MASK|ETIMEDOUT"),
        (0x0002, "0x2"),
        (NOTIFY_STOP_MASK, "0x8000"),
        (-12, "-12"),
    ],
)
def test_result_name(value: int, name: str) -> None:
    """result_name gives the NOTIFY_* name, the encoded errno, or the raw number."""
    assert result_name(value) == name


@pytest.mark.parametrize(
    ("err", "name"),
    [(0, "OK"), (-16, "EBUSY"), (16, "EBUSY"), (-1, "EPERM"), (-9999, "E9999")],
)
def test_errno_name(err: int, name: str) -> None:
    """errno_name gives the symbol of an errno of either sign, E<n> for an unknown one."""
    assert errno_name(err) == name


def test_errno_value() -> None:
    """errno_value turns a symbol (any case) into the negative errno."""
    assert errno_value("EBUSY") == -errno.EBUSY
    assert errno_value("etimedout") == -errno.ETIMEDOUT


@pytest.mark.parametrize("name", ["ENOSUCHTHING", "errorcode"])
def test_errno_value_rejects_unknown_names(name: str) -> None:
    """errno_value refuses a name that is not an errno symbol."""
    with pytest.raises(ValueError, match="unknown errno name"):
        errno_value(name)


def test_errno_constants_are_negative_errnos() -> None:
    """The exported errno constants are the negated errno-module values."""
    pairs = [
        (EPERM, errno.EPERM),
        (EINTR, errno.EINTR),
        (EINVAL, errno.EINVAL),
        (EBUSY, errno.EBUSY),
        (ENOMEM, errno.ENOMEM),
        (ETIMEDOUT, errno.ETIMEDOUT),
        (ENOTCONN, errno.ENOTCONN),
        (EEXIST, errno.EEXIST),
        (ENOENT, errno.ENOENT),
        (EAGAIN, errno.EAGAIN),
        (EIO, errno.EIO),
        (EOPNOTSUPP, errno.EOPNOTSUPP),
    ]
    assert all(ours == -theirs for ours, theirs in pairs)
