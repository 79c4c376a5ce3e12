"""How the kernel reads what is written to sysfs and debugfs files (pure functions).

Each function is the Python twin of a kernel helper, with the same accepted
inputs and the same errno for the rest, so a script gets from the projection
the answer it would get from ``/sys``:

- `kstrtoull` / `kstrtoll` (``lib/kstrtox.c``): base 0 means ``0x`` hex,
  leading ``0`` octal, else decimal; one trailing newline allowed; ``-EINVAL``
  for anything else, ``-ERANGE`` past 64 bits.
- `kstrtobool`: only the first character (two for ``on``/``off``) counts.
- `sysfs_streq`: equal, except for one trailing newline on either side.
- `online_type_from_str` (``mhp_online_type_from_str``): the four words of
  ``state`` and ``auto_online_blocks``.
- `clamp_injected_errno`: the ``notifier-error-inject`` ``error`` files keep a
  value clamped to ``[-MAX_ERRNO, 0]``.

They raise `SysfsError` with a positive errno, as ``write(2)`` reports it.
"""

from __future__ import annotations

import errno
from typing import Final

from clients.sysfs.tree import SysfsError

MAX_ERRNO: Final = 4095
U64_MAX: Final = 2**64 - 1
S64_MAX: Final = 2**63 - 1
ONLINE_TYPES: Final = ("offline", "online", "online_kernel", "online_movable")
_DIGITS: Final = "0123456789abcdef"


def _radix(text: str, base: int) -> tuple[str, int]:
    """``_parse_integer_fixup_radix``: the base (when 0) and the text after ``0x``."""
    if base == 0:
        if text[:1] == "0":
            base = 16 if text[1:2].lower() == "x" and _is_digit(text[2:3], 16) else 8
        else:
            base = 10
    if base == 16 and text[:2].lower() == "0x":
        text = text[2:]
    return text, base


def _is_digit(char: str, base: int) -> bool:
    return len(char) == 1 and char.lower() in _DIGITS[:base]


def _kstrtoull_unsigned(text: str, base: int) -> int:
    """``_kstrtoull``: digits, then at most one newline, then nothing."""
    digits, base = _radix(text, base)
    count = 0
    while count < len(digits) and _is_digit(digits[count], base):
        count += 1
    if count == 0:
        raise SysfsError(errno.EINVAL, f"not a number: {text!r}")
    rest = digits[count:]
    if rest not in ("", "\n"):
        raise SysfsError(errno.EINVAL, f"not a number: {text!r}")
    value = int(digits[:count], base)
    if value > U64_MAX:
        raise SysfsError(errno.ERANGE, f"out of range: {text!r}")
    return value


def kstrtoull(text: str, base: int = 0) -> int:
    """The kernel's ``kstrtoull``: an unsigned 64-bit number (a leading ``+`` is allowed)."""
    if text.startswith("+"):
        text = text[1:]
    return _kstrtoull_unsigned(text, base)


def kstrtoll(text: str, base: int = 0) -> int:
    """The kernel's ``kstrtoll``: a signed 64-bit number."""
    if text.startswith("-"):
        magnitude = _kstrtoull_unsigned(text[1:], base)
        if magnitude > S64_MAX + 1:
            raise SysfsError(errno.ERANGE, f"out of range: {text!r}")
        return -magnitude
    value = kstrtoull(text, base)
    if value > S64_MAX:
        raise SysfsError(errno.ERANGE, f"out of range: {text!r}")
    return value


def kstrtobool(text: str) -> bool:
    """The kernel's ``kstrtobool``: y/Y/t/T/1, n/N/f/F/0, on/off (first letters only)."""
    first, second = text[:1], text[1:2]
    if first and first in "yYtT1":
        return True
    if first and first in "nNfF0":
        return False
    if first and first in "oO":
        if second and second in "nN":
            return True
        if second and second in "fF":
            return False
    raise SysfsError(errno.EINVAL, f"not a boolean: {text!r}")


def sysfs_streq(written: str, word: str) -> bool:
    """The kernel's ``sysfs_streq``: the same string, ignoring one trailing newline."""
    return written.removesuffix("\n") == word.removesuffix("\n")


def online_type_from_str(text: str) -> str:
    """``mhp_online_type_from_str``: offline, online, online_kernel or online_movable."""
    for word in ONLINE_TYPES:
        if sysfs_streq(text, word):
            return word
    raise SysfsError(errno.EINVAL, f"not an online type: {text!r}")


def clamp_injected_errno(value: int) -> int:
    """``clamp_t(int, val, -MAX_ERRNO, 0)``: what an ``error`` file keeps."""
    return max(-MAX_ERRNO, min(0, value))


def decode(data: bytes) -> str:
    """What was written, as text; sysfs stores at most a page minus the terminating NUL."""
    text = data[:4095].split(b"\0", 1)[0]
    try:
        return text.decode("ascii")
    except UnicodeDecodeError:
        raise SysfsError(errno.EINVAL, "not ASCII") from None
