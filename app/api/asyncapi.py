"""The AsyncAPI 3.0 document of the two websocket channels (SPEC §6, §7).

The subscriber channel (``/api/v1/subscribers/{id}/ws``: ``hello``,
``notify``, ``error`` out, ``reply`` in) and the dashboard event stream
(``/api/v1/events``: one CloudEvent per state change). Payload schemas are
JSON Schema generated from pydantic models, the same ones the REST API
documents, so a block in ``hotplug.block.changed`` and a block from
``GET /api/v1/memory/blocks/{id}`` are one schema. ``asyncapi_document()``
is what ``GET /api/v1/asyncapi.json`` serves; ``tests/e2e`` checks frames
captured from a running service against it.
"""

from __future__ import annotations

import copy
import functools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from app.api import examples as ex
from app.api.schemas import (
    ActionName,
    BlockPublic,
    DeliveryName,
    ErrnoValue,
    Int32,
    MemoryNotifyArg,
    SubscriberPublic,
    TransitionSummary,
    component_schemas,
)
from app.engine.events import GAP_EVENT

JSON = dict[str, Any]

ASYNCAPI_VERSION = "3.0.0"
SCHEMAS = "#/components/schemas/"
SUBSCRIBER_CHANNEL = "/api/v1/subscribers/{subscriberId}/ws"
EVENTS_CHANNEL = "/api/v1/events"
PROTOCOL = 1


# -- payloads --------------------------------------------------------------------


class Frame(BaseModel):
    """A JSON text frame; a peer ignores members it does not know."""

    model_config = ConfigDict(extra="allow")


class HelloFrame(Frame):
    """The first frame on every connection.

    If a notification sent on an earlier connection still awaits its reply,
    the same ``notify`` frame (same ``id``) follows right after ``hello``.
    """

    type: Literal["hello"]
    subscriber: SubscriberPublic
    protocol: Literal[1] = Field(description="The protocol version.")


class NotifyFrame(Frame):
    """One event of one transition, for this subscriber to answer with a ``reply``."""

    type: Literal["notify"]
    id: int = Field(description="Increases monotonically across the service; echo it.")
    transition: str = Field(description="The transition id, e.g. tr-12.")
    action: ActionName
    action_value: Literal[1, 2, 4, 8, 16, 32] = Field(
        description="MEM_ONLINE 1, MEM_GOING_OFFLINE 2, MEM_OFFLINE 4, MEM_GOING_ONLINE 8, "
        "MEM_CANCEL_ONLINE 16, MEM_CANCEL_OFFLINE 32."
    )
    arg: MemoryNotifyArg
    block: int
    node: int
    timeout_ms: int = Field(ge=1, description="How long the service waits for the reply.")


ResultName = Literal["NOTIFY_DONE", "NOTIFY_OK", "NOTIFY_BAD", "NOTIFY_STOP"]


class ReplyFrame(Frame):
    """The answer to one ``notify`` frame.

    ``result`` is a name or the notifier value itself; ``errno`` (a negative
    errno) makes the value ``notifier_from_errno(errno)`` and may replace
    ``result``. On ``MEM_GOING_*`` a value carrying an errno (``NOTIFY_BAD``:
    -EPERM) vetoes the transition.
    """

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["result"]}, {"required": ["errno"]}]}
    )

    type: Literal["reply"]
    id: int = Field(description="The id of the notify frame answered.")
    result: ResultName | Int32 | SkipJsonSchema[None] = None
    errno: ErrnoValue | SkipJsonSchema[None] = None
    message: Annotated[str, Field(max_length=1024)] | SkipJsonSchema[None] = Field(
        default=None, description="Shown in the record and the dashboard."
    )


class ErrorFrame(Frame):
    """A frame the service could not use: malformed, or a reply for no awaited id.

    It is otherwise ignored and the connection stays open, unless the peer
    keeps sending unusable frames (then 1008).
    """

    type: Literal["error"]
    id: int | None = Field(description="The id of the unusable reply, when it had one.")
    message: str


class NotificationSent(BaseModel):
    """A ``notify`` frame went to a subscriber."""

    model_config = ConfigDict(extra="allow")

    transition: str
    notification: int = Field(description="The notify frame's id.")
    action: ActionName
    subscriber: str
    name: str


class NotificationReplied(NotificationSent):
    """A call ended: how (delivery), with what value, after how long."""

    delivery: DeliveryName
    result: str = Field(description="NOTIFY_* name, or what the value encodes.")
    value: int
    errno: int | None
    latency_ms: float


class SubscriberConnection(BaseModel):
    """A subscriber's websocket was accepted."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str | None


class SubscriberDisconnection(SubscriberConnection):
    """A subscriber's websocket ended (or was replaced, or closed on unregister)."""

    code: int = Field(description="The websocket close code.")


class StreamGap(BaseModel):
    """Events after ``since`` are no longer retained; the replay starts later."""

    model_config = ConfigDict(extra="allow")

    since: int = Field(description="The id asked for.")
    oldest_retained: int | None = Field(description="The oldest event id still retained.")
    missed: int = Field(description="How many events cannot be replayed.")


FRAMES: list[type[BaseModel]] = [HelloFrame, NotifyFrame, ReplyFrame, ErrorFrame]


# -- the event stream's types ------------------------------------------------------

TRANSITION_SUBJECT: JSON = {"type": "string", "pattern": "^tr-[0-9]+$"}
BLOCK_SUBJECT: JSON = {"type": "string", "pattern": "^block/[0-9]+$"}
SUBSCRIBER_SUBJECT: JSON = {"type": "string", "pattern": "^subscriber/.+$"}

SUMMARY = ex.record(
    2, "offline", outcome="cancelled", errno=-16, errno_name="EBUSY", vetoed_by=ex.VETO
)
NOTIFICATION = {
    "transition": "tr-2",
    "notification": 1795673202732327,
    "action": "MEM_GOING_OFFLINE",
    "subscriber": ex.BALLOON,
    "name": "balloon",
}


def _summary(**fields: Any) -> JSON:
    keys = ("id", "operation", "block", "node", "outcome", "errno", "errno_name", "vetoed_by")
    return {key: {**SUMMARY, **fields}[key] for key in keys}


# type: (data model, subject schema or None, what it says, an example's data)
EVENTS: dict[str, tuple[type[BaseModel], JSON | None, str, JSON]] = {
    "hotplug.transition.queued": (
        TransitionSummary,
        TRANSITION_SUBJECT,
        "A request joined the queue (outcome pending).",
        _summary(outcome="pending", errno=None, errno_name=None, vetoed_by=None),
    ),
    "hotplug.transition.started": (
        TransitionSummary,
        TRANSITION_SUBJECT,
        "Its turn came (outcome running): the chain snapshot is taken.",
        _summary(outcome="running", errno=None, errno_name=None, vetoed_by=None),
    ),
    "hotplug.transition.finished": (
        TransitionSummary,
        TRANSITION_SUBJECT,
        "It ended: completed, cancelled, failed or aborted; the record is final.",
        _summary(),
    ),
    "hotplug.notification.sent": (
        NotificationSent,
        TRANSITION_SUBJECT,
        "A notify frame was sent to a subscriber.",
        NOTIFICATION,
    ),
    "hotplug.notification.replied": (
        NotificationReplied,
        TRANSITION_SUBJECT,
        "The call ended: replied, timeout or disconnected, with result and latency.",
        {
            **NOTIFICATION,
            "delivery": "replied",
            "result": "NOTIFY_STOP_MASK|EBUSY",
            "value": 32785,
            "errno": -16,
            "latency_ms": 0.438,
        },
    ),
    "hotplug.block.changed": (
        BlockPublic,
        BLOCK_SUBJECT,
        "A block's state, zone, transition or simulation flags changed.",
        {**ex.BLOCK, "state": "going-offline", "transition": "tr-2"},
    ),
    "hotplug.block.added": (
        BlockPublic,
        BLOCK_SUBJECT,
        "A block was hot-added (probe).",
        ex.PROBE_RESULT["blocks"][0],
    ),
    "hotplug.block.removed": (
        BlockPublic,
        BLOCK_SUBJECT,
        "A block was hot-removed; the data is the block as it was.",
        ex.BLOCK_REMOVED,
    ),
    "hotplug.subscriber.registered": (
        SubscriberPublic,
        SUBSCRIBER_SUBJECT,
        "A subscriber was registered.",
        ex.NEW_SUBSCRIBER,
    ),
    "hotplug.subscriber.updated": (
        SubscriberPublic,
        SUBSCRIBER_SUBJECT,
        "A subscriber's priority, filters, timeout or policy changed.",
        {**ex.SUBSCRIBER, "priority": 20, "seq": 3},
    ),
    "hotplug.subscriber.removed": (
        SubscriberPublic,
        SUBSCRIBER_SUBJECT,
        "A subscriber was unregistered; the data is the subscriber as it was.",
        ex.SUBSCRIBER,
    ),
    "hotplug.subscriber.connected": (
        SubscriberConnection,
        SUBSCRIBER_SUBJECT,
        "A subscriber's websocket was accepted.",
        {"id": ex.BALLOON, "name": "balloon"},
    ),
    "hotplug.subscriber.disconnected": (
        SubscriberDisconnection,
        SUBSCRIBER_SUBJECT,
        "A subscriber's websocket ended; code is its close code.",
        {"id": ex.BALLOON, "name": "balloon", "code": 4004},
    ),
    GAP_EVENT: (
        StreamGap,
        None,
        "Only in a replay (?since=): the events after since are no longer retained. "
        "Its id is the last id that cannot be replayed; it takes no id of its own.",
        {"since": 1795673202725500, "oldest_retained": 1795673202725632, "missed": 131},
    ),
}


# -- the document ------------------------------------------------------------------


def asyncapi_document(version: str, host: str = "127.0.0.1:8000", secure: bool = False) -> JSON:
    """The AsyncAPI 3.0 document, for a service reachable at ``host``."""
    document = copy.deepcopy(_document(version))
    document["servers"] = {
        "hotplugd": {
            "host": host,
            "protocol": "wss" if secure else "ws",
            "description": "This hotplugd.",
        }
    }
    return document


@functools.cache
def _document(version: str) -> JSON:
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": "hotplugd websocket channels", "version": version, "description": INFO},
        "defaultContentType": "application/json",
        "channels": {"subscriber": _subscriber_channel(), "events": _events_channel()},
        "operations": _operations(),
        "components": {
            "schemas": _schemas(),
            "messages": {**_frame_messages(), **_event_messages()},
            "securitySchemes": SECURITY_SCHEMES,
            "correlationIds": {
                "notification": {
                    "description": "A reply echoes the id of the notify frame it answers.",
                    "location": "$message.payload#/id",
                }
            },
        },
    }


def _schemas() -> JSON:
    """Every payload schema, with the schemas they refer to, as components."""
    schemas = component_schemas([*FRAMES, *(model for model, *_ in EVENTS.values())], SCHEMAS)
    for type_, (model, subject, _what, _example) in EVENTS.items():
        schemas[_event_schema_name(type_)] = _cloud_event(type_, model, subject)
    return schemas


def _event_schema_name(type_: str) -> str:
    """``hotplug.block.changed`` → ``BlockChangedEvent``."""
    words = type_.removeprefix("hotplug.").split(".")
    return "".join(word.capitalize() for word in words) + "Event"


def _cloud_event(type_: str, model: type[BaseModel], subject: JSON | None) -> JSON:
    """A CloudEvents 1.0 JSON envelope whose ``type`` is ``type_`` and ``data`` a ``model``."""
    properties: JSON = {
        "specversion": {"const": "1.0"},
        "id": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "A decimal integer, increasing; resume with ?since=<id>.",
        },
        "source": {"type": "string", "format": "uri-reference", "examples": ["/hotplugd"]},
        "type": {"const": type_},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"const": "application/json"},
        "data": {"$ref": SCHEMAS + model.__name__},
    }
    required = ["specversion", "id", "source", "type", "time", "datacontenttype", "data"]
    if subject is not None:
        properties["subject"] = subject
        required.insert(4, "subject")
    return {
        "type": "object",
        "title": type_,
        "properties": properties,
        "required": required,
        "additionalProperties": True,
    }


def _message(name: str, summary: str, payload: str, examples: list[JSON], **extra: Any) -> JSON:
    return {
        "name": name,
        "title": name,
        "summary": summary,
        "contentType": "application/json",
        "payload": {"$ref": SCHEMAS + payload},
        "examples": examples,
        **extra,
    }


def _frame_messages() -> JSON:
    notify = {
        "type": "notify",
        "id": 1795673202732327,
        "transition": "tr-2",
        "action": "MEM_GOING_OFFLINE",
        "action_value": 2,
        "arg": ex.ARG_BLOCK_12,
        "block": 12,
        "node": 1,
        "timeout_ms": 5000,
    }
    correlation = {"correlationId": {"$ref": "#/components/correlationIds/notification"}}
    return {
        "hello": _message(
            "hello",
            "First frame: the subscriber as registered, and the protocol version.",
            "HelloFrame",
            [
                {
                    "name": "hello",
                    "payload": {"type": "hello", "subscriber": ex.SUBSCRIBER, "protocol": 1},
                }
            ],
        ),
        "notify": _message(
            "notify",
            "One event of one transition; answer it with a reply of the same id.",
            "NotifyFrame",
            [{"name": "going_offline", "payload": notify}],
            **correlation,
        ),
        "reply": _message(
            "reply",
            "The answer to one notify frame.",
            "ReplyFrame",
            [
                {
                    "name": "ok",
                    "payload": {"type": "reply", "id": notify["id"], "result": "NOTIFY_OK"},
                },
                {
                    "name": "veto",
                    "summary": "Veto MEM_GOING_OFFLINE with -EBUSY",
                    "payload": {
                        "type": "reply",
                        "id": notify["id"],
                        "errno": -16,
                        "message": "pinned pages",
                    },
                },
                {
                    "name": "value",
                    "summary": "A raw notifier value: NOTIFY_STOP",
                    "payload": {"type": "reply", "id": notify["id"], "result": 32769},
                },
            ],
            **correlation,
        ),
        "error": _message(
            "error",
            "A frame the service could not use; it is otherwise ignored.",
            "ErrorFrame",
            [
                {
                    "name": "unknown_id",
                    "payload": {
                        "type": "error",
                        "id": 42,
                        "message": "notification 42 is not awaiting a reply",
                    },
                },
                {
                    "name": "not_json",
                    "payload": {"type": "error", "id": None, "message": "frame is not valid JSON"},
                },
            ],
        ),
    }


def _event_messages() -> JSON:
    messages: JSON = {}
    for n, (type_, (_model, subject, what, data)) in enumerate(EVENTS.items()):
        event: JSON = {
            "specversion": "1.0",
            "id": str(1795673202725700 + n),
            "source": "/hotplugd",
            "type": type_,
            "time": "2026-11-26T06:06:42.930Z",
            "datacontenttype": "application/json",
        }
        if subject is not None:
            event["subject"] = _example_subject(type_, data)
        event["data"] = data
        messages[type_] = {
            **_message(type_, what, _event_schema_name(type_), [{"name": type_, "payload": event}]),
            "contentType": "application/cloudevents+json",
        }
    return messages


def _example_subject(type_: str, data: JSON) -> str:
    if type_.startswith(("hotplug.transition.", "hotplug.notification.")):
        return str(data.get("transition") or data["id"])
    if type_.startswith("hotplug.block."):
        return f"block/{data['id']}"
    return f"subscriber/{data['id']}"


def _ref(path: str) -> JSON:
    return {"$ref": path}


def _operations() -> JSON:
    channel = _ref("#/channels/subscriber")
    frame = "#/channels/subscriber/messages/"
    subscriber_security = [
        _ref("#/components/securitySchemes/subscriberToken"),
        _ref("#/components/securitySchemes/subscriberTokenQuery"),
    ]
    return {
        "sendHello": {
            "action": "send",
            "channel": channel,
            "summary": "Greet a subscriber when its connection is accepted.",
            "messages": [_ref(frame + "hello")],
            "security": subscriber_security,
        },
        "sendNotify": {
            "action": "send",
            "channel": channel,
            "summary": "Call a subscriber: one notify, then wait (bounded) for its reply.",
            "description": NOTIFY_DESCRIPTION,
            "messages": [_ref(frame + "notify")],
            "reply": {"channel": channel, "messages": [_ref(frame + "reply")]},
            "security": subscriber_security,
        },
        "sendError": {
            "action": "send",
            "channel": channel,
            "summary": "Tell a subscriber that a frame it sent was unusable.",
            "messages": [_ref(frame + "error")],
            "security": subscriber_security,
        },
        "sendEvent": {
            "action": "send",
            "channel": _ref("#/channels/events"),
            "summary": "Push every state change to dashboards, in id order.",
            "messages": [_ref(f"#/channels/events/messages/{type_}") for type_ in EVENTS],
            "security": [
                _ref("#/components/securitySchemes/readerToken"),
                _ref("#/components/securitySchemes/readerTokenQuery"),
            ],
        },
    }


def _subscriber_channel() -> JSON:
    return {
        "address": SUBSCRIBER_CHANNEL,
        "title": "Subscriber channel",
        "summary": "One subscriber's notifications and replies (SPEC §6).",
        "description": SUBSCRIBER_DESCRIPTION,
        "parameters": {
            "subscriberId": {"description": "The id returned by POST /api/v1/subscribers."}
        },
        "messages": {name: _ref(f"#/components/messages/{name}") for name in FRAME_NAMES},
        "bindings": {
            "ws": {
                "method": "GET",
                "query": {
                    "type": "object",
                    "properties": {"access_token": ACCESS_TOKEN},
                },
                "bindingVersion": "0.1.0",
            }
        },
        "x-close-codes": SUBSCRIBER_CLOSE_CODES,
        "x-handshake-refusals": {
            "401": "No token, or not this subscriber's token.",
            "503": "The service is shutting down.",
        },
    }


def _events_channel() -> JSON:
    return {
        "address": EVENTS_CHANNEL,
        "title": "Event stream",
        "summary": "Every state change as a CloudEvent, for dashboards (SPEC §7).",
        "description": EVENTS_DESCRIPTION,
        "messages": {type_: _ref(f"#/components/messages/{type_}") for type_ in EVENTS},
        "bindings": {
            "ws": {
                "method": "GET",
                "query": {
                    "type": "object",
                    "properties": {
                        "access_token": ACCESS_TOKEN,
                        "since": {
                            "type": "string",
                            "pattern": "^[0-9]{1,19}$",
                            "description": "Replay the retained events after this id first.",
                        },
                    },
                },
                "bindingVersion": "0.1.0",
            }
        },
        "x-close-codes": EVENTS_CLOSE_CODES,
        "x-handshake-refusals": {
            "400": "since is not an event id.",
            "401": "No token, or a token the service does not know.",
            "403": "A subscriber's token (it opens only its own channel).",
            "503": "The service is shutting down.",
        },
    }


FRAME_NAMES = ("hello", "notify", "reply", "error")

ACCESS_TOKEN: JSON = {
    "type": "string",
    "description": "The token, for clients that cannot set an Authorization header.",
}

SECURITY_SCHEMES: JSON = {
    "subscriberToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The subscriber's token (from its registration), as a bearer token.",
    },
    "subscriberTokenQuery": {
        "type": "httpApiKey",
        "in": "query",
        "name": "access_token",
        "description": "The subscriber's token in ?access_token=.",
    },
    "readerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The viewer or admin token, as a bearer token.",
    },
    "readerTokenQuery": {
        "type": "httpApiKey",
        "in": "query",
        "name": "access_token",
        "description": "The viewer or admin token in ?access_token=.",
    },
}

SUBSCRIBER_CLOSE_CODES = {
    "1001": "The service is shutting down.",
    "1008": "Policy violation: too many frames, or too many unusable frames in a row.",
    "1009": "A frame larger than 64 KiB.",
    "4001": "Replaced by a newer connection of the same subscriber.",
    "4004": "The subscriber was unregistered.",
}
EVENTS_CLOSE_CODES = {
    "1001": "The service is shutting down.",
    "1008": "The observer read too slowly (observer too slow), or sent too many frames.",
    "1009": "A frame larger than 64 KiB.",
}


def _close_code_list(codes: dict[str, str]) -> str:
    return "\n".join(f"- `{code}`: {meaning}" for code, meaning in codes.items())


INFO = f"""\
The websocket side of hotplugd: the channel over which the memory hotplug
notifier chain calls its subscribers, and the read-only event stream for
dashboards. The REST API is described by `/api/v1/openapi.json`.

Every frame is a JSON text frame (at most 64 KiB). The token goes in an
`Authorization: Bearer` header or, where a client cannot set headers, in
`?access_token=`. A refused handshake gets an HTTP status (401, 403, 400, 503)
and never a websocket frame. The service sends keepalive pings to detect dead
peers. Protocol version {PROTOCOL}.
"""

SUBSCRIBER_DESCRIPTION = f"""\
Opened with the subscriber's own token. The service sends `hello` first, then
one `notify` per event this subscriber is called for, in chain order, and
waits for the `reply` with the same `id` before calling the next subscriber;
at most one notification is outstanding per subscriber.

A reply for an unknown or already answered id, or a malformed frame, gets an
`error` frame and is otherwise ignored; the connection stays open unless the
peer floods. A second connection for the same subscriber replaces the first
(4001). If the connection drops while a notification awaits its reply and the
subscriber reconnects before that notification's deadline, the same `notify`
(same `id`) is sent again right after `hello`. Limits: frames 64 KiB,
`message` 1 KiB.

Close codes:

{_close_code_list(SUBSCRIBER_CLOSE_CODES)}
"""

NOTIFY_DESCRIPTION = """\
`timeout_ms` is how long the service waits. On `MEM_GOING_ONLINE` /
`MEM_GOING_OFFLINE` the reply can veto: `notifier_to_errno(value) != 0`
(`NOTIFY_BAD` is -EPERM; an `errno` is that errno). `NOTIFY_STOP` (or any value
with the stop bit 0x8000) ends the walk without vetoing. A silent or absent
subscriber counts as `notifier_from_errno(-ETIMEDOUT)` / `-ENOTCONN` on a
`MEM_GOING_*` event with failure policy `fail`, else as `NOTIFY_DONE`.
Subscribers must tolerate a `MEM_CANCEL_*` without a prior `MEM_GOING_*`.
"""

EVENTS_DESCRIPTION = f"""\
Read-only, for the viewer or admin token. Every state change is one
CloudEvents 1.0 object (JSON format, structured mode) whose `id` is a decimal
integer that only increases, also across restarts. With `?since=<id>` the
retained events after that id are replayed first; if some are no longer
retained, a `{GAP_EVENT}` event comes first and says how many were missed.
Frames the observer sends are ignored (too many close the stream).

Close codes:

{_close_code_list(EVENTS_CLOSE_CODES)}
"""
