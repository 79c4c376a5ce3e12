"""Errors raised by the client library.

Every error about the service is a `HotplugError`::

    HotplugError                 the service answered with problem details (RFC 9457)
    ├── HotplugConnectionError   the service could not be reached, or the connection broke
    │   └── HotplugTimeout       no answer within the client's timeout
    └── SubscriberStopped        a subscriber channel was closed for good (4004, 4001,
                                 or its handshake refused with 401/403/404)

A `HotplugError` carries what the problem details say: ``status``, ``title``,
``detail``, ``errno``, ``errno_name``, the ``transition`` record when the
service attached one (a 409 from a vetoed online/offline), and ``vetoed_by``.
Its ``str()`` is one line that names the vetoer and the errno.

`map_transport_errors` turns httpx's transport exceptions into these at the
boundary, like httpx maps httpcore's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, cast

import httpx

from clients.models import JSON, Transition, VetoedBy
from clients.notifier import errno_label


class HotplugError(Exception):
    """An error answer from hotplugd, with its problem details."""

    def __init__(
        self,
        title: str,
        *,
        status: int | None = None,
        detail: str | None = None,
        errno: int | None = None,
        errno_name: str | None = None,
        transition: Transition | None = None,
        transition_id: str | None = None,
        vetoed_by: VetoedBy | None = None,
        type: str | None = None,
        problem: JSON | None = None,
    ) -> None:
        super().__init__(title)
        self.title = title
        self.status = status
        self.detail = detail
        self.errno = errno
        self.errno_name = errno_name
        self.transition = transition
        self.transition_id = transition_id or (transition or {}).get("id")
        self.vetoed_by = vetoed_by or (transition or {}).get("vetoed_by")
        self.type = type
        self.problem = problem or {}

    def __str__(self) -> str:
        parts = [f"HTTP {self.status} {self.title}" if self.status else self.title]
        detail = self.detail
        if detail and self.vetoed_by:  # the veto is described below, with its errno
            detail = detail.split(": vetoed by ", 1)[0]
        if detail and detail != self.title:
            parts.append(detail)
        if self.vetoed_by:
            parts.append(describe_veto(self.vetoed_by, self.errno))
        elif self.errno:
            parts.append(self._errno_text(self.errno))
        return ": ".join(parts)

    def _errno_text(self, errno: int) -> str:
        label = errno_label(errno)
        if label == str(errno) and self.errno_name:
            label = f"-{self.errno_name.lstrip('-')}"
        return label if label == str(errno) else f"{label} ({errno})"

    @classmethod
    def from_response(cls, response: httpx.Response) -> HotplugError:
        """Build the error from a 4xx/5xx response, problem+json or not."""
        body = _json_or_none(response)
        if not isinstance(body, Mapping):
            text = response.text.strip().splitlines()[0][:200] if response.text.strip() else None
            return cls(response.reason_phrase or "error", status=response.status_code, detail=text)
        return cls._from_problem(body, response)

    @property
    def outcome(self) -> str | None:
        """The transition's outcome when the service attached the record."""
        return (self.transition or {}).get("outcome") or self.problem.get("outcome")

    @classmethod
    def _from_problem(cls, body: Mapping[str, Any], response: httpx.Response) -> HotplugError:
        transition = body.get("transition")
        record = cast(Transition, transition) if isinstance(transition, Mapping) else None
        errno = body.get("errno")
        if errno is None and record is not None:
            errno = record.get("errno")
        return cls(
            str(body.get("title") or response.reason_phrase or "error"),
            status=_status_of(body, response),
            detail=_detail_text(body.get("detail")),
            errno=errno if isinstance(errno, int) else None,
            errno_name=body.get("errno_name") or (record or {}).get("errno_name"),
            transition=record,
            transition_id=transition if isinstance(transition, str) else None,
            vetoed_by=body.get("vetoed_by"),
            type=body.get("type"),
            problem=dict(body),
        )


class HotplugConnectionError(HotplugError):
    """hotplugd could not be reached, or the connection broke before an answer."""


class HotplugTimeout(HotplugConnectionError):
    """No answer from hotplugd within the client's timeout."""


class SubscriberStopped(HotplugError):
    """The subscriber channel was closed for good; reconnecting would not help.

    ``code`` is the websocket close code (4004 unregistered, 4001 replaced) or
    None when the handshake itself was refused (``status`` then holds 401, 403
    or 404).
    """

    def __init__(self, title: str, *, code: int | None = None, status: int | None = None) -> None:
        super().__init__(title, status=status)
        self.code = code

    def __str__(self) -> str:
        return self.title


def describe_veto(vetoed_by: Mapping[str, Any], errno: int | None = None) -> str:
    """``vetoed by 'slub' (id 3f2a) with -ENOMEM (-12): no room``."""
    name = vetoed_by.get("name") or "?"
    ident = vetoed_by.get("subscriber")
    err = vetoed_by.get("errno", errno)
    text = f"vetoed by {name!r}"
    if ident and ident != name:
        text += f" (id {ident})"
    if isinstance(err, int) and err:
        label = errno_label(err)
        text += f" with {label}" if label == str(err) else f" with {label} ({err})"
    message = vetoed_by.get("message")
    return f"{text}: {message}" if message else text


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the `HotplugError` a 4xx/5xx response stands for; do nothing otherwise."""
    if response.status_code >= 400:
        raise HotplugError.from_response(response)


@contextlib.contextmanager
def map_transport_errors(url: str) -> Iterator[None]:
    """Turn httpx transport exceptions raised inside the block into HotplugConnectionError."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise HotplugTimeout(f"no answer from {url} in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        raise HotplugConnectionError(f"cannot reach {url}: {reason}") from exc


def _status_of(body: Mapping[str, Any], response: httpx.Response) -> int:
    """The problem's ``status`` when it is a number (``/readyz`` says ``"recovering"``)."""
    status = body.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        return status
    return response.status_code


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _detail_text(detail: Any) -> str | None:
    """``detail`` as one line; FastAPI's validation errors are a list of objects."""
    if detail is None or isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(_validation_text(item) for item in detail)
    return str(detail)


def _validation_text(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
    message = str(item.get("msg", item))
    return f"{where}: {message}" if where else message
