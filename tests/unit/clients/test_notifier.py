"""The notifier vocabulary: values, conversions, actions, errnos (SPEC §4, §6)."""

from __future__ import annotations

import pytest

from clients import notifier
from clients.notifier import (
    NOTIFY_BAD,
    NOTIFY_DONE,
    NOTIFY_OK,
    NOTIFY_STOP,
    NOTIFY_STOP_MASK,
    action_name,
    errno_label,
    errno_name,
    format_errno,
    notifier_from_errno,
    notifier_to_errno,
    parse_errno,
    parse_result,
    result_name,
)


def test_values_are_the_kernel_ones() -> None:
    assert (NOTIFY_DONE, NOTIFY_OK, NOTIFY_STOP_MASK) == (0x0000, 0x0001, 0x8000)
    assert (NOTIFY_BAD, NOTIFY_STOP) == (0x8002, 0x8001)


@pytest.mark.parametrize(
    ("err", "value"), [(0, NOTIFY_OK), (-12, 0x800D), (-16, 0x8011), (-1, NOTIFY_BAD)]
)
def test_notifier_from_errno(err: int, value: int) -> None:
    assert notifier_from_errno(err) == value


@pytest.mark.parametrize(
    ("value", "err"),
    [
        (NOTIFY_DONE, 0),
        (NOTIFY_OK, 0),
        (NOTIFY_STOP, 0),  # stops the walk but does not veto
        (NOTIFY_BAD, -1),  # NOTIFY_BAD <=> -EPERM
        (0x0002, -1),  # the stop bit is ignored
        (0x800D, -12),
        (-12, 0),  # a raw negative errno by mistake maps to no error
    ],
)
def test_notifier_to_errno(value: int, err: int) -> None:
    assert notifier_to_errno(value) == err


@pytest.mark.parametrize("err", [-1, -4, -12, -16, -110, -4095])
def test_errno_round_trips(err: int) -> None:
    assert notifier_to_errno(notifier_from_errno(err)) == err


def test_result_names() -> None:
    assert result_name(NOTIFY_OK) == "NOTIFY_OK"
    assert result_name(NOTIFY_BAD) == "NOTIFY_BAD"
    assert result_name(0x800D) == "0x800d (-ENOMEM)"
    assert result_name(0x0003) == "0x0003 (-ENOENT)"  # no stop bit, rest > 1: still an errno
    assert result_name(0x8000) == "0x8000"
    assert result_name(0x0010) == "0x0010 (-15)"


@pytest.mark.parametrize(
    ("given", "value"),
    [("NOTIFY_OK", 1), ("ok", 1), (" notify_stop ", NOTIFY_STOP), ("bad", NOTIFY_BAD), (0, 0)],
)
def test_parse_result_names_and_numbers(given: str | int, value: int) -> None:
    assert parse_result(given) == value


@pytest.mark.parametrize("given", ["0x8001", "32769"])
def test_parse_result_number_text(given: str) -> None:
    assert parse_result(given) == NOTIFY_STOP


@pytest.mark.parametrize("given", ["NOTIFY_MAYBE", "", -1, 0x10000, True])
def test_parse_result_rejects(given: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by case
        parse_result(given)  # type: ignore[arg-type]


def test_actions_carry_the_bit_values_of_spec() -> None:
    assert notifier.ACTIONS == {
        "MEM_ONLINE": 1,
        "MEM_GOING_OFFLINE": 2,
        "MEM_OFFLINE": 4,
        "MEM_GOING_ONLINE": 8,
        "MEM_CANCEL_ONLINE": 16,
        "MEM_CANCEL_OFFLINE": 32,
    }
    assert {"MEM_GOING_ONLINE", "MEM_GOING_OFFLINE"} == notifier.GOING_ACTIONS


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("MEM_ONLINE", "MEM_ONLINE"),
        ("going-offline", "MEM_GOING_OFFLINE"),
        (16, "MEM_CANCEL_ONLINE"),
    ],
)
def test_action_name(given: str | int, name: str) -> None:
    assert action_name(given) == name


@pytest.mark.parametrize("given", ["MEM_PREPARE", 3])
def test_action_name_rejects_unknown(given: str | int) -> None:
    with pytest.raises(ValueError, match="unknown action"):
        action_name(given)


@pytest.mark.parametrize(
    ("given", "err"), [("-16", -16), ("16", -16), ("EBUSY", -16), ("-ebusy", -16)]
)
def test_parse_errno(given: str, err: int) -> None:
    assert parse_errno(given) == err


@pytest.mark.parametrize("given", ["0", "4096", "EWHATEVER", ""])
def test_parse_errno_rejects(given: str) -> None:
    with pytest.raises(ValueError, match="errno"):
        parse_errno(given)


def test_errno_labels() -> None:
    assert errno_name(-12) == errno_name(12) == "ENOMEM"
    assert errno_name(-999) is None
    assert errno_label(-16) == "-EBUSY"
    assert errno_label(16) == "EBUSY"
    assert errno_label(-999) == "-999"
    assert format_errno(-110) == "-ETIMEDOUT (-110)"
    assert format_errno(-999) == "-999"
    assert notifier.ERRNO_NAMES[107] == "ENOTCONN"
    assert notifier.ERRNO_NAMES[4] == "EINTR"
