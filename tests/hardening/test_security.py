"""Security review as tests (issue 8, SPEC §5, §6, §8).

Tokens are hashed at rest and compared in constant time, never logged nor
echoed in errors; the generated admin token file is 0600; the viewer and
subscriber tokens can do no admin action on any route of the route table
(nor through path tricks); CORS is closed; the dashboard sends its security
headers; the request-body, frame-size, connections-per-subscriber and
pending-request limits hold; the service binds to 127.0.0.1 by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import json
import logging
import os
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import app.engine.auth as auth_module
from app.engine.auth import Role, Tokens, hash_token, token_matches
from app.main import ADMIN_TOKEN_FILE
from app.settings import Settings
from tests.support.api import assert_problem
from tests.support.events import event_stream
from tests.support.faults import connected_gauge, fast_data_dir, service_with_server_options
from tests.support.hotplug import (
    ADMIN_TOKEN,
    VIEWER_TOKEN,
    ScriptedSubscriber,
    Service,
    get_json,
    running_service,
    start_transition,
    wait_finished,
)
from tests.support.process import PYTHON, REPO, HotplugProcess, clean_env, free_port
from tests.support.rawws import OP_TEXT, RawWebSocket
from tests.support.routes import flat_routes
from tests.support.server import seconds, wait_for

PG_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """A hotplugd whose SQLite lives on tmpfs."""
    with fast_data_dir(tmp_path) as data_dir:
        async with running_service(tmp_path, data_dir=data_dir) as running:
            yield running


# -- tokens at rest ----------------------------------------------------------------


def files_containing(directory: Path, secret: str) -> list[str]:
    """The files under ``directory`` whose bytes contain ``secret`` (database, WAL, anything)."""
    needle = secret.encode()
    return sorted(
        str(path.relative_to(directory))
        for path in directory.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    )


async def exercise(service: Service) -> list[dict[str, Any]]:
    """Register, connect, run transitions, restart-worthy state: the tokens' whole life."""
    subs = [
        await service.subscriber("alpha", priority=1),
        await service.subscriber("beta", connect=False),
    ]
    assert (await service.online(12)).status_code == 409  # beta is away: ENOTCONN
    await subs[1].connect()
    assert (await service.online(12)).status_code == 200
    assert (await service.offline(12)).status_code == 200
    response = await service.admin.patch(f"/api/v1/subscribers/{subs[0].id}", json={"priority": 3})
    assert response.status_code == 200
    return [sub.info for sub in subs]


async def test_tokens_are_hashed_at_rest(tmp_path: Path) -> None:
    """No token in the data directory but the admin token, in its 0600 file; hashes are there."""
    data_dir = tmp_path / "data"
    async with running_service(tmp_path, admin_token=None) as service:
        admin = (data_dir / ADMIN_TOKEN_FILE).read_text().strip()
        service.admin.headers["Authorization"] = f"Bearer {admin}"
        infos = await exercise(service)
    secrets = {"viewer": VIEWER_TOKEN, **{i["name"]: i["token"] for i in infos}}
    for name, secret in secrets.items():
        assert files_containing(data_dir, secret) == [], name
    assert files_containing(data_dir, admin) == [ADMIN_TOKEN_FILE]
    mode = stat.S_IMODE((data_dir / ADMIN_TOKEN_FILE).stat().st_mode)
    assert mode == 0o600, oct(mode)
    # what is stored instead is the hash (so the token still works after a restart)
    database = [p for p in data_dir.iterdir() if p.name.startswith("hotplugd.sqlite3")]
    stored = b"".join(p.read_bytes() for p in database)
    for info in infos:
        assert hash_token(info["token"]).encode() in stored, info["name"]


@pytest.mark.postgres
async def test_tokens_are_hashed_at_rest_on_postgresql(tmp_path: Path) -> None:
    """On PostgreSQL too, no table holds a token in clear."""
    schema = f"hotplug_security_{os.getpid()}_{id(tmp_path) % 10**6}"
    try:
        admin = await asyncio.wait_for(asyncpg.connect(PG_SERVER), seconds(5))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_SERVER}: {exc}")
    try:
        url = f"{PG_SERVER}?schema={schema}"
        async with running_service(tmp_path, database_url=url) as service:
            infos = await exercise(service)
        tables = await admin.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
        dump = ""
        for row in tables:
            rows = await admin.fetch(f'SELECT * FROM "{schema}"."{row["table_name"]}"')
            dump += json.dumps([dict(r) for r in rows], default=str)
        assert dump
        for secret in (ADMIN_TOKEN, VIEWER_TOKEN, *(i["token"] for i in infos)):
            assert secret not in dump
        for info in infos:
            assert hash_token(info["token"]) in dump
    finally:
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def test_generated_admin_token_is_0600_and_printed_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The generated token goes to a 0600 file and to stderr once; a restart reuses it silently."""
    path = tmp_path / "data" / ADMIN_TOKEN_FILE
    async with running_service(tmp_path, admin_token=None) as service:
        token = path.read_text().strip()
        assert len(token) >= 32
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        whoami = await service.anonymous.get(
            "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}
        )
        assert whoami.json()["role"] == "admin"
    first = capfd.readouterr()
    assert (first.out + first.err).count(token) == 1
    async with running_service(tmp_path, admin_token=None):
        assert path.read_text().strip() == token
    second = capfd.readouterr()
    assert token not in second.out + second.err


# -- constant-time comparison --------------------------------------------------------


@pytest.fixture
def compare_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """Every call of ``hmac.compare_digest`` made by app.engine.auth, recorded."""
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", counting)
    return calls


def test_token_checks_go_through_compare_digest(compare_calls: list[tuple[Any, Any]]) -> None:
    """Every admin/viewer/subscriber token check is hmac.compare_digest on SHA-256 digests."""
    tokens = Tokens(ADMIN_TOKEN, VIEWER_TOKEN)
    assert tokens.role_of(ADMIN_TOKEN) is Role.ADMIN
    assert len(compare_calls) == 1
    assert tokens.role_of(VIEWER_TOKEN) is Role.VIEWER
    assert len(compare_calls) == 3  # admin digest first, then viewer
    assert tokens.role_of("x" * 43) is None
    assert len(compare_calls) == 5
    assert tokens.role_of("") is None
    assert tokens.role_of(None) is None
    assert len(compare_calls) == 5  # no token: nothing to compare
    assert token_matches("secret-token", hash_token("secret-token"))
    assert not token_matches("secret-tokeN", hash_token("secret-token"))
    assert len(compare_calls) == 7
    for a, b in compare_calls:  # digests of equal length, never the raw tokens
        assert len(a) == len(b) == 64
        assert ADMIN_TOKEN not in (a, b)
        assert VIEWER_TOKEN not in (a, b)


def test_no_plain_equality_on_secrets_in_the_auth_code() -> None:
    """The comparison functions contain no ``==`` (which would short-circuit on a prefix)."""
    for function in (Tokens.role_of, token_matches):
        source = inspect.getsource(function)
        code = "\n".join(line.split("#")[0] for line in source.splitlines()[1:])
        assert "==" not in code, function.__qualname__
        assert "compare_digest" in code, function.__qualname__


async def test_live_requests_compare_in_constant_time(
    service: Service, compare_calls: list[tuple[Any, Any]]
) -> None:
    """A REST request and a websocket handshake with a wrong token both reach compare_digest."""
    info = await service.register("timed")
    before = len(compare_calls)
    wrong = {"Authorization": "Bearer wrong-wrong-wrong-wrong-wrong"}
    assert_problem(await service.anonymous.get("/api/v1/memory", headers=wrong), 401)
    assert len(compare_calls) > before
    before = len(compare_calls)
    raw = await RawWebSocket.connect(info["ws_url"], info["token"][:-1] + "x")
    try:
        assert raw.status == 401
    finally:
        await raw.close()
    assert len(compare_calls) > before


# -- tokens never in logs or error bodies ----------------------------------------------

CLIENT_LOGGERS = ("websockets.client", "httpx", "httpcore")


def leaked(text: str, secrets: dict[str, str]) -> list[str]:
    """The names of the secrets that appear in ``text``."""
    return [name for name, secret in secrets.items() if secret in text]


async def test_tokens_never_in_logs_or_error_bodies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole flow at DEBUG, bad tokens included: no token in any service log line or problem."""
    caplog.set_level(logging.DEBUG)
    server = {"log_config": None, "log_level": "debug", "access_log": False}  # as python -m app
    bodies: list[str] = []
    with fast_data_dir(tmp_path) as data_dir:
        async with service_with_server_options(tmp_path, server, data_dir=data_dir) as service:
            header_sub = await service.subscriber("by-header")
            info = await service.register("by-query")
            secrets = {
                "admin": ADMIN_TOKEN,
                "viewer": VIEWER_TOKEN,
                "by-header": header_sub.info["token"],
                "by-query": info["token"],
            }
            async with (
                connect(f"{info['ws_url']}?access_token={info['token']}") as browser_like,
                event_stream(service.server.ws, VIEWER_TOKEN, query_token=True) as dashboard,
            ):
                hello = json.loads(await asyncio.wait_for(browser_like.recv(), seconds(5)))
                assert hello["type"] == "hello"
                task = asyncio.create_task(service.online(12))
                for _ in range(2):
                    frame = json.loads(await asyncio.wait_for(browser_like.recv(), seconds(5)))
                    await browser_like.send(
                        json.dumps({"type": "reply", "id": frame["id"], "result": "NOTIFY_OK"})
                    )
                assert (await task).status_code == 200
                await dashboard.wait_for("hotplug.transition.finished")
                streamed = json.dumps(dashboard.events)
                assert not leaked(streamed, secrets)

            # bad attempts: each refusal must not echo what was presented
            near_admin = "wrong" + ADMIN_TOKEN[5:]
            attempts = [
                service.anonymous.get("/api/v1/memory", headers=bearer(near_admin)),
                service.anonymous.get("/api/v1/memory", headers=bearer(info["token"])),
                service.viewer.post("/api/v1/memory/probe", json={"node": 2, "count": 1}),
                service.anonymous.get(f"/api/v1/memory?access_token={ADMIN_TOKEN}"),
                service.admin.post("/api/v1/subscribers", json={"name": info["token"] * 4}),
                service.admin.patch(
                    f"/api/v1/subscribers/{info['id']}", json={"token": info["token"]}
                ),
                service.admin.post(
                    "/api/v1/subscribers", json={"name": "x", "priority": info["token"]}
                ),
            ]
            for attempt in attempts:
                response = await attempt
                assert response.status_code >= 400
                bodies.append(response.text)
            for url, token in (
                (info["ws_url"], near_admin),
                (f"{info['ws_url']}?access_token={ADMIN_TOKEN}", None),
                (header_sub.info["ws_url"], info["token"]),
                (f"{service.server.ws}/api/v1/events?access_token={info['token']}", None),
            ):
                raw = await RawWebSocket.connect(url, token)
                try:
                    assert raw.status in (401, 403)
                    bodies.append(raw.response_head.decode(errors="replace"))
                    bodies.append((await raw.reader.read(2000)).decode(errors="replace"))
                finally:
                    await raw.close()
            listed = await service.admin.get("/api/v1/subscribers")
            bodies.append(listed.text)
            for item in listed.json():
                assert "token" not in item
                assert "token_hash" not in item
                assert hash_token(secrets[item["name"]]) not in json.dumps(item)
            bodies.append((await service.anonymous.get("/metrics")).text)
            response = await service.admin.delete(f"/api/v1/subscribers/{info['id']}")
            assert response.status_code == 204

    for body in bodies:
        found = leaked(body, secrets)
        assert not found, (found, redact(body, secrets)[:300])
    service_records = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
    assert len(service_records) > 10  # DEBUG logging was really on
    lines = []
    for record in service_records:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        found = leaked(text, secrets)
        if found:
            lines.append(f"{record.name} {record.levelname}: {redact(text, secrets)}")
    assert not lines, "tokens in the service log:\n" + "\n".join(lines[:10])


def bearer(token: str) -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def redact(text: str, secrets: dict[str, str]) -> str:
    """``text`` with each secret replaced by its name, for a failure message."""
    for name, secret in secrets.items():
        text = text.replace(secret, f"<{name} token>")
    return text


# -- roles over the whole route table --------------------------------------------------

# A request that the admin may make, for every non-read route of the route table:
# (path values, JSON body). A new route fails the walk until it is listed here.
VALID_WRITES: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {
    ("PATCH", "/api/v1/memory"): ({}, {"auto_online_blocks": "online"}),
    ("PATCH", "/api/v1/memory/blocks/{block_id}"): ({"block_id": 12}, {"migration_ms": 5}),
    ("DELETE", "/api/v1/memory/blocks/{block_id}"): ({"block_id": 15}, None),
    ("POST", "/api/v1/memory/blocks/{block_id}/online"): ({"block_id": 13}, {}),
    ("POST", "/api/v1/memory/blocks/{block_id}/offline"): ({"block_id": 12}, {}),
    ("POST", "/api/v1/memory/probe"): ({}, {"node": 2, "count": 1}),
    ("POST", "/api/v1/memory/chmem"): ({}, {"enable": True, "blocks": "14-14"}),
    ("POST", "/api/v1/transitions/{transition_id}/abort"): ({}, None),
    ("POST", "/api/v1/subscribers"): ({}, {"name": "made-by-whom"}),
    ("PATCH", "/api/v1/subscribers/{subscriber_id}"): ({}, {"priority": 7}),
    ("DELETE", "/api/v1/subscribers/{subscriber_id}"): ({}, None),
    ("PUT", "/api/v1/debug/notifier-error-inject"): (
        {},
        {"enabled": True, "priority": 1, "actions": {"MEM_GOING_ONLINE": -16}},
    ),
}
READS = {"GET", "HEAD"}


async def state_of(service: Service) -> dict[str, Any]:
    """Everything a write could change."""
    paths = (
        "/api/v1/memory",
        "/api/v1/memory/blocks",
        "/api/v1/subscribers",
        "/api/v1/chain",
        "/api/v1/transitions?limit=1000",
        "/api/v1/debug/notifier-error-inject",
    )
    return {p: await get_json(service, p) for p in paths}


def write_routes(service: Service) -> list[tuple[str, str]]:
    """(method, path template) of every HTTP route that is not a read."""
    return sorted(
        (method, route.path)
        for route in flat_routes(service.app)
        if not route.websocket
        for method in route.methods - READS
    )


async def test_no_write_route_is_left_out_of_the_walk(service: Service) -> None:
    """The walk below covers every non-read route the app serves (and nothing stale)."""
    assert set(write_routes(service)) == set(VALID_WRITES)


async def test_viewer_and_subscriber_tokens_cannot_write_anywhere(service: Service) -> None:
    """Every write route refuses viewer and subscriber tokens, however presented; no change."""
    sub = await service.register("owner-of-a-token", failure_policy="ignore")
    transition = (await service.online(12)).json()
    values = {"subscriber_id": sub["id"], "transition_id": transition["id"]}
    credentials = {
        "viewer": (bearer(VIEWER_TOKEN), "", 403),
        "viewer, lower-case scheme": ({"Authorization": f"bearer {VIEWER_TOKEN}"}, "", 403),
        "subscriber": (bearer(sub["token"]), "", 403),
        "viewer in the query": ({}, f"?access_token={VIEWER_TOKEN}", 401),
        "subscriber in the query": ({}, f"?access_token={sub['token']}", 401),
        "admin in the query": ({}, f"?access_token={ADMIN_TOKEN}", 401),
    }
    before = await state_of(service)
    for method, template in write_routes(service):
        extra, body = VALID_WRITES[(method, template)]
        path = fill(template, {**values, **extra})
        for label, (headers, query, status) in credentials.items():
            response = await service.anonymous.request(
                method, path + query, headers=headers, json=body
            )
            assert response.status_code == status, (label, method, path, response.text[:300])
            assert_problem(response, status)
    assert await state_of(service) == before
    # the same requests with the admin token are not refused: the refusal was the token's
    for method, template in write_routes(service):
        extra, body = VALID_WRITES[(method, template)]
        path = fill(template, {**values, **extra})
        response = await service.admin.request(method, path, json=body)
        assert response.status_code not in (401, 403), (method, path, response.text)


def fill(template: str, values: dict[str, Any]) -> str:
    """A path template with its parameters filled in."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


@pytest.mark.parametrize(
    "path",
    [
        "//api/v1/memory/probe",
        "/api/v1//memory/probe",
        "/api/v1/memory/probe/",
        "/api/v1/./memory/probe",
        "/api/v1/memory/../memory/probe",
        "/api/v1/memory/%2E%2E/memory/probe",
        "/API/v1/memory/probe",
        "/api/V1/memory/probe",
        "/api/v1/memory/probe%2F",
        "/api/v1%2Fmemory/probe",
        "/api/v1/memory/probe;x=1",
        "/api/v1/memory/probe?x=/../../healthz",
        "/api/v1/memory/probe#fragment",
        "/healthz/../api/v1/memory/probe",
    ],
)
async def test_path_tricks_do_not_bypass_the_admin_check(service: Service, path: str) -> None:
    """No spelling of an admin path lets a viewer or an anonymous client write."""
    before = await state_of(service)
    for client in (service.viewer, service.anonymous):
        request = client.build_request("POST", path, json={"node": 2, "count": 1})
        request.url = request.url.copy_with(raw_path=path.split("#")[0].encode())
        response = await client.send(request)
        assert response.status_code >= 400, (path, response.status_code, response.text[:200])
    assert await state_of(service) == before


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "PUT", "PROPFIND"])
async def test_other_methods_are_refused_to_the_viewer(service: Service, method: str) -> None:
    """Methods outside the route table never succeed for the viewer on any API path."""
    before = await state_of(service)
    paths = {route.path for route in flat_routes(service.app) if not route.websocket}
    for template in sorted(p for p in paths if p.startswith("/api/v1/")):
        path = fill(template, {"block_id": 12, "subscriber_id": "x", "transition_id": "x"})
        response = await service.viewer.request(method, path)
        assert response.status_code in (400, 403, 404, 405), (method, path, response.text[:200])
    assert await state_of(service) == before


async def test_websocket_routes_refuse_tokens_without_the_right(service: Service) -> None:
    """The subscriber channel opens only with its own token; the stream not with a subscriber's."""
    info = await service.register("private")
    for token in (ADMIN_TOKEN, VIEWER_TOKEN):
        raw = await RawWebSocket.connect(info["ws_url"], token)
        try:
            assert raw.status in (401, 403)
        finally:
            await raw.close()
    raw = await RawWebSocket.connect(f"{service.server.ws}/api/v1/events", info["token"])
    try:
        assert raw.status == 403
    finally:
        await raw.close()


# -- CORS and headers -------------------------------------------------------------------

EVIL = "https://evil.example"


@pytest.mark.parametrize(
    "path",
    ["/", "/api/v1/memory", "/api/v1/openapi.json", "/healthz", "/metrics", "/static/app.js"],
)
async def test_cors_is_closed_by_default(service: Service, path: str) -> None:
    """A foreign Origin gets no Access-Control-Allow-* header, on requests and preflights."""
    simple = await service.admin.get(path, headers={"Origin": EVIL})
    preflight = await service.anonymous.options(
        path,
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    for response in (simple, preflight):
        granted = {k for k in response.headers if k.lower().startswith("access-control-allow")}
        assert not granted, (path, response.request.method, dict(response.headers))


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/static/style.css"])
async def test_dashboard_security_headers(service: Service, path: str) -> None:
    """CSP (no inline, no eval, self only), nosniff, no framing, no referrer on the dashboard."""
    for method in ("GET", "HEAD"):
        response = await service.anonymous.request(method, path)
        assert response.status_code == 200, (method, path)
        headers = response.headers
        csp = headers.get("content-security-policy", "")
        directives = dict(
            [*part.strip().split(" ", 1), ""][:2] for part in csp.split(";") if part.strip()
        )
        assert directives.get("default-src") == "'self'", csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert "*" not in csp
        assert "script-src" not in directives or "'self'" in directives["script-src"]
        assert headers.get("x-content-type-options") == "nosniff"
        assert headers.get("x-frame-options", "").upper() == "DENY"
        assert headers.get("referrer-policy") == "no-referrer"


# -- limits ------------------------------------------------------------------------------


async def test_request_body_limit(service: Service) -> None:
    """Over 64 KiB is 413 before the body is parsed; at the limit it is parsed."""
    big = b'{"name": "' + b"a" * 65_536 + b'"}'
    headers = {"Content-Type": "application/json"}
    assert_problem(
        await service.admin.post("/api/v1/subscribers", content=big, headers=headers), 413
    )
    assert_problem(
        await service.anonymous.post("/api/v1/subscribers", content=big, headers=headers), 401
    )  # auth first: an anonymous client learns nothing about bodies


async def test_frame_size_limit(service: Service) -> None:
    """A frame over 64 KiB closes the subscriber channel and the event stream with 1009."""
    info = await service.register("big-mouth")
    for url, token in (
        (info["ws_url"], info["token"]),
        (f"{service.server.ws}/api/v1/events", VIEWER_TOKEN),
    ):
        raw = await RawWebSocket.connect(url, token)
        try:
            assert raw.accepted
            raw.send_frame(OP_TEXT, b"x" * (64 * 1024 + 1))
            _, code = await raw.read_until_close()
            assert code == 1009, url
        finally:
            await raw.close()


async def test_at_most_one_live_connection_per_subscriber(service: Service) -> None:
    """Five connections of one subscriber at once: one stays live, the others close with 4001."""
    first = await service.subscriber("popular")
    twins = [ScriptedSubscriber(service, first.info, log=[]) for _ in range(4)]
    service.subscribers.extend(twins)

    async def attempt(twin: ScriptedSubscriber) -> None:
        try:
            await twin.connect()
        except ConnectionClosed as exc:  # replaced before its hello was even sent
            twin.close_code = exc.rcvd.code if exc.rcvd is not None else -1

    await asyncio.gather(*(attempt(twin) for twin in twins))
    everyone = [first, *twins]

    def live() -> list[ScriptedSubscriber]:
        return [s for s in everyone if s.close_code is None and s._task and not s._task.done()]

    await wait_for(lambda: len(live()) == 1)
    closed = [s for s in everyone if s not in live()]
    assert {s.close_code for s in closed} == {4001}
    hub = service.app.state.hub
    assert hub.connected_ids() == [first.id]
    assert len(hub._running) == 1
    assert await connected_gauge(service.anonymous) == 1
    assert (await service.online(12)).status_code == 200
    assert live()[0].actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
    assert all(s.actions() == [] for s in closed)


async def test_pending_request_bound_is_503_and_loses_nothing(tmp_path: Path) -> None:
    """max_queue=2: one running, two queued, the next 503 + Retry-After; the rest all finish."""
    with fast_data_dir(tmp_path) as data_dir:
        async with running_service(tmp_path, data_dir=data_dir, max_queue=2) as service:
            gate = await service.subscriber("gate", answer=None, timeout_ms=10_000)
            running = await start_transition(service, "online", 12)
            held = await gate.next_frame()  # the first transition is now in its walk
            queued = [await start_transition(service, "online", b) for b in (13, 14)]
            refused = await service.admin.post(
                "/api/v1/memory/blocks/15/online?wait=false", json={}
            )
            body = assert_problem(refused, 503)
            assert refused.headers.get("retry-after")
            assert "queue" in body["detail"]
            refused_again = await service.admin.post("/api/v1/memory/blocks/15/online", json={})
            assert_problem(refused_again, 503)
            # release: every accepted request runs to the end, in order
            await gate.reply(held["id"])
            for _ in range(5):
                await gate.reply((await gate.next_frame())["id"])
            records = [
                await wait_finished(service, t["id"], timeout=10) for t in (running, *queued)
            ]
            assert [r["outcome"] for r in records] == ["completed"] * 3
            history = await get_json(service, "/api/v1/transitions?limit=1000")
            assert sorted(r["block"] for r in history) == [12, 13, 14]
            assert (await service.block(15))["state"] == "offline"


# -- bind address ------------------------------------------------------------------------


def test_settings_bind_to_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without HOTPLUG_HOST the service listens on 127.0.0.1."""
    for name in list(os.environ):
        if name.startswith("HOTPLUG_"):
            monkeypatch.delenv(name)
    assert Settings().host == "127.0.0.1"


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                address, hex_port = fields[1].rsplit(":", 1)
                if int(hex_port, 16) == port and fields[3] == "0A":  # LISTEN
                    found.add(address)
    return found


class DefaultHostProcess(HotplugProcess):
    """``python -m app`` with no --host at all: whatever the default is."""

    def start(self) -> None:
        command = [PYTHON, "-m", "app", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=out, stderr=err)


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs /proc/net/tcp")
async def test_the_process_listens_on_loopback_only(tmp_path: Path) -> None:
    """``python -m app`` without --host listens on 127.0.0.1 only (not 0.0.0.0 nor ::)."""
    port = free_port()
    env = {"HOTPLUG_ADMIN_TOKEN": ADMIN_TOKEN}
    async with DefaultHostProcess(tmp_path, data_dir=tmp_path / "data", port=port, env=env):
        addresses = listening_addresses(port)
    assert addresses == {"0100007F"}, addresses  # 127.0.0.1, little-endian hex
    assert "HOTPLUG_HOST" not in clean_env()
