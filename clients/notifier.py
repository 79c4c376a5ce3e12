"""The notifier vocabulary of the wire protocol: values, actions, errnos (SPEC §4, §6).

The numbers are the kernel's (``include/linux/notifier.h``, and the bit values
of ``include/linux/memory.h`` up to v6.18, which SPEC §6 pins for
``action_value``). Errno numbers are Linux's, whatever platform the client runs
on, because they are the service's numbers, not the local C library's.
"""

from __future__ import annotations

from typing import Final

NOTIFY_DONE: Final = 0x0000
NOTIFY_OK: Final = 0x0001
NOTIFY_STOP_MASK: Final = 0x8000
NOTIFY_BAD: Final = NOTIFY_STOP_MASK | 0x0002
NOTIFY_STOP: Final = NOTIFY_OK | NOTIFY_STOP_MASK

MAX_ERRNO: Final = 4095

#: The named notifier values a reply may carry as ``result``.
NOTIFY_VALUES: Final[dict[str, int]] = {
    "NOTIFY_DONE": NOTIFY_DONE,
    "NOTIFY_OK": NOTIFY_OK,
    "NOTIFY_BAD": NOTIFY_BAD,
    "NOTIFY_STOP": NOTIFY_STOP,
}

MEM_ONLINE: Final = 1
MEM_GOING_OFFLINE: Final = 2
MEM_OFFLINE: Final = 4
MEM_GOING_ONLINE: Final = 8
MEM_CANCEL_ONLINE: Final = 16
MEM_CANCEL_OFFLINE: Final = 32

#: Action names and their ``action_value`` (SPEC §6).
ACTIONS: Final[dict[str, int]] = {
    "MEM_ONLINE": MEM_ONLINE,
    "MEM_GOING_OFFLINE": MEM_GOING_OFFLINE,
    "MEM_OFFLINE": MEM_OFFLINE,
    "MEM_GOING_ONLINE": MEM_GOING_ONLINE,
    "MEM_CANCEL_ONLINE": MEM_CANCEL_ONLINE,
    "MEM_CANCEL_OFFLINE": MEM_CANCEL_OFFLINE,
}

#: The only actions whose result can veto a transition (SPEC §4).
GOING_ACTIONS: Final = frozenset({"MEM_GOING_ONLINE", "MEM_GOING_OFFLINE"})

# Linux errno numbers (asm-generic/errno-base.h, errno.h) a hotplug user meets.
ERRNO_NAMES: Final[dict[int, str]] = {
    1: "EPERM",
    2: "ENOENT",
    3: "ESRCH",
    4: "EINTR",
    5: "EIO",
    6: "ENXIO",
    7: "E2BIG",
    9: "EBADF",
    11: "EAGAIN",
    12: "ENOMEM",
    13: "EACCES",
    14: "EFAULT",
    16: "EBUSY",
    17: "EEXIST",
    19: "ENODEV",
    22: "EINVAL",
    24: "EMFILE",
    28: "ENOSPC",
    34: "ERANGE",
    35: "EDEADLK",
    38: "ENOSYS",
    61: "ENODATA",
    62: "ETIME",
    71: "EPROTO",
    75: "EOVERFLOW",
    95: "EOPNOTSUPP",
    103: "ECONNABORTED",
    104: "ECONNRESET",
    105: "ENOBUFS",
    107: "ENOTCONN",
    110: "ETIMEDOUT",
    111: "ECONNREFUSED",
    114: "EALREADY",
    115: "EINPROGRESS",
    122: "EDQUOT",
    125: "ECANCELED",
    133: "EHWPOISON",
}
ERRNO_NUMBERS: Final[dict[str, int]] = {name: number for number, name in ERRNO_NAMES.items()}

EPERM: Final = -1
EINTR: Final = -4
EIO: Final = -5
EAGAIN: Final = -11
ENOMEM: Final = -12
EBUSY: Final = -16
EINVAL: Final = -22
ENOTCONN: Final = -107
ETIMEDOUT: Final = -110


def notifier_from_errno(err: int) -> int:
    """The notifier value that carries ``err``: ``NOTIFY_STOP_MASK | (1 - err)``, or NOTIFY_OK."""
    if err:
        return NOTIFY_STOP_MASK | (NOTIFY_OK - err)
    return NOTIFY_OK


def notifier_to_errno(ret: int) -> int:
    """The errno a notifier value stands for (0 when none), exactly as the kernel computes it."""
    ret &= ~NOTIFY_STOP_MASK
    return NOTIFY_OK - ret if ret > NOTIFY_OK else 0


def result_name(value: int) -> str:
    """A readable name for a notifier value: ``NOTIFY_OK``, or ``0x800d (-ENOMEM)``."""
    for name, known in NOTIFY_VALUES.items():
        if known == value:
            return name
    err = notifier_to_errno(value)
    if err:
        return f"{value:#06x} ({errno_label(err)})"
    return f"{value:#06x}"


def parse_result(result: int | str) -> int:
    """A notifier value from a name (``NOTIFY_OK``, ``ok``) or a number (``1``, ``0x8001``).

    Raises ValueError for anything else, including numbers outside 0..0xffff.
    """
    if isinstance(result, bool):
        raise ValueError(f"not a notifier value: {result!r}")
    if isinstance(result, int):
        value = result
    else:
        text = result.strip().upper()
        key = text if text.startswith("NOTIFY_") else f"NOTIFY_{text}"
        if key in NOTIFY_VALUES:
            return NOTIFY_VALUES[key]
        try:
            value = int(text, 0)
        except ValueError:
            raise ValueError(f"not a notifier value: {result!r}") from None
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"notifier value out of range 0..0xffff: {value}")
    return value


def action_name(action: int | str) -> str:
    """The canonical action name for a name (any case, ``MEM_`` optional) or a value."""
    if isinstance(action, int):
        for name, value in ACTIONS.items():
            if value == action:
                return name
        raise ValueError(f"unknown action value: {action}")
    text = action.strip().upper().replace("-", "_")
    name = text if text.startswith("MEM_") else f"MEM_{text}"
    if name not in ACTIONS:
        raise ValueError(f"unknown action: {action!r} (one of {', '.join(ACTIONS)})")
    return name


def errno_name(err: int) -> str | None:
    """The symbolic name of an errno, sign ignored (``-16`` → ``EBUSY``), or None."""
    return ERRNO_NAMES.get(abs(err))


def errno_label(err: int) -> str:
    """Kernel style: ``-EBUSY`` for -16; ``-9999`` when the number has no name here."""
    name = errno_name(err)
    if name is None:
        return str(err)
    return f"-{name}" if err < 0 else name


def format_errno(err: int) -> str:
    """``-EBUSY (-16)``, for messages."""
    label = errno_label(err)
    return label if label == str(err) else f"{label} ({err})"


def parse_errno(text: str | int) -> int:
    """A negative errno from ``-16``, ``16``, ``EBUSY`` or ``-EBUSY`` (any case).

    User space writes errnos positive and the kernel negative; both mean the
    same error, so the sign is ignored. Raises ValueError outside 1..4095.
    """
    if isinstance(text, int):
        number = abs(text)
    else:
        word = text.strip().lstrip("-").upper()
        if word in ERRNO_NUMBERS:
            number = ERRNO_NUMBERS[word]
        else:
            try:
                number = abs(int(word, 0))
            except ValueError:
                raise ValueError(f"not an errno: {text!r}") from None
    if not 1 <= number <= MAX_ERRNO:
        raise ValueError(f"errno out of range 1..{MAX_ERRNO}: {text!r}")
    return -number
