"""The AsyncAPI 3.0 document's structure (no server needed).

No pure-Python AsyncAPI validator can be relied on, so this checks what
AsyncAPI 3.0 requires of the parts the document uses: operations point at
channels and at messages of those channels, messages have payload schemas,
every ``$ref`` resolves, and every example matches its payload.
``tests/e2e/test_asyncapi_frames.py`` checks real frames against it.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.api.asyncapi import EVENTS, asyncapi_document
from tests.support.docs import SchemaCheck, pointer, refs, resolve

SPEC_EVENT_TYPES = {
    "hotplug.transition.queued",
    "hotplug.transition.started",
    "hotplug.transition.finished",
    "hotplug.notification.sent",
    "hotplug.notification.replied",
    "hotplug.block.changed",
    "hotplug.block.added",
    "hotplug.block.removed",
    "hotplug.subscriber.registered",
    "hotplug.subscriber.updated",
    "hotplug.subscriber.removed",
    "hotplug.subscriber.connected",
    "hotplug.subscriber.disconnected",
    "hotplug.stream.gap",
}
MESSAGE_FIELDS = {
    "headers",
    "payload",
    "correlationId",
    "contentType",
    "name",
    "title",
    "summary",
    "description",
    "tags",
    "externalDocs",
    "bindings",
    "examples",
    "traits",
}
OPERATION_FIELDS = {
    "action",
    "channel",
    "title",
    "summary",
    "description",
    "security",
    "tags",
    "externalDocs",
    "bindings",
    "traits",
    "messages",
    "reply",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The document as served for a service on 127.0.0.1:8000."""
    return asyncapi_document("0.1.0")


def local(ref: str) -> str:
    """A local $ref as a JSON pointer (``#/a/b`` → ``/a/b``)."""
    assert ref.startswith("#/"), ref
    return ref[1:]


def test_it_is_an_asyncapi_3_document(document: dict[str, Any]) -> None:
    """The root members of AsyncAPI 3.0, and nothing else."""
    assert document["asyncapi"] == "3.0.0"
    assert set(document) <= {
        "asyncapi",
        "id",
        "info",
        "servers",
        "defaultContentType",
        "channels",
        "operations",
        "components",
    }
    assert document["info"]["title"]
    assert document["info"]["version"] == "0.1.0"
    assert document["servers"]["hotplugd"] == {
        "host": "127.0.0.1:8000",
        "protocol": "ws",
        "description": "This hotplugd.",
    }
    assert set(document["components"]) >= {"schemas", "messages", "securitySchemes"}


def test_both_channels_are_described(document: dict[str, Any]) -> None:
    """The subscriber channel and the event stream, at their real addresses."""
    channels = document["channels"]
    assert channels["subscriber"]["address"] == "/api/v1/subscribers/{subscriberId}/ws"
    assert set(channels["subscriber"]["parameters"]) == {"subscriberId"}
    assert set(channels["subscriber"]["messages"]) == {"hello", "notify", "reply", "error"}
    assert channels["events"]["address"] == "/api/v1/events"
    assert set(channels["events"]["messages"]) == SPEC_EVENT_TYPES
    query = channels["events"]["bindings"]["ws"]["query"]["properties"]
    assert {"since", "access_token"} <= set(query)


def test_close_codes_are_described(document: dict[str, Any]) -> None:
    """1001, 1008, 1009, 4001 and 4004 on the subscriber channel, in prose and as data."""
    subscriber = document["channels"]["subscriber"]
    assert set(subscriber["x-close-codes"]) == {"1001", "1008", "1009", "4001", "4004"}
    for code in subscriber["x-close-codes"]:
        assert f"`{code}`" in subscriber["description"]
    assert {"1001", "1008"} <= set(document["channels"]["events"]["x-close-codes"])


def test_operations_point_at_their_channels_messages(document: dict[str, Any]) -> None:
    """An operation's messages (and its reply's) are messages of the channel it names."""
    operations = document["operations"]
    assert operations
    for name, operation in operations.items():
        assert set(operation) <= OPERATION_FIELDS, name
        assert operation["action"] in {"send", "receive"}, name
        channel_ref = operation["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/"), name
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), name
            resolve(document, message["$ref"])
        reply = operation.get("reply")
        if reply is not None:
            for message in reply["messages"]:
                assert message["$ref"].startswith(reply["channel"]["$ref"] + "/messages/")


def test_notify_is_a_request_with_a_reply(document: dict[str, Any]) -> None:
    """sendNotify: hotplugd sends notify and receives the reply, correlated by id."""
    notify = document["operations"]["sendNotify"]
    assert notify["action"] == "send"
    assert notify["messages"] == [{"$ref": "#/channels/subscriber/messages/notify"}]
    assert notify["reply"]["messages"] == [{"$ref": "#/channels/subscriber/messages/reply"}]
    messages = document["components"]["messages"]
    for name in ("notify", "reply"):
        correlation = resolve(document, messages[name]["correlationId"]["$ref"])
        assert correlation["location"] == "$message.payload#/id"
    sent = {
        local(m["$ref"]).rsplit("/", 1)[1]
        for op in document["operations"].values()
        if op["channel"]["$ref"] == "#/channels/subscriber"
        for m in op["messages"]
    }
    assert sent == {"hello", "notify", "error"}


def test_every_event_type_of_the_spec_has_a_message(document: dict[str, Any]) -> None:
    """Each SPEC §7 type (and the gap event) is a CloudEvent message of sendEvent."""
    send_event = document["operations"]["sendEvent"]
    names = {local(m["$ref"]).rsplit("/", 1)[1] for m in send_event["messages"]}
    assert names == SPEC_EVENT_TYPES == set(EVENTS)
    for type_ in SPEC_EVENT_TYPES:
        payload = resolve(document, document["components"]["messages"][type_]["payload"]["$ref"])
        assert payload["properties"]["type"] == {"const": type_}
        assert payload["properties"]["specversion"] == {"const": "1.0"}
        assert {"id", "source", "type", "time", "data"} <= set(payload["required"])
        resolve(document, payload["properties"]["data"]["$ref"])


def test_messages_are_well_formed(document: dict[str, Any]) -> None:
    """Message objects use AsyncAPI's members, have a payload schema and an example."""
    for name, message in document["components"]["messages"].items():
        assert set(message) <= MESSAGE_FIELDS, name
        assert message["name"] == name
        assert message["summary"], name
        assert resolve(document, message["payload"]["$ref"])["type"] == "object"
        assert message["examples"], name


def test_channel_messages_refer_to_components(document: dict[str, Any]) -> None:
    """Channels list messages by reference to components.messages."""
    for channel in document["channels"].values():
        for name, message in channel["messages"].items():
            assert message == {"$ref": f"#/components/messages/{name}"}


def test_security_schemes_cover_header_and_query_tokens(document: dict[str, Any]) -> None:
    """Bearer header or ?access_token=, for the subscriber and for readers."""
    schemes = document["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "httpApiKey"}
    for operation in document["operations"].values():
        for scheme in operation["security"]:
            resolve(document, scheme["$ref"])


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    """No dangling ``$ref`` anywhere."""
    found = list(refs(document))
    assert len(found) > 50
    for where, ref in found:
        try:
            resolve(document, ref)
        except (KeyError, IndexError):
            pytest.fail(f"{where}: {ref} does not resolve")


def test_every_example_matches_its_payload(document: dict[str, Any]) -> None:
    """Message examples validate against the payload schema, with no undeclared member."""
    check = SchemaCheck(document, strict=True, draft7=True)
    for name, message in document["components"]["messages"].items():
        for example in message["examples"]:
            check.check(example["payload"], pointer("components", "messages", name, "payload"))


def test_payload_schemas_are_not_vacuous(document: dict[str, Any]) -> None:
    """A broken frame fails: wrong types, missing members, unknown members in strict mode."""
    check = SchemaCheck(document, strict=True, draft7=True)
    notify = document["components"]["messages"]["notify"]["examples"][0]["payload"]
    at = pointer("components", "messages", "notify", "payload")
    assert check.errors({**notify, "action_value": "2"}, at)
    assert check.errors({k: v for k, v in notify.items() if k != "arg"}, at)
    assert check.errors({**notify, "surprise": True}, at)
    reply_at = pointer("components", "messages", "reply", "payload")
    assert check.errors({"type": "reply", "id": 1}, reply_at)  # neither result nor errno
    assert check.errors({"type": "reply", "id": 1, "errno": 5}, reply_at)
    assert check.errors({"type": "reply", "id": 1, "result": "NOTIFY_MAYBE"}, reply_at)
    assert not check.errors({"type": "reply", "id": 1, "errno": -16}, reply_at)


def test_the_served_copy_is_independent(document: dict[str, Any]) -> None:
    """Changing one returned document does not change the next one."""
    first = asyncapi_document("0.1.0")
    first["channels"].clear()
    assert asyncapi_document("0.1.0")["channels"] == document["channels"]
    assert (
        asyncapi_document("0.1.0", "h:1", secure=True)["servers"]["hotplugd"]["protocol"] == "wss"
    )
