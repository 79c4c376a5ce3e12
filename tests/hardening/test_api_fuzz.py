"""API fuzzing (issue 8): schemathesis over the served OpenAPI document, plus hand-written cases.

The schemathesis part loads ``/api/v1/openapi.json`` from a real hotplugd
(uvicorn in a background thread, so that schemathesis' synchronous client
does not block the server's loop) and, for every operation of the document,
sends positive (schema-valid) and negative (schema-violating) requests with
the admin token. Each operation's run is recorded once and judged twice:

- ``test_fuzz_no_server_error``: no 5xx (except the SPEC's queue-full 503 with
  ``Retry-After``), no hang (every request answers within 10 s);
- ``test_fuzz_responses_match_the_document``: every response conforms to the
  document (status code documented, content type documented, body valid
  against the documented schema).

``max_examples`` is 30 per operation and mode (the whole file runs in well
under 90 s); ``HOTPLUG_SOAK=1`` raises it to 500 and randomizes the seed.
The hand-written cases below cover what a schema-driven fuzzer does not
reach: oversized and chunked bodies, deep JSON, wrong content types, huge
pagination values, overflowing integers, and unicode in names.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from tests.support.api import assert_problem
from tests.support.events import event_stream
from tests.support.faults import fast_data_dir
from tests.support.hotplug import (
    ADMIN_TOKEN,
    VIEWER_TOKEN,
    Service,
    get_json,
    make_settings,
    running_service,
)
from tests.support.server import seconds
from tests.support.threaded import ThreadedService, threaded_service

SOAK = os.environ.get("HOTPLUG_SOAK") == "1"
MAX_EXAMPLES = 500 if SOAK else 30
REQUEST_TIMEOUT = 10.0  # a request that takes longer counts as a hang
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BODY_LIMIT = 65_536
PARAM = re.compile(r"\{([^}]+)\}")

CONFORMANCE_CHECKS = {
    "status_code_conformance": status_code_conformance,
    "content_type_conformance": content_type_conformance,
    "response_schema_conformance": response_schema_conformance,
}


def document_operations() -> list[str]:
    """``METHOD /path`` of every operation in the app's OpenAPI document (collection time)."""
    unused = Path(tempfile.gettempdir()) / "hotplugd-openapi-never-created"
    document = create_app(make_settings(unused)).openapi()
    return sorted(
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
    )


OPERATIONS = document_operations()


# -- the served service and one recorded run per operation -----------------------


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, from any logger, while installed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class FuzzRun:
    """What the fuzzer sent to one operation and what it saw."""

    label: str
    examples: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    server_errors: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    violations: dict[str, list[str]] = field(default_factory=dict)

    def violate(self, key: str, text: str) -> None:
        """Keep the first three examples of each kind of violation."""
        found = self.violations.setdefault(key, [])
        if len(found) < 3:
            found.append(text)


@dataclass
class Fuzzer:
    """The served hotplugd, its loaded schema, real ids to aim at, and the runs so far."""

    served: ThreadedService
    schema: Any
    real_ids: dict[str, list[Any]]
    errors: ErrorLog
    session: requests.Session
    runs: dict[str, FuzzRun] = field(default_factory=dict)

    def run(self, label: str) -> FuzzRun:
        """Fuzz one operation (once; later calls return the recorded run)."""
        if label not in self.runs:
            self.runs[label] = self._fuzz(label)
        return self.runs[label]

    def _fuzz(self, label: str) -> FuzzRun:
        method, path = label.split(" ", 1)
        operation = self.schema[path][method]
        run = FuzzRun(label)
        names = PARAM.findall(path)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(mode)
            if mode is GenerationMode.POSITIVE and names:
                aimed = st.fixed_dictionaries({n: st.sampled_from(self.real_ids[n]) for n in names})
                strategy = st.one_of(
                    strategy,
                    aimed.flatmap(
                        lambda p: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=p)
                    ),
                )
            try:
                _explore(strategy, lambda case, m=mode: self._exercise(run, m, case))
            except Unsatisfiable:
                run.examples[f"{mode.value} (nothing to violate)"] = 0
        return run

    def _exercise(self, run: FuzzRun, mode: GenerationMode, case: Any) -> None:
        run.examples[mode.value] += 1
        tame(case)
        where = f"{mode.value}: {case.as_curl_command(headers={'Authorization': '[admin]'})}"
        started = time.monotonic()
        try:
            response = case.call(session=self.session, headers=AUTH, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            run.hangs.append(f"{where}\n  {exc!r} after {time.monotonic() - started:.1f}s")
            return
        run.statuses[response.status_code] += 1
        summary = f"{where}\n  -> {response.status_code} {response.text[:300]}"
        if response.status_code >= 500 and not is_queue_full(response):
            run.server_errors.append(summary)
        for name, check in CONFORMANCE_CHECKS.items():
            try:
                case.validate_response(response, checks=[check], headers=AUTH)
            except (Exception, BaseExceptionGroup) as exc:  # failures come as a group
                key = f"{name} [{response.status_code} {header(response, 'content-type')}]"
                run.violate(key, f"{summary}\n  {first_line(exc)}")


def _explore(strategy: st.SearchStrategy[Any], exercise: Callable[[Any], None]) -> None:
    """Run ``exercise`` on ``MAX_EXAMPLES`` cases drawn from ``strategy`` (no shrinking)."""

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not SOAK,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def explore(case: Any) -> None:
        exercise(case)

    explore()


def tame(case: Any) -> None:
    """Keep generated bodies from turning the fuzz into a soak of its own.

    A ``migration_ms`` of up to 10 minutes (schema-valid) would hold the
    one-at-a-time transition queue for that long, and a probe of 4096 blocks
    per example would grow the machine past what a 90 s run can list; both
    limits themselves are covered by the hand-written cases.
    """
    body = case.body
    if not isinstance(body, dict):
        return
    if isinstance(body.get("migration_ms"), int) and body["migration_ms"] > 20:
        body["migration_ms"] = 20
    if isinstance(body.get("count"), int) and body["count"] > 8:
        body["count"] = 8


def header(response: Any, name: str) -> str:
    """One header of a schemathesis response (whose header values are lists)."""
    for key, value in response.headers.items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return ""


def is_queue_full(response: Any) -> bool:
    """The SPEC's 503 for a full transition queue: problem+json with Retry-After."""
    return (
        response.status_code == 503
        and header(response, "retry-after") != ""
        and header(response, "content-type").startswith("application/problem+json")
    )


def first_line(exc: BaseException) -> str:
    """The gist of a schemathesis failure."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[:4])[:400]


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    """A served hotplugd, its schema loaded from ``/api/v1/openapi.json``, and real ids."""
    tmp_path = tmp_path_factory.mktemp("fuzz")
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        with (
            fast_data_dir(tmp_path) as data_dir,
            threaded_service(tmp_path, {"log_config": None}, data_dir=data_dir) as served,
            requests.Session() as session,
        ):
            real_ids = seed_state(served.http, session)
            schema = schemathesis.openapi.from_url(f"{served.http}/api/v1/openapi.json")
            yield Fuzzer(served, schema, real_ids, errors, session)
    finally:
        root.removeHandler(errors)


def seed_state(base: str, session: requests.Session) -> dict[str, list[Any]]:
    """A subscriber and a finished transition, so that fuzzing can hit real ids too."""
    created = session.post(
        f"{base}/api/v1/subscribers",
        json={"name": "fuzz-target", "failure_policy": "ignore"},
        headers=AUTH,
        timeout=REQUEST_TIMEOUT,
    )
    assert created.status_code == 201, created.text
    online = session.post(
        f"{base}/api/v1/memory/blocks/12/online", json={}, headers=AUTH, timeout=REQUEST_TIMEOUT
    )
    assert online.status_code == 200, online.text
    blocks = session.get(f"{base}/api/v1/memory/blocks", headers=AUTH, timeout=REQUEST_TIMEOUT)
    return {
        "block_id": [b["id"] for b in blocks.json()],
        "subscriber_id": [created.json()["id"]],
        "transition_id": [online.json()["id"]],
    }


# -- schemathesis ----------------------------------------------------------------


def test_the_served_document_is_the_one_fuzzed(fuzzer: Fuzzer) -> None:
    """Every operation of the served document is among the fuzzed ones, and vice versa."""
    served = sorted(
        f"{op.method.upper()} {op.path}"
        for result in fuzzer.schema.get_all_operations()
        for op in [result.ok()]
    )
    assert served == OPERATIONS
    assert len(OPERATIONS) >= 20


@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzz_no_server_error(fuzzer: Fuzzer, label: str) -> None:
    """Schema-valid and schema-violating requests never get a 5xx, nor hang."""
    run = fuzzer.run(label)
    assert sum(run.examples.values()) >= 1
    assert not run.hangs, "\n".join(run.hangs[:3])
    assert not run.server_errors, "\n".join(run.server_errors[:3])


@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzz_responses_match_the_document(fuzzer: Fuzzer, label: str) -> None:
    """Every response has a documented status and content type and matches its schema."""
    run = fuzzer.run(label)
    report = "\n".join(
        f"{kind}:\n    " + "\n    ".join(examples) for kind, examples in run.violations.items()
    )
    assert not run.violations, f"{label} ({dict(run.statuses)}):\n{report}"


def test_fuzz_left_the_service_healthy_and_logged_no_error(fuzzer: Fuzzer) -> None:
    """After all of it: /healthz and /readyz answer, and no ERROR was logged (no traceback)."""
    for label in OPERATIONS:
        fuzzer.run(label)
    for probe in ("/healthz", "/readyz"):
        response = fuzzer.session.get(f"{fuzzer.served.http}{probe}", timeout=REQUEST_TIMEOUT)
        assert response.status_code == 200, response.text
    logged = [f"{r.name}: {r.getMessage()}" for r in fuzzer.errors.records]
    assert not logged, logged[:5]
    runs = fuzzer.runs.values()
    examples = sum(sum(r.examples.values()) for r in runs)
    statuses: collections.Counter[int] = collections.Counter()
    for r in runs:
        statuses.update(r.statuses)
    print(  # the figures, shown with -rP / -s
        f"\nfuzzed {len(OPERATIONS)} operations, {examples} requests "
        f"(max_examples={MAX_EXAMPLES} per operation and mode); "
        f"statuses {dict(sorted(statuses.items()))}"
    )


# -- hand-written cases ----------------------------------------------------------


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """A hotplugd whose SQLite lives on tmpfs."""
    with fast_data_dir(tmp_path) as data_dir:
        async with running_service(tmp_path, data_dir=data_dir) as running:
            yield running


BODY_ROUTES = [
    ("POST", "/api/v1/subscribers"),
    ("POST", "/api/v1/memory/probe"),
    ("POST", "/api/v1/memory/chmem"),
    ("POST", "/api/v1/memory/blocks/12/online"),
    ("POST", "/api/v1/memory/blocks/1/offline"),
    ("PATCH", "/api/v1/memory/blocks/12"),
    ("PATCH", "/api/v1/memory"),
    ("PUT", "/api/v1/debug/notifier-error-inject"),
]
JSON_CT = {"Content-Type": "application/json"}


async def state_of(service: Service) -> dict[str, Any]:
    """Everything an admin request could have changed."""
    paths = (
        "/api/v1/memory",
        "/api/v1/memory/blocks",
        "/api/v1/subscribers",
        "/api/v1/chain",
        "/api/v1/transitions?limit=1000",
        "/api/v1/debug/notifier-error-inject",
    )
    return {path: await get_json(service, path) for path in paths}


def never_5xx(response: httpx.Response) -> httpx.Response:
    """The response is not a server error, and errors are problem+json."""
    where = (response.request.method, str(response.request.url)[:200])
    assert response.status_code < 500, (*where, response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), where
    return response


async def test_oversized_bodies_are_413_and_change_nothing(service: Service) -> None:
    """Bodies over 64 KiB, declared or chunked, are 413 problem+json on every body route."""
    before = await state_of(service)
    padded = b'{"name": "' + b"a" * BODY_LIMIT + b'"}'

    async def chunks() -> Any:
        for _ in range(BODY_LIMIT // 1024 + 2):
            yield b" " * 1024

    for method, path in BODY_ROUTES:
        declared = await service.admin.request(method, path, content=padded, headers=JSON_CT)
        assert_problem(declared, 413)
        chunked = await service.admin.request(method, path, content=chunks(), headers=JSON_CT)
        assert "content-length" not in chunked.request.headers
        assert_problem(chunked, 413)
    assert await state_of(service) == before
    # exactly at the limit is fine
    exact = b'{"name": "edge"}'.ljust(BODY_LIMIT)
    response = await service.admin.post("/api/v1/subscribers", content=exact, headers=JSON_CT)
    assert response.status_code == 201, response.text


async def test_deeply_nested_json_is_a_quick_4xx(service: Service) -> None:
    """Arrays and objects nested up to ~32,000 deep: a 4xx within a second, never 500 or a hang."""
    bodies = {}
    for depth in (100, 1_000, 10_000, 32_000):
        bodies[f"array {depth}"] = b"[" * depth + b"]" * depth
        if 6 * depth < BODY_LIMIT:
            bodies[f"object {depth}"] = b'{"a":' * depth + b"1" + b"}" * depth
    bodies["in a field"] = b'{"name": "deep", "nodes": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    before = await state_of(service)
    for method, path in BODY_ROUTES:
        for what, body in bodies.items():
            started = time.monotonic()
            response = await service.admin.request(method, path, content=body, headers=JSON_CT)
            elapsed = time.monotonic() - started
            assert 400 <= response.status_code < 500, (method, path, what, response.text[:300])
            never_5xx(response)
            assert elapsed < seconds(1), (method, path, what, elapsed)
    assert await state_of(service) == before
    assert (await service.anonymous.get("/healthz")).status_code == 200


async def test_wrong_content_types_are_4xx_and_change_nothing(service: Service) -> None:
    """XML, forms, multipart, text, no type at all: refused with a 4xx problem, no side effect."""
    before = await state_of(service)
    body = b'{"name": "typed", "online_type": "online_movable", "node": 1, "count": 1}'
    variants: list[dict[str, Any]] = [
        {"content": body, "headers": {"Content-Type": "text/plain"}},
        {"content": body, "headers": {"Content-Type": "application/xml"}},
        {"content": b"<name>typed</name>", "headers": {"Content-Type": "application/xml"}},
        {
            "content": b"name=typed",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        {"files": {"name": ("name", b"typed")}},
        {"content": body, "headers": {"Content-Type": ""}},
        {"content": body, "headers": {"Content-Type": "application/json; charset=nope"}},
        {"content": '{"name": "é"}'.encode("latin-1"), "headers": JSON_CT},
        {"content": b"\xff\xfe\x00", "headers": JSON_CT},
    ]
    for method, path in BODY_ROUTES:
        if path.endswith(("/online", "/offline")):
            continue  # optional bodies: see below
        for variant in variants:
            response = never_5xx(await service.admin.request(method, path, **variant))
            assert response.status_code in (400, 415, 422), (method, path, variant, response.text)
    assert await state_of(service) == before
    # Trigger bodies are optional, but a body that is there must be JSON.
    for variant in variants[:5]:
        response = await service.admin.post("/api/v1/memory/blocks/12/online", **variant)
        assert never_5xx(response).status_code in (400, 415, 422), (variant, response.text)
    assert (await service.block(12))["state"] == "offline"


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=-1",
        "limit=1001",
        f"limit={10**30}",
        f"limit={-(10**30)}",
        "limit=" + "9" * 5000,
        "limit=1e3",
        "limit=NaN",
        "limit=",
        "before=",
        "before=" + "x" * 65,
        "before=" + "9" * 64,
        "before=tr--1",
        "before=tr-99999999999999999999999",
        "before=%00",
        f"block={2**40 + 1}",
        "block=-1",
        f"block={10**30}",
        "node=1024",
        "node=-1",
        f"node={2**64}",
        "operation=%E2%80%AEonline",
        "outcome=completed%00",
    ],
)
async def test_huge_and_bad_pagination_values_are_422(service: Service, query: str) -> None:
    """Out-of-range, overflowing and malformed paging and filter values: 422 problem+json."""
    response = await service.viewer.get(f"/api/v1/transitions?{query}")
    assert_problem(response, 422)


async def test_pagination_at_its_bounds(service: Service) -> None:
    """limit=1 and limit=1000 work; the Link header pages through everything exactly once."""
    for block in (12, 13, 14):
        assert (await service.online(block)).status_code == 200
    seen: list[str] = []
    url: str | None = "/api/v1/transitions?limit=1"
    for _ in range(10):
        assert url is not None
        response = await service.viewer.get(url)
        assert response.status_code == 200, response.text
        seen += [r["id"] for r in response.json()]
        link = response.headers.get("link")
        url = link.split(">", 1)[0].lstrip("<") if link else None
        if url is None:
            break
    assert len(seen) == len(set(seen)) == 3
    everything = await service.viewer.get("/api/v1/transitions?limit=1000")
    assert [r["id"] for r in everything.json()] == seen
    assert "link" not in everything.headers


PATH_INTS = [
    "-1",
    str(-(2**63)),
    str(2**63),
    str(2**64),
    str(10**30),
    "9" * 4300,
    "9" * 5000,
    "1e3",
    "0x10",
    "%00",
    "%E2%80%AE1",
    "NaN",
]


@pytest.mark.parametrize("block", PATH_INTS)
async def test_negative_and_overflowing_block_ids_in_paths(service: Service, block: str) -> None:
    """Every block route answers 404 or 422 to ids that are negative, huge or not integers."""
    before = await state_of(service)
    for method, suffix in (
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/online"),
        ("POST", "/offline"),
    ):
        response = await service.admin.request(
            method, f"/api/v1/memory/blocks/{block}{suffix}", json={}
        )
        assert response.status_code in (404, 422), (method, suffix, response.text[:300])
        never_5xx(response)
    assert await state_of(service) == before


@pytest.mark.parametrize(
    "ident", ["-1", "0", "x" * 10_000, "%00", "%ED%A0%80", "%F0%9F%98%80", "..%2F..%2Fmemory"]
)
async def test_odd_string_ids_in_paths(service: Service, ident: str) -> None:
    """Unknown, huge, NUL, invalid-UTF-8 and traversal-looking ids: 404 (or 422), never 5xx."""
    for method, path in (
        ("GET", f"/api/v1/subscribers/{ident}"),
        ("PATCH", f"/api/v1/subscribers/{ident}"),
        ("DELETE", f"/api/v1/subscribers/{ident}"),
        ("GET", f"/api/v1/transitions/{ident}"),
        ("POST", f"/api/v1/transitions/{ident}/abort"),
    ):
        response = never_5xx(await service.admin.request(method, path, json={}))
        assert response.status_code in (404, 422), (method, path, response.text[:300])


BIG = [2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30)]

BODY_CASES: list[tuple[str, str, dict[str, Any]]] = [
    *[("POST", "/api/v1/subscribers", {"name": "p", "priority": v}) for v in BIG],
    *[("POST", "/api/v1/subscribers", {"name": "t", "timeout_ms": v}) for v in (0, -1, 60_001)],
    *[("POST", "/api/v1/subscribers", {"name": "t", "timeout_ms": v}) for v in BIG],
    *[("POST", "/api/v1/subscribers", {"name": "n", "nodes": [v]}) for v in (-1, 1024, *BIG)],
    *[("PATCH", "/api/v1/memory/blocks/12", {"migration_ms": v}) for v in (-1, 600_001, *BIG)],
    *[("POST", "/api/v1/memory/probe", {"node": v, "count": 1}) for v in (-1, 1024, *BIG)],
    *[("POST", "/api/v1/memory/probe", {"node": 1, "count": v}) for v in (0, -1, 4097, *BIG)],
    *[("POST", "/api/v1/memory/blocks/12/online", {"timeout_ms": v}) for v in (0, -1, *BIG)],
    *[("POST", "/api/v1/memory/blocks/1/offline", {"timeout_ms": v}) for v in (0, *BIG)],
    *[
        ("PUT", "/api/v1/debug/notifier-error-inject", {"enabled": True, "priority": v})
        for v in BIG
    ],
    *[
        ("PUT", "/api/v1/debug/notifier-error-inject", {"enabled": True, "actions": {a: v}})
        for a in ("MEM_GOING_ONLINE", "MEM_GOING_OFFLINE")
        for v in (1, -4096, *BIG)
    ],
    *[
        ("POST", "/api/v1/memory/probe", {"phys_addr": v})
        for v in ("-0x8000000", "0x", "0x" + "f" * 17, "0x" + "0" * 17, "8000000", "0x1")
    ],
]


async def test_negative_and_overflowing_integers_in_bodies(service: Service) -> None:
    """Out-of-range and overflowing numbers in every numeric field: 422, and nothing changes."""
    before = await state_of(service)
    for method, path, body in BODY_CASES:
        response = await service.admin.request(method, path, json=body)
        assert_problem(response, 422)
    raw_cases = [
        b'{"name": "p", "priority": ' + b"9" * 5000 + b"}",  # beyond Python's int-string limit
        b'{"name": "p", "priority": 1e400}',
        b'{"name": "p", "priority": NaN}',
        b'{"name": "p", "priority": -Infinity}',
        b'{"name": "p", "priority": 1.5}',
    ]
    for raw in raw_cases:
        response = await service.admin.post("/api/v1/subscribers", content=raw, headers=JSON_CT)
        assert response.status_code in (400, 422), (raw[:60], response.text)
        never_5xx(response)
    assert await state_of(service) == before
    # the edges themselves are accepted
    for priority in (2**31 - 1, -(2**31)):
        response = await service.admin.post(
            "/api/v1/subscribers", json={"name": "edge", "priority": priority}
        )
        assert response.status_code == 201, response.text
        assert response.json()["priority"] == priority


async def test_probe_stays_inside_the_64_bit_physical_address_space(service: Service) -> None:
    """No block may lie beyond 2**64 bytes: phys_addr is 64-bit, so count probes must stop there."""
    top = 2**64 - 2**27  # the last 128 MiB block of a 64-bit physical address space
    response = await service.admin.post("/api/v1/memory/probe", json={"phys_addr": hex(top)})
    assert response.status_code == 201, response.text
    response = never_5xx(
        await service.admin.post("/api/v1/memory/probe", json={"node": 1, "count": 2})
    )
    blocks = await get_json(service, "/api/v1/memory/blocks")
    beyond = [b["phys_addr"] for b in blocks if int(b["phys_addr"], 16) >= 2**64]
    assert not beyond, (
        f"probe of 2 blocks after {hex(top)} answered {response.status_code} "
        f"and created blocks at {beyond}"
    )


async def test_probe_past_the_queue_bound_has_no_side_effect(tmp_path: Path) -> None:
    """A 503 for a full queue must mean nothing happened: no blocks added, none left queued."""
    with fast_data_dir(tmp_path) as data_dir:
        async with running_service(tmp_path, data_dir=data_dir, max_queue=4) as service:
            response = await service.admin.patch(
                "/api/v1/memory", json={"auto_online_blocks": "online"}
            )
            assert response.status_code == 200, response.text
            before = len(await get_json(service, "/api/v1/memory/blocks"))
            response = await service.admin.post(
                "/api/v1/memory/probe", json={"node": 2, "count": 10}
            )
            after = await get_json(service, "/api/v1/memory/blocks")
            added = len(after) - before
            if response.status_code == 201:
                assert added == len(response.json()["blocks"]) == 10
            else:
                assert_problem(response, 503)
                assert added == 0, (
                    f"503 ({response.json()['detail']}) but {added} blocks were added and "
                    f"{len([b for b in after if b['node'] == 2 and b['state'] == 'online'])} "
                    "of them onlined: a client that retries adds them again"
                )


NAMES = {
    "nul": "a\u0000b",
    "rtl": "\u202eevil\u202c\u200f",
    "emoji": "\U0001f600 \U0001f469\u200d\U0001f4bb \U0001f1fa\U0001f1f8",
    "combining": "e" + "\u0301" * 50,
    "bom": "\ufeffname",
    "controls": "\x1b[31mred\x1b[0m\n\t\r",
    "cjk": "\u5185\u5b58\u70ed\u63d2\u62d4",
    "max length emoji": "\U0001f600" * 128,
    "whitespace": "   ",
    "html": "<script>alert(1)</script>&amp;",
}
BAD_NAMES = {
    "lone high surrogate": b'"x\\ud800y"',
    "lone low surrogate": b'"\\udfff"',
    "reversed pair": b'"\\ude00\\ud83d"',
    "too long": ('"' + "\U0001f600" * 129 + '"').encode(),
    "empty": b'""',
}


async def test_unicode_names_round_trip_everywhere(tmp_path: Path) -> None:
    """NUL, RTL marks, emoji, combining marks: stored, listed, streamed and restored exactly."""
    with fast_data_dir(tmp_path) as data_dir:
        async with running_service(tmp_path, data_dir=data_dir) as service:
            ids = {}
            async with event_stream(service.server.ws, VIEWER_TOKEN) as events:
                for label, name in NAMES.items():
                    info = await service.register(name, failure_policy="ignore")
                    assert info["name"] == name, label
                    ids[label] = info["id"]
                for raw in BAD_NAMES.values():
                    body = b'{"name": ' + raw + b"}"
                    response = await service.admin.post(
                        "/api/v1/subscribers", content=body, headers=JSON_CT
                    )
                    assert_problem(response, 422)
                    patch = await service.admin.patch(
                        f"/api/v1/subscribers/{ids['nul']}", content=body, headers=JSON_CT
                    )
                    assert_problem(patch, 422)
                for label, sid in ids.items():
                    await events.wait_for(
                        "hotplug.subscriber.registered", lambda e, s=sid: e["data"]["id"] == s
                    )
                    streamed = next(
                        e
                        for e in events.of_type("hotplug.subscriber.registered")
                        if e["data"]["id"] == sid
                    )
                    assert streamed["data"]["name"] == NAMES[label], label
            record = (await service.online(12)).json()  # every one of them is called (absent)
            names = [c["name"] for w in record["walks"] for c in w["calls"]]
            assert set(NAMES.values()) <= set(names)
            chain = await get_json(service, "/api/v1/chain")
            assert {e["name"] for e in chain} >= set(NAMES.values())
        async with running_service(tmp_path, data_dir=data_dir) as restarted:
            for label, sid in ids.items():
                stored = await get_json(restarted, f"/api/v1/subscribers/{sid}")
                assert stored["name"] == NAMES[label], label
            again = await get_json(restarted, f"/api/v1/transitions/{record['id']}")
            assert again == record


async def test_unicode_in_queries_and_the_anonymous_path(service: Service) -> None:
    """Odd bytes in query strings never reach a 5xx, with or without a token."""
    for query in ("state=%00", "state=%E2%80%AEonline", "node=%F0%9F%98%80", "state=%ED%A0%80"):
        assert_problem(await service.viewer.get(f"/api/v1/memory/blocks?{query}"), 422)
        assert_problem(await service.anonymous.get(f"/api/v1/memory/blocks?{query}"), 401)
    response = await service.admin.get("/api/v1/memory/blocks?state=online&state=offline")
    assert never_5xx(response).status_code in (200, 422)
