"""parse_reply and the token bucket: pure, no server."""

from __future__ import annotations

import orjson
import pytest

from app.engine.ports import Reply
from app.transport.limits import TokenBucket
from app.transport.replies import ParsedReply, Rejection, parse_reply


def reply(**fields: object) -> str:
    return orjson.dumps({"type": "reply", "id": 9, **fields}).decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (reply(result="NOTIFY_DONE"), Reply(0)),
        (reply(result="NOTIFY_OK"), Reply(1)),
        (reply(result="NOTIFY_BAD"), Reply(0x8002)),
        (reply(result="NOTIFY_STOP"), Reply(0x8001)),
        (reply(result=0x8010), Reply(0x8010)),
        (reply(result="NOTIFY_OK", errno=-1), Reply(0x8002, errno=-1)),  # -EPERM is NOTIFY_BAD
        (reply(result="NOTIFY_BAD", errno=-16, message="busy"), Reply(0x8011, -16, "busy")),
        (reply(errno=-4095), Reply(0x8000 | 4096, errno=-4095)),
        (reply(result="NOTIFY_OK", message="m" * 1024), Reply(1, message="m" * 1024)),
        (reply(result="NOTIFY_OK", errno=None, message=None), Reply(1)),
        (reply(result="NOTIFY_OK", extra="ignored"), Reply(1)),
    ],
)
def test_usable_replies(text: str, expected: Reply) -> None:
    assert parse_reply(text) == ParsedReply(9, expected)


@pytest.mark.parametrize(
    ("text", "expected_id", "complaint"),
    [
        ("", None, "not valid JSON"),
        ("{", None, "not valid JSON"),
        ("null", None, "not a JSON object"),
        ('{"type": "reply", "id": null, "result": 1}', None, "'id'"),
        ('{"type": "reply", "id": 1.0, "result": 1}', None, "'id'"),
        ('{"type": "notify", "id": 3}', 3, "'type'"),
        ('{"type": "notify", "id": "3"}', None, "'type'"),
        (reply(), 9, "'result' is required"),
        (reply(result="notify_ok"), 9, "unknown 'result'"),
        (reply(result=None, errno=None), 9, "'result' is required"),
        (reply(result=2**31), 9, "32-bit"),
        (reply(result=False), 9, "32-bit"),
        (reply(result=[1]), 9, "32-bit"),
        (reply(result="NOTIFY_MAYBE", errno=-5), 9, "unknown 'result'"),
        (reply(result="NOTIFY_BAD", errno=0), 9, "'errno'"),
        (reply(result="NOTIFY_BAD", errno=1), 9, "'errno'"),
        (reply(result="NOTIFY_BAD", errno=-4096), 9, "'errno'"),
        (reply(result="NOTIFY_BAD", errno=True), 9, "'errno'"),
        (reply(result="NOTIFY_OK", message=["a"]), 9, "'message'"),
        (reply(result="NOTIFY_OK", message="m" * 1025), 9, "'message'"),
    ],
)
def test_unusable_replies(text: str, expected_id: int | None, complaint: str) -> None:
    rejection = parse_reply(text)
    assert isinstance(rejection, Rejection)
    assert rejection.id == expected_id
    assert complaint in rejection.message


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.1  # one token back
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] += 60.0  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
