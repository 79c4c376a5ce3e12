"""Notifier return values and errno conversion, exactly as ``include/linux/notifier.h``.

The values are C ``int``s in the kernel. Python ints behave like two's
complement for ``&`` and ``|``, so a raw negative value returned by mistake has
the stop bit set (it stops a walk) and still converts to errno 0 (no veto),
just as in C.
"""

from __future__ import annotations

import errno as _errno

NOTIFY_DONE = 0x0000
NOTIFY_OK = 0x0001
NOTIFY_STOP_MASK = 0x8000
NOTIFY_BAD = NOTIFY_STOP_MASK | 0x0002
NOTIFY_STOP = NOTIFY_OK | NOTIFY_STOP_MASK

MAX_ERRNO = 4095
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

RESULT_VALUES: dict[str, int] = {
    "NOTIFY_DONE": NOTIFY_DONE,
    "NOTIFY_OK": NOTIFY_OK,
    "NOTIFY_BAD": NOTIFY_BAD,
    "NOTIFY_STOP": NOTIFY_STOP,
}
_RESULT_NAMES = {value: name for name, value in RESULT_VALUES.items()}


def notifier_from_errno(err: int) -> int:
    """Encode a negative errno as a notifier value (``NOTIFY_OK`` for 0)."""
    if err:
        return NOTIFY_STOP_MASK | (NOTIFY_OK - err)
    return NOTIFY_OK


def notifier_to_errno(ret: int) -> int:
    """Decode a notifier value to a negative errno, 0 when it carries none."""
    ret &= ~NOTIFY_STOP_MASK
    return NOTIFY_OK - ret if ret > NOTIFY_OK else 0


def stops_walk(value: int) -> bool:
    """Whether a reply with this value ends the walk (the stop bit)."""
    return bool(value & NOTIFY_STOP_MASK)


def result_name(value: int) -> str:
    """A readable name for a notifier value: ``NOTIFY_*``, or what it encodes.

    ``notifier_from_errno(-ENOMEM)`` reads ``NOTIFY_STOP_MASK|ENOMEM``; any
    other value reads as its hex form.
    """
    name = _RESULT_NAMES.get(value)
    if name is not None:
        return name
    err = notifier_to_errno(value)
    if stops_walk(value) and err:
        return f"NOTIFY_STOP_MASK|{errno_name(err)}"
    return f"{value:#x}" if value >= 0 else str(value)


def errno_name(err: int) -> str:
    """The symbolic name of a (negative or positive) errno, e.g. ``-16`` → ``EBUSY``."""
    if err == 0:
        return "OK"
    return _errno.errorcode.get(abs(err), f"E{abs(err)}")


def errno_value(name: str) -> int:
    """The negative errno for a symbolic name, e.g. ``EBUSY`` → ``-16``."""
    code = getattr(_errno, name.upper(), None)
    if not isinstance(code, int):
        raise ValueError(f"unknown errno name: {name!r}")
    return -code


EPERM = -_errno.EPERM
EINTR = -_errno.EINTR
EINVAL = -_errno.EINVAL
EBUSY = -_errno.EBUSY
ENOMEM = -_errno.ENOMEM
ETIMEDOUT = -_errno.ETIMEDOUT
ENOTCONN = -_errno.ENOTCONN
EEXIST = -_errno.EEXIST
ENOENT = -_errno.ENOENT
EAGAIN = -_errno.EAGAIN
EIO = -_errno.EIO
ENODEV = -_errno.ENODEV
EOPNOTSUPP = -_errno.EOPNOTSUPP
