"""`Subscriber`: a remote member of the memory hotplug notifier chain (SPEC §6).

    sub = await Subscriber.register(client, "my-cache", priority=10)

    @sub.on("MEM_GOING_OFFLINE")
    async def going_offline(n: Notification) -> str:
        if not await cache.can_drop(n.arg.start_pfn, n.arg.nr_pages):
            raise Veto(-16, "cache pinned")         # vetoes with -EBUSY
        return "NOTIFY_OK"

    async with sub:                                  # connects, reconnects, closes
        await sub.wait_connected()
        ...

How each notification is answered (the kernel's rules, plus the network's):

- an action with no handler (and no catch-all) answers ``NOTIFY_DONE``:
  "not yours → NOTIFY_DONE";
- a handler returns a ``NOTIFY_*`` value (int or name); None means NOTIFY_OK;
- ``raise Veto(errno, message)`` answers ``notifier_from_errno(errno)`` with the
  errno and message. On a ``MEM_GOING_*`` event that vetoes the transition; on
  any other event it only stops the walk (the kernel ignores those results),
  which is logged as a warning;
- a handler that raises anything else, or overruns its time budget, is answered
  by the ``on_error`` policy, and logged, never silently:
  ``"veto"`` (default): a ``MEM_GOING_*`` event is vetoed with ``-EIO`` (an
  exception) or ``-ETIMEDOUT`` (over budget), mirroring how the service itself
  counts a subscriber that times out; other events answer ``NOTIFY_DONE``,
  because a stop bit there would hide the event from lower-priority
  subscribers. ``"ok"``: every event answers ``NOTIFY_OK``. Either way the
  reply's ``message`` says what went wrong, so the transition record shows it;
- the time budget (``handler_timeout``) is ``"auto"`` by default: 90% of the
  notification's ``timeout_ms``, so the policy answers before the service
  gives up; a number of seconds; or None for no local limit;
- a notification sent again after a reconnect (same ``id``) is answered from
  a cache of recent replies, never by running the handler twice.

Reconnection: exponential backoff with full jitter (`Backoff`). Close code 1001
(service shutting down) and network failures reconnect; 4004 (unregistered)
and 4001 (replaced by a newer connection), or a handshake refused with
401/403/404, stop the subscriber with `SubscriberStopped`.

The answering logic is `Dispatcher`: frames in, replies out, no network, so it
can be tested by feeding it frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict, TypeVar, Unpack

from websockets.exceptions import ConnectionClosed, InvalidURI, WebSocketException

from clients._ws import (
    Channel,
    Connector,
    bearer,
    default_connector,
    handshake_status,
    is_fatal_handshake,
    to_ws_url,
)
from clients.backoff import Backoff
from clients.errors import HotplugConnectionError, SubscriberStopped
from clients.models import JSON, Notification, ProtocolError, Registration
from clients.notifier import (
    EIO,
    EPERM,
    ETIMEDOUT,
    GOING_ACTIONS,
    NOTIFY_DONE,
    NOTIFY_OK,
    NOTIFY_VALUES,
    action_name,
    format_errno,
    notifier_from_errno,
    parse_errno,
    parse_result,
    result_name,
)

if TYPE_CHECKING:
    from clients.client import HotplugClient

logger = logging.getLogger("clients.subscriber")

OnError = Literal["veto", "ok"]
HandlerTimeout = float | Literal["auto"] | None
HandlerResult = int | str | None
Handler = Callable[[Notification], object]
H = TypeVar("H", bound=Handler)

CATCH_ALL: Final = "*"
ERROR_ERRNO: Final = EIO  # the veto for a handler that raised
TIMEOUT_ERRNO: Final = ETIMEDOUT  # the veto for a handler over its budget
AUTO_BUDGET_FRACTION: Final = 0.9
MAX_MESSAGE_BYTES: Final = 1024
CLOSE_UNREGISTERED: Final = 4004
CLOSE_REPLACED: Final = 4001


class Veto(Exception):
    """Raise from a handler to answer ``notifier_from_errno(errno)`` with a message.

    ``errno`` may be written ``-16``, ``16``, ``"EBUSY"`` or ``"-EBUSY"``; the
    default, -EPERM, is what ``NOTIFY_BAD`` stands for.
    """

    def __init__(self, errno: int | str = EPERM, message: str | None = None) -> None:
        self.errno = parse_errno(errno)
        self.message = message
        super().__init__(message or format_errno(self.errno))


class AnswerSource(enum.Enum):
    """Where a reply came from."""

    HANDLER = "handler"  # the handler's return value
    VETO = "veto"  # the handler raised Veto
    ERROR = "error"  # the handler raised something else: on_error policy
    TIMEOUT = "timeout"  # the handler overran its budget: on_error policy
    UNHANDLED = "unhandled"  # no handler for the action: NOTIFY_DONE
    RESENT = "resent"  # the same notification again: the cached reply


@dataclass(frozen=True, slots=True)
class Reply:
    """A ``reply`` frame."""

    id: int
    value: int
    errno: int | None = None
    message: str | None = None

    @property
    def result(self) -> str:
        """The value's readable name."""
        return result_name(self.value)

    def to_frame(self) -> JSON:
        """The JSON object sent to the service."""
        names = {value: name for name, value in NOTIFY_VALUES.items()}
        frame: JSON = {"type": "reply", "id": self.id, "result": names.get(self.value, self.value)}
        if self.errno is not None:
            frame["errno"] = self.errno
        if self.message:
            frame["message"] = self.message
        return frame


@dataclass(frozen=True, slots=True)
class Answer:
    """One notification and how it was answered (for observers and logs)."""

    notification: Notification
    reply: Reply
    source: AnswerSource
    elapsed: float
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class Hello:
    """The ``hello`` frame: the channel is open and the service knows us."""

    subscriber: JSON
    protocol: int | None


@dataclass(frozen=True, slots=True)
class ServerError:
    """An ``error`` frame: the service could not use something we sent."""

    id: int | None
    message: str


Received = Reply | Hello | ServerError | None


StatusKind = Literal["connected", "disconnected", "reconnecting", "server-error", "stopped"]


@dataclass(frozen=True, slots=True)
class Status:
    """A change in the subscriber's connection, for observers."""

    kind: StatusKind
    detail: str
    code: int | None = None
    delay: float | None = None


def _truncate(message: str) -> str:
    """At most MAX_MESSAGE_BYTES of UTF-8 (SPEC §6)."""
    data = message.encode()
    if len(data) <= MAX_MESSAGE_BYTES:
        return message
    return data[:MAX_MESSAGE_BYTES].decode(errors="ignore")


def _coerce(result: object) -> int:
    """A handler's return value as a notifier value; TypeError/ValueError when it is none."""
    if result is None:
        return NOTIFY_OK
    if isinstance(result, int | str) and not isinstance(result, bool):
        return parse_result(result)
    raise TypeError(f"handler returned {result!r}; expected a NOTIFY_* value (int or name)")


def _notify_safely(callback: Callable[[Any], object] | None, value: object) -> None:
    """Call an observer; its failure is logged, never allowed to break the protocol."""
    if callback is None:
        return
    try:
        callback(value)
    except Exception:
        logger.exception("observer %r failed", callback)


class Dispatcher:
    """Answers notification frames with handlers: frames in, replies out, no network."""

    def __init__(
        self,
        *,
        on_error: OnError = "veto",
        handler_timeout: HandlerTimeout = "auto",
        cache_size: int = 256,
        on_answer: Callable[[Answer], object] | None = None,
    ) -> None:
        if on_error not in ("veto", "ok"):
            raise ValueError(f"on_error must be 'veto' or 'ok', not {on_error!r}")
        self.on_error: OnError = on_error
        self.handler_timeout = handler_timeout
        self.on_answer = on_answer
        self._handlers: dict[str, Handler] = {}
        self._answers: OrderedDict[int, Reply] = OrderedDict()
        self._cache_size = cache_size

    def on(self, *actions: str | int) -> Callable[[H], H]:
        """Decorator: handle these actions (names or values); none, or ``"*"``, catches all."""
        keys = [CATCH_ALL if a == CATCH_ALL else action_name(a) for a in actions] or [CATCH_ALL]

        def register(handler: H) -> H:
            """Remember ``handler`` for the actions; return it unchanged."""
            for key in keys:
                self._handlers[key] = handler
            return handler

        return register

    def handler_for(self, action: str) -> Handler | None:
        """The handler that will answer ``action``, or None (→ NOTIFY_DONE)."""
        return self._handlers.get(action) or self._handlers.get(CATCH_ALL)

    async def receive(self, frame: str | bytes) -> Received:
        """Take one text frame from the service; return what to do about it."""
        try:
            obj = json.loads(frame)
        except ValueError:
            logger.warning("ignoring a frame that is not JSON: %.80r", frame)
            return None
        if not isinstance(obj, Mapping):
            logger.warning("ignoring a frame that is not an object: %.80r", frame)
            return None
        return await self.dispatch(obj)

    async def dispatch(self, frame: Mapping[str, Any]) -> Received:
        """Like `receive`, for an already decoded frame."""
        kind = frame.get("type")
        if kind == "notify":
            return await self._notify(frame)
        if kind == "hello":
            protocol = frame.get("protocol")
            return Hello(dict(frame.get("subscriber") or {}), protocol)
        if kind == "error":
            error_id = frame.get("id")
            message = str(frame.get("message", ""))
            logger.warning("service error frame (id %s): %s", error_id, message)
            return ServerError(error_id if isinstance(error_id, int) else None, message)
        logger.warning("ignoring a frame of unknown type %r", kind)
        return None

    async def _notify(self, frame: Mapping[str, Any]) -> Reply | None:
        try:
            notification = Notification.from_wire(frame)
        except ProtocolError as exc:
            return self._malformed(frame, exc)
        answer = await self.answer(notification)
        _notify_safely(self.on_answer, answer)
        return answer.reply

    async def answer(self, notification: Notification) -> Answer:
        """Answer one notification: from the cache if it was answered before, else by handler."""
        started = time.monotonic()
        cached = self._answers.get(notification.id)
        if cached is not None:
            logger.info("notification %d sent again; re-sending its reply", notification.id)
            return Answer(notification, cached, AnswerSource.RESENT, 0.0)
        reply, source, error = await self._run(notification)
        self._remember(reply)
        return Answer(notification, reply, source, time.monotonic() - started, error)

    def _remember(self, reply: Reply) -> None:
        self._answers[reply.id] = reply
        while len(self._answers) > self._cache_size:
            self._answers.popitem(last=False)

    def budget(self, notification: Notification) -> float | None:
        """The handler's time budget for this notification, in seconds (None: unbounded)."""
        if self.handler_timeout == "auto":
            return notification.timeout_ms / 1000 * AUTO_BUDGET_FRACTION
        return self.handler_timeout

    async def _run(self, n: Notification) -> tuple[Reply, AnswerSource, BaseException | None]:
        handler = self.handler_for(n.action)
        if handler is None:
            return Reply(n.id, NOTIFY_DONE), AnswerSource.UNHANDLED, None
        deadline = asyncio.timeout(self.budget(n))
        try:
            async with deadline:
                result = handler(n)
                if inspect.isawaitable(result):
                    result = await result
            return Reply(n.id, _coerce(result)), AnswerSource.HANDLER, None
        except Veto as veto:
            return self._veto_reply(n, veto), AnswerSource.VETO, None
        except TimeoutError as exc:
            if not deadline.expired():
                return self._failure(n, AnswerSource.ERROR, exc), AnswerSource.ERROR, exc
            return self._failure(n, AnswerSource.TIMEOUT, exc), AnswerSource.TIMEOUT, exc
        except Exception as exc:
            return self._failure(n, AnswerSource.ERROR, exc), AnswerSource.ERROR, exc

    def _veto_reply(self, n: Notification, veto: Veto) -> Reply:
        if not n.is_going:
            logger.warning(
                "handler vetoed %s (notification %d): this only stops the walk, "
                "lower-priority subscribers will not see it",
                n.action,
                n.id,
            )
        message = _truncate(veto.message) if veto.message else None
        return Reply(n.id, notifier_from_errno(veto.errno), veto.errno, message)

    def _failure(self, n: Notification, source: AnswerSource, exc: BaseException) -> Reply:
        """The on_error policy's reply for a handler that raised or overran its budget."""
        if source is AnswerSource.TIMEOUT:
            message = f"handler exceeded its {self.budget(n):.3g} s budget"
            logger.warning("%s for %s (notification %d)", message, n.action, n.id)
        else:
            message = f"handler raised {type(exc).__name__}: {exc}"
            logger.error("%s for %s (notification %d)", message, n.action, n.id, exc_info=exc)
        err = TIMEOUT_ERRNO if source is AnswerSource.TIMEOUT else ERROR_ERRNO
        return self._policy_reply(n.id, n.is_going, err, message)

    def _policy_reply(self, reply_id: int, going: bool, err: int, message: str) -> Reply:
        message = _truncate(message)
        if self.on_error == "veto" and going:
            return Reply(reply_id, notifier_from_errno(err), err, message)
        value = NOTIFY_OK if self.on_error == "ok" else NOTIFY_DONE
        return Reply(reply_id, value, None, message)

    def _malformed(self, frame: Mapping[str, Any], exc: ProtocolError) -> Reply | None:
        """A notify frame we cannot parse: answered by policy when it has an id, else dropped."""
        reply_id = frame.get("id")
        logger.error("malformed notify frame (id %r): %s", reply_id, exc)
        if not isinstance(reply_id, int) or isinstance(reply_id, bool):
            return None
        going = frame.get("action") in GOING_ACTIONS
        reply = self._policy_reply(reply_id, going, ERROR_ERRNO, f"malformed notification: {exc}")
        self._remember(reply)
        return reply


class SubscriberOptions(TypedDict, total=False):
    """Keyword options of `Subscriber` (and `Subscriber.register`)."""

    on_error: OnError
    handler_timeout: HandlerTimeout
    backoff: Backoff
    cache_size: int
    connector: Connector
    on_answer: Callable[[Answer], object]
    on_status: Callable[[Status], object]


class Subscriber:
    """A subscriber channel: registration, handlers, reconnection, graceful close."""

    def __init__(
        self,
        subscriber_id: str,
        token: str,
        ws_url: str,
        *,
        client: HotplugClient | None = None,
        **options: Unpack[SubscriberOptions],
    ) -> None:
        self.id = subscriber_id
        self.ws_url = ws_url
        self.client = client
        self.registration: Registration | None = None
        self.hello: Hello | None = None
        self.error: BaseException | None = None
        self.dispatcher = Dispatcher(
            on_error=options.get("on_error", "veto"),
            handler_timeout=options.get("handler_timeout", "auto"),
            cache_size=options.get("cache_size", 256),
            on_answer=options.get("on_answer"),
        )
        self._token = token
        self._backoff = options.get("backoff") or Backoff()
        self._connector = options.get("connector") or default_connector()
        self._on_status = options.get("on_status")
        self._closing = asyncio.Event()
        self._connected = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._channel: Channel | None = None
        self._session: asyncio.Task[bool] | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False

    @classmethod
    async def register(
        cls,
        client: HotplugClient,
        name: str,
        priority: int = 0,
        actions: Sequence[str | int] | None = None,
        nodes: Sequence[int] | None = None,
        timeout_ms: int | None = None,
        failure_policy: str | None = None,
        **options: Unpack[SubscriberOptions],
    ) -> Subscriber:
        """Register a new subscriber with the service and return it, not yet connected."""
        registration = await client.register_subscriber(
            name,
            priority=priority,
            actions=[action_name(a) for a in actions] if actions is not None else None,
            nodes=nodes,
            timeout_ms=timeout_ms,
            failure_policy=failure_policy,
        )
        ident = registration["id"]
        ws_url = registration.get("ws_url") or to_ws_url(
            client.base_url, f"/api/v1/subscribers/{ident}/ws"
        )
        subscriber = cls(ident, registration["token"], ws_url, client=client, **options)
        subscriber.registration = registration
        return subscriber

    def on(self, *actions: str | int) -> Callable[[H], H]:
        """Decorator: handle these actions; with no action (or ``"*"``), every other one."""
        return self.dispatcher.on(*actions)

    @property
    def connected(self) -> bool:
        """Whether the channel is open and the service said hello."""
        return self._connected.is_set()

    async def run(self) -> None:
        """Connect and answer notifications until `close()`; reconnect after failures.

        Raises SubscriberStopped when the service ends the subscription (4004,
        4001, handshake refused), HotplugConnectionError when the backoff gives up.
        """
        if self._running:
            raise RuntimeError("this subscriber is already running")
        self._running = True
        try:
            await self._reconnect_loop()
        except (SubscriberStopped, HotplugConnectionError) as exc:
            self._status("stopped", str(exc), getattr(exc, "code", None))
            raise
        finally:
            self._running = False
            self._connected.clear()

    async def _reconnect_loop(self) -> None:
        attempt = 0
        while not self._closing.is_set():
            greeted = await self._run_session()
            if self._closing.is_set():
                return
            attempt = 0 if greeted else attempt
            if self._backoff.exhausted(attempt):
                raise HotplugConnectionError(
                    f"subscriber {self.id}: giving up after {attempt} tries"
                )
            delay = self._backoff.delay(attempt)
            attempt += 1
            self._status("reconnecting", f"reconnecting in {delay:.2f} s", delay=delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._closing.wait()

    async def _run_session(self) -> bool:
        """One connection, in a task `close()` can cancel; True when it got a hello."""
        self._session = asyncio.create_task(self._connect_and_serve(), name=f"subscriber {self.id}")
        try:
            return await self._session
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            return False  # close() cut the session short
        finally:
            self._session = None

    async def _connect_and_serve(self) -> bool:
        try:
            async with self._connector(self.ws_url, bearer(self._token)) as channel:
                self._channel = channel
                try:
                    greeted = await self._serve(channel)
                finally:
                    self._channel = None
                    self._connected.clear()
                code, reason = channel.close_code, channel.close_reason
        except (OSError, TimeoutError, WebSocketException) as exc:
            self._check_connect_failure(exc)
            return False
        self._check_close(code, reason or "")
        return greeted

    def _check_connect_failure(self, exc: BaseException) -> None:
        if is_fatal_handshake(exc):
            status = handshake_status(exc)
            raise SubscriberStopped(
                f"subscriber {self.id}: handshake refused with HTTP {status}", status=status
            ) from exc
        if isinstance(exc, InvalidURI):
            raise HotplugConnectionError(f"subscriber {self.id}: bad ws_url: {exc}") from exc
        logger.info("subscriber %s: connection failed: %s", self.id, exc)
        self._status("disconnected", f"connection failed: {exc or type(exc).__name__}")

    def _check_close(self, code: int | None, reason: str) -> None:
        if self._closing.is_set():
            return
        if code == CLOSE_UNREGISTERED:
            raise SubscriberStopped(
                f"subscriber {self.id} was unregistered (close code 4004)", code=code
            )
        if code == CLOSE_REPLACED:
            raise SubscriberStopped(
                f"subscriber {self.id} was replaced by a newer connection (close code 4001)",
                code=code,
            )
        self._status("disconnected", f"connection closed ({code} {reason})".strip(), code)

    async def _serve(self, channel: Channel) -> bool:
        greeted = False
        with contextlib.suppress(ConnectionClosed):
            async for frame in channel:
                if self._closing.is_set():
                    break
                received = await self._handle(channel, frame)
                if isinstance(received, Hello):
                    greeted = True
                    self._greeted(received)
                elif isinstance(received, ServerError):
                    self._status("server-error", received.message)
        return greeted

    async def _handle(self, channel: Channel, frame: str | bytes) -> Received:
        self._idle.clear()
        try:
            received = await self.dispatcher.receive(frame)
            if isinstance(received, Reply):
                await channel.send(json.dumps(received.to_frame()))
            return received
        finally:
            self._idle.set()

    def _greeted(self, hello: Hello) -> None:
        self.hello = hello
        self._connected.set()
        self._status("connected", f"connected to {self.ws_url}")

    def _status(
        self, kind: StatusKind, detail: str, code: int | None = None, delay: float | None = None
    ) -> None:
        _notify_safely(self._on_status, Status(kind, detail, code, delay))

    def start(self) -> asyncio.Task[None]:
        """Run in a background task owned by this subscriber (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run_owned(), name=f"subscriber {self.id} run")
        return self._task

    async def _run_owned(self) -> None:
        try:
            await self.run()
        except (SubscriberStopped, HotplugConnectionError) as exc:
            logger.error("subscriber %s stopped: %s", self.id, exc)
            self.error = exc

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait for the service's hello; raise the reason if the subscriber stops first."""
        if self._task is None and not self._running:
            raise RuntimeError("start() or run() the subscriber first")
        waiter = asyncio.ensure_future(self._connected.wait())
        watched: set[asyncio.Future[Any]] = {waiter}
        if self._task is not None:
            watched.add(self._task)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not self._connected.is_set():
            raise self.error or HotplugConnectionError(f"subscriber {self.id} stopped")

    async def wait(self) -> None:
        """Wait until the background run ends; raise why it stopped, if it failed."""
        if self._task is not None:
            await asyncio.shield(self._task)
        if self.error is not None:
            raise self.error

    async def close(self, timeout: float = 5.0) -> None:
        """Stop: refuse new notifications, let the one in hand be answered, close (idempotent).

        Waits at most ``timeout`` seconds for the answer in progress and for
        each of the session and the background task to end, then cancels them.
        """
        self._closing.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        channel = self._channel
        if channel is not None:
            with contextlib.suppress(WebSocketException, OSError):
                await channel.close(1000, "subscriber closing")
        for task in (self._session, self._task):
            if task is not None and task is not asyncio.current_task():
                await _end(task, timeout)

    async def unregister(self) -> None:
        """Close, then unregister from the service (needs the client it was registered with)."""
        if self.client is None:
            raise RuntimeError("no client to unregister with; use HotplugClient directly")
        await self.close()
        await self.client.unregister_subscriber(self.id)

    async def __aenter__(self) -> Subscriber:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
        if exc is None and self.error is not None:
            raise self.error


async def _end(task: asyncio.Task[Any], timeout: float) -> None:
    """Wait for ``task`` to finish, cancelling it after ``timeout``; never raises its error."""
    if task.done():
        return
    _done, pending = await asyncio.wait({task}, timeout=timeout)
    if pending:
        task.cancel()
        await asyncio.wait({task})
