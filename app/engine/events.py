"""The dashboard event stream (SPEC §7): CloudEvents, retained for replay, fanned out.

``EventBus`` implements the engine's ``EventPublisher`` port. Every state change
becomes one CloudEvents 1.0 JSON object with a decimal-string ``id`` taken from a
counter that only goes up. The bus keeps the newest events in a bounded window so
that an observer (a dashboard's websocket) can ask for everything after the last
id it saw (``?since=``); when part of that is gone, the observer gets a
``hotplug.stream.gap`` event first.

Each observer has a bounded queue. ``publish`` never waits for an observer: one
whose queue is full is ended as *overflowed* (its websocket is then closed with
1008 "observer too slow"), so a slow dashboard can never slow the notifier chain.

Fan-out is batched: ``publish`` only appends to the bus's list of unsent events
and, for the first of them, arms a timer; ``batch_window`` seconds later (20 ms
by default) the whole batch goes to every observer at once, so a walk costs
each observer one wake-up (and one websocket write) per window instead of two
per hop. Without a running event loop the batch is handed out at once.

asyncio only: this module is part of the engine, which imports no web framework.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from app.engine.ports import JSON

__all__ = ["EventBus", "Observer", "ObserverEnd", "Sink"]

logger = logging.getLogger(__name__)

# Takes a batch of events at once (True) or declines it (False): see Observer.set_sink.
Sink = Callable[[list[JSON]], bool]

GAP_EVENT = "hotplug.stream.gap"


class ObserverEnd(enum.Enum):
    """Why an observer stopped yielding events."""

    CLOSED = "closed"  # its owner closed it (e.g. the websocket went away)
    OVERFLOWED = "overflowed"  # its queue was full: it reads too slowly
    BUS_CLOSED = "bus closed"  # the service is shutting down


class Observer:
    """One reader of the event stream: an async iterator of CloudEvents (dicts).

    Single consumer: iterate it from one task only. The events it yields are
    shared with other observers and must not be mutated.
    """

    __slots__ = (
        "_bus",
        "_capacity",
        "_end",
        "_events",
        "_live_from",
        "_replay_left",
        "_sink",
        "_waiter",
    )

    def __init__(self, bus: EventBus, backlog: list[JSON], capacity: int, live_from: int) -> None:
        self._bus = bus
        self._capacity = capacity
        self._live_from = live_from  # the first live id it gets (older ones: backlog)
        # The replayed backlog may be longer than the queue bound; it was chosen
        # by the observer (``since``), so only live events count towards overflow.
        self._events: deque[JSON] = deque(backlog)
        self._replay_left = len(backlog)
        self._end: ObserverEnd | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._sink: Sink | None = None

    @property
    def end(self) -> ObserverEnd | None:
        """Why the observer ended, or None while it is live."""
        return self._end

    @property
    def pending(self) -> int:
        """How many events wait to be read (0 once ended)."""
        return len(self._events)

    @property
    def overflowed(self) -> bool:
        """Whether the observer was ended because it read too slowly."""
        return self._end is ObserverEnd.OVERFLOWED

    def close(self) -> None:
        """Stop observing; idempotent. Pending events are discarded."""
        if self._end is None:
            self._finish(ObserverEnd.CLOSED)
            self._bus._forget(self)

    def set_sink(self, sink: Sink | None) -> None:
        """Hand batches to ``sink`` at once while nothing waits in the queue.

        ``sink(events)`` returns True when it took them (e.g. wrote them to a
        socket that had room); on False, or an exception, they are queued for
        the consumer as usual. It is called from ``publish``/``flush``: it must
        be quick and must not call back into the bus.
        """
        self._sink = sink

    def __aiter__(self) -> Observer:
        return self

    async def __anext__(self) -> JSON:
        await self._wait()
        if self._replay_left:
            self._replay_left -= 1
        return self._events.popleft()

    async def batch(self) -> list[JSON]:
        """Every event waiting now, in order (waits for one); ``[]`` once ended."""
        try:
            await self._wait()
        except StopAsyncIteration:
            return []
        events = list(self._events)
        self._events.clear()
        self._replay_left = 0
        return events

    async def _wait(self) -> None:
        """Return once an event waits; StopAsyncIteration once the observer ended."""
        while True:
            if self._end is not None:
                raise StopAsyncIteration
            if self._events:
                return
            if self._waiter is not None:
                raise RuntimeError("an Observer has a single consumer")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _offer(self, events: list[JSON], first_id: int) -> bool:
        """Queue a batch of live events (ids from ``first_id`` on); False when it overflowed."""
        skip = self._live_from - first_id  # published before it subscribed: in its backlog
        if skip > 0:
            events = events[skip:]
            if not events:
                return True
        if len(self._events) - self._replay_left + len(events) > self._capacity:
            self._finish(ObserverEnd.OVERFLOWED)
            return False
        if not self._events and self._sink is not None and self._sink_took(events):
            return True
        self._events.extend(events)
        self._wake()
        return True

    def _sink_took(self, events: list[JSON]) -> bool:
        assert self._sink is not None
        try:
            return self._sink(events)
        except Exception:
            logger.exception("an event stream sink failed; queueing instead")
            self._sink = None
            return False

    def _finish(self, end: ObserverEnd) -> None:
        self._end = end
        self._events.clear()
        self._replay_left = 0
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class EventBus:
    """Publishes CloudEvents to observers and keeps a bounded window for replay.

    ``first_id`` lets ids keep increasing across restarts: the service passes one
    more than the last id it handed out before (see ``last_id``).
    """

    def __init__(
        self,
        source: str = "/hotplugd",
        *,
        retain: int = 10_000,
        queue_size: int = 1024,
        first_id: int = 1,
        batch_window: float = 0.02,
    ) -> None:
        if retain < 1 or queue_size < 1 or first_id < 1:
            raise ValueError("retain, queue_size and first_id must be at least 1")
        if batch_window < 0:
            raise ValueError("batch_window must be >= 0")
        self._batch_window = batch_window
        # Published, not yet handed to the observers (ids from ``_unsent_from`` on).
        self._unsent: list[JSON] = []
        self._unsent_from = first_id
        self._flush_timer: asyncio.TimerHandle | None = None
        self._source = source
        self._queue_size = queue_size
        self._first_id = first_id
        self._next_id = first_id
        self._retained: deque[tuple[int, JSON]] = deque(maxlen=retain)
        # Highest id that can no longer be replayed: evicted, or from before a restart.
        self._lost_upto = first_id - 1
        self._observers: set[Observer] = set()
        self._closed = False

    @property
    def observer_count(self) -> int:
        """How many observers are live."""
        return len(self._observers)

    @property
    def last_id(self) -> int:
        """The last id handed out (``first_id - 1`` before the first event)."""
        return self._next_id - 1

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def publish(self, type_: str, data: JSON, subject: str | None = None) -> None:
        """Record one event for every observer (in the next batch); never blocks, never raises.

        ``data`` is copied shallowly; nested values must not be mutated afterwards.
        """
        event_id, event = self._make_event(type_, dict(data), subject)
        self._retain(event_id, event)
        if not self._observers and not self._unsent:
            return  # (while a batch is open it takes every id: ids in it are consecutive)
        if not self._unsent:
            self._unsent_from = event_id
        self._unsent.append(event)
        if self._flush_timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flush_timer = loop.call_later(self._batch_window, self.flush)

    def flush(self) -> None:
        """Hand the events published since the last batch to every observer now."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        events, self._unsent = self._unsent, []
        if not events:
            return
        overflowed = [o for o in self._observers if not o._offer(events, self._unsent_from)]
        for observer in overflowed:
            self._observers.discard(observer)

    def subscribe(self, since: int | None = None) -> Observer:
        """A new observer: retained events after ``since`` first (if given), then live ones.

        When events after ``since`` are no longer retained, the observer's first
        event is ``hotplug.stream.gap`` (data: ``since``, ``oldest_retained``,
        ``missed``). A closed bus returns an observer that has already ended.
        """
        backlog = [] if since is None else self._replay(since)
        observer = Observer(self, backlog, self._queue_size, self._next_id)
        if self._closed:
            observer._finish(ObserverEnd.BUS_CLOSED)
        else:
            self._observers.add(observer)
        return observer

    def close(self) -> None:
        """End every observer (their websockets close with 1001); idempotent."""
        self._closed = True
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._unsent = []
        observers, self._observers = self._observers, set()
        for observer in observers:
            observer._finish(ObserverEnd.BUS_CLOSED)

    def _forget(self, observer: Observer) -> None:
        self._observers.discard(observer)

    def _make_event(self, type_: str, data: JSON, subject: str | None) -> tuple[int, JSON]:
        event_id = self._next_id
        self._next_id += 1
        event: JSON = {
            "specversion": "1.0",
            "id": str(event_id),
            "source": self._source,
            "type": type_,
            "time": _now_rfc3339(),
            "datacontenttype": "application/json",
        }
        if subject is not None:
            event["subject"] = subject
        event["data"] = data
        return event_id, event

    def _retain(self, event_id: int, event: JSON) -> None:
        if len(self._retained) == self._retained.maxlen:
            self._lost_upto = self._retained[0][0]
        self._retained.append((event_id, event))

    def _replay(self, since: int) -> list[JSON]:
        backlog = [event for event_id, event in self._retained if event_id > since]
        if since < self._lost_upto:
            backlog.insert(0, self._gap_event(since))
        return backlog

    def _gap_event(self, since: int) -> JSON:
        # The gap's id is the last id that can no longer be replayed, so an
        # observer that resumes with ``since=<gap id>`` gets every retained
        # event; it takes no id from the counter.
        oldest = self._retained[0][0] if self._retained else None
        data = {"since": since, "oldest_retained": oldest, "missed": self._lost_upto - since}
        event = self._make_event(GAP_EVENT, data, None)[1]
        self._next_id -= 1
        event["id"] = str(self._lost_upto)
        return event


def _now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with milliseconds and a ``Z``."""
    return rfc3339_ms(time.time_ns() // 1_000_000)


def rfc3339_ms(epoch_ms: int) -> str:
    """An epoch in milliseconds as RFC 3339 UTC (a walk makes several per millisecond)."""
    global _last_stamp  # a one-entry cache
    if _last_stamp[0] == epoch_ms:
        return _last_stamp[1]
    seconds, millis = divmod(epoch_ms, 1000)
    _last_stamp = (epoch_ms, f"{_rfc3339_second(seconds)}.{millis:03d}Z")
    return _last_stamp[1]


_last_stamp: tuple[int, str] = (-1, "")


@functools.lru_cache(maxsize=4)
def _rfc3339_second(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S")
