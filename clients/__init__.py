"""Python client library and ``hotplugctl`` command line for hotplugd.

Speaks only the HTTP and websocket contract of the service (SPEC §5–§7), with
its own copy of the wire models; it never imports the service.

- `HotplugClient` (async) and `SyncHotplugClient`: every REST endpoint.
- `Subscriber`: a remote member of the notifier chain, with handlers per action.
- `stream_events`: the dashboard event stream.
- `clients.notifier`: NOTIFY_* values, actions, errno helpers.
"""

from clients.backoff import Backoff
from clients.client import HotplugClient
from clients.errors import HotplugConnectionError, HotplugError, HotplugTimeout, SubscriberStopped
from clients.events import CloudEvent, stream_events
from clients.models import MemoryNotify, Notification
from clients.subscriber import Answer, AnswerSource, Dispatcher, Reply, Status, Subscriber, Veto
from clients.sync import SyncHotplugClient
from clients.version import __version__

__all__ = [
    "Answer",
    "AnswerSource",
    "Backoff",
    "CloudEvent",
    "Dispatcher",
    "HotplugClient",
    "HotplugConnectionError",
    "HotplugError",
    "HotplugTimeout",
    "MemoryNotify",
    "Notification",
    "Reply",
    "Status",
    "Subscriber",
    "SubscriberStopped",
    "SyncHotplugClient",
    "Veto",
    "__version__",
    "stream_events",
]
