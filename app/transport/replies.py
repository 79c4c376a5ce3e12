"""Reading a subscriber's ``reply`` frame (SPEC §6) into the engine's ``Reply``.

Pure functions: text in, either a ``ParsedReply`` or a ``Rejection`` (what the
``error`` frame will say) out. Whether the id is awaited is the hub's question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson

from app.chain.values import INT32_MAX, INT32_MIN, MAX_ERRNO, RESULT_VALUES, notifier_from_errno
from app.engine.ports import Reply

__all__ = ["ParsedReply", "Rejection", "parse_reply"]

# The notifier values a reply may name (include/linux/notifier.h).
NOTIFY_VALUES = RESULT_VALUES
ERRNO_MIN, ERRNO_MAX = -MAX_ERRNO, -1  # the kernel's MAX_ERRNO range
MESSAGE_MAX_CHARS = 1024


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """A well-formed reply: which notification it answers, and the answer."""

    id: int
    reply: Reply


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a frame is unusable; becomes ``{"type": "error", "id", "message"}``."""

    id: int | None
    message: str


def parse_reply(text: str) -> ParsedReply | Rejection:
    """Validate one text frame as a ``reply``; never raises."""
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return Rejection(None, "frame is not valid JSON")
    if not isinstance(frame, dict):
        return Rejection(None, "frame is not a JSON object")
    reply_id = frame.get("id")
    known_id = reply_id if _is_int(reply_id) else None
    if frame.get("type") != "reply":
        return Rejection(known_id, "'type' must be \"reply\"")
    if known_id is None:
        return Rejection(None, "'id' must be an integer")
    return _parse_fields(known_id, frame)


def _parse_fields(reply_id: int, frame: dict[str, Any]) -> ParsedReply | Rejection:
    errno = frame.get("errno")
    if errno is not None and not (_is_int(errno) and ERRNO_MIN <= errno <= ERRNO_MAX):
        return Rejection(reply_id, f"'errno' must be an integer in {ERRNO_MIN}..{ERRNO_MAX}")
    message = frame.get("message")
    if message is not None and not isinstance(message, str):
        return Rejection(reply_id, "'message' must be a string")
    if message is not None and len(message) > MESSAGE_MAX_CHARS:
        return Rejection(reply_id, f"'message' is longer than {MESSAGE_MAX_CHARS} characters")
    value = _result_value(frame.get("result"), errno)
    if isinstance(value, str):
        return Rejection(reply_id, value)
    return ParsedReply(reply_id, Reply(value=value, errno=errno, message=message))


def _result_value(result: object, errno: int | None) -> int | str:
    """The notifier value of a reply, or the complaint about its ``result`` (a str)."""
    if errno is not None:
        # notifier_from_errno(); an errno makes ``result`` redundant, so a
        # missing one is fine, but one that is present must still be valid.
        complaint = None if result is None else _check_result(result)
        return complaint if complaint is not None else notifier_from_errno(errno)
    if result is None:
        return "'result' is required"
    complaint = _check_result(result)
    if complaint is not None:
        return complaint
    return result if isinstance(result, int) else NOTIFY_VALUES[str(result)]


def _check_result(result: object) -> str | None:
    if isinstance(result, str):
        return None if result in NOTIFY_VALUES else f"unknown 'result' name {result[:64]!r}"
    if _is_int(result) and INT32_MIN <= result <= INT32_MAX:
        return None
    return "'result' must be a NOTIFY_* name or a 32-bit signed integer"


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass, and true/false are not notification ids.
    return isinstance(value, int) and not isinstance(value, bool)
