"""The kernel's parsers, as the projection applies them to writes."""

from __future__ import annotations

import errno

import pytest

from clients.sysfs.parse import (
    clamp_injected_errno,
    decode,
    kstrtobool,
    kstrtoll,
    kstrtoull,
    online_type_from_str,
    sysfs_streq,
)
from clients.sysfs.tree import SysfsError


def failure(call: object, *args: object) -> int:
    with pytest.raises(SysfsError) as raised:
        call(*args)  # type: ignore[operator]
    return raised.value.errno


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("10", 10),
        ("0x10", 16),
        ("0X1f", 31),
        ("010", 8),
        ("+7", 7),
        ("42\n", 42),
        ("0x140000000\n", 0x140000000),
        ("18446744073709551615", 2**64 - 1),
    ],
)
def test_kstrtoull_accepts(text: str, value: int) -> None:
    assert kstrtoull(text) == value


@pytest.mark.parametrize(
    "text", ["", "\n", "x", "0x", "0xg", "08", "1 ", " 1", "1\n\n", "-1", "++1", "1a", "0x1\n2"]
)
def test_kstrtoull_refuses(text: str) -> None:
    assert failure(kstrtoull, text) == errno.EINVAL


def test_kstrtoull_range() -> None:
    assert failure(kstrtoull, "18446744073709551616") == errno.ERANGE
    assert kstrtoull("ff", 16) == 255
    assert kstrtoull("0xff", 16) == 255


def test_kstrtoll() -> None:
    assert kstrtoll("-12\n") == -12
    assert kstrtoll("-0x10") == -16
    assert kstrtoll("-0") == 0
    assert kstrtoll("9223372036854775807") == 2**63 - 1
    assert kstrtoll("-9223372036854775808") == -(2**63)
    assert failure(kstrtoll, "9223372036854775808") == errno.ERANGE
    assert failure(kstrtoll, "-9223372036854775809") == errno.ERANGE
    assert failure(kstrtoll, "--1") == errno.EINVAL
    assert failure(kstrtoll, "-+1") == errno.EINVAL


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", True),
        ("y", True),
        ("Yes", True),
        ("t", True),
        ("on", True),
        ("ON\n", True),
        ("0", False),
        ("n", False),
        ("false", False),
        ("off", False),
        ("oF", False),
    ],
)
def test_kstrtobool(text: str, value: bool) -> None:
    assert kstrtobool(text) is value


@pytest.mark.parametrize("text", ["", "o", "ox", "2", "maybe", " 1"])
def test_kstrtobool_refuses(text: str) -> None:
    assert failure(kstrtobool, text) == errno.EINVAL


def test_sysfs_streq_and_online_types() -> None:
    assert sysfs_streq("online\n", "online")
    assert sysfs_streq("online", "online\n")
    assert not sysfs_streq("online\n\n", "online")
    assert not sysfs_streq("online ", "online")
    assert online_type_from_str("online_movable\n") == "online_movable"
    assert online_type_from_str("offline") == "offline"
    assert failure(online_type_from_str, "going-offline") == errno.EINVAL
    assert failure(online_type_from_str, "ONLINE") == errno.EINVAL


def test_clamp_and_decode() -> None:
    assert [clamp_injected_errno(v) for v in (-99999, -4095, -12, 0, 5)] == [
        -4095,
        -4095,
        -12,
        0,
        0,
    ]
    assert decode(b"online\n") == "online\n"
    assert decode(b"online\0garbage") == "online"
    assert decode(b"1" * 5000) == "1" * 4095
    assert failure(decode, b"\xff") == errno.EINVAL
