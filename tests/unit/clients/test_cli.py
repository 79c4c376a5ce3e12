"""``hotplugctl`` end to end against a fake REST service (httpx.MockTransport)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from clients import cli
from clients.version import __version__

from .test_lsmem import block

MiB = 1 << 20
BLOCK_SIZE = 128 * MiB
Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


def problem(status: int, title: str, **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": title, "status": status, **extra}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


class FakeRest:
    """Answers by (method, path); records what was asked."""

    def __init__(self, routes: dict[tuple[str, str], Answer] | None = None) -> None:
        self.routes: dict[tuple[str, str], Answer] = {
            ("GET", "/api/v1/memory"): httpx.Response(
                200,
                json={
                    "block_size_bytes": BLOCK_SIZE,
                    "page_size": 4096,
                    "auto_online_blocks": "offline",
                    "nodes": [
                        {
                            "id": 0,
                            "states": ["N_MEMORY", "N_NORMAL_MEMORY"],
                            "present_pages": {"Normal": 65536},
                        },
                        {"id": 1, "states": [], "present_pages": {}},
                    ],
                },
            ),
            ("GET", "/api/v1/memory/blocks"): httpx.Response(
                200,
                json=[
                    block(0, removable=False),
                    block(1, removable=False),
                    block(2, "offline", node=1, zones=["Normal", "Movable"]),
                    block(3, "offline", node=1, zones=["Normal", "Movable"]),
                ],
            ),
        }
        self.routes.update(routes or {})
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return problem(404, "Not Found", detail=f"no route {request.method} {request.url.path}")
        return answer(request) if callable(answer) else answer

    def body(self, method: str, path: str) -> Any:
        for request in self.requests:
            if (request.method, request.url.path) == (method, path):
                return json.loads(request.read())
        raise AssertionError(f"no {method} {path}")


def hotplugctl(
    rest: FakeRest | Callable[[httpx.Request], httpx.Response], *argv: str
) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = cli.run(list(argv), transport=httpx.MockTransport(rest), stdout=stdout, stderr=stderr)
    return status, stdout.getvalue(), stderr.getvalue()


LSMEM = """\
RANGE                                  SIZE   STATE REMOVABLE BLOCK
0x0000000000000000-0x000000000fffffff  256M  online        no   0-1
0x0000000010000000-0x000000001fffffff  256M offline             2-3

Memory block size:       128M
Total online memory:     256M
Total offline memory:    256M
"""


def test_lsmem() -> None:
    assert hotplugctl(FakeRest(), "lsmem") == (0, LSMEM, "")


def test_lsmem_options() -> None:
    status, out, _ = hotplugctl(FakeRest(), "lsmem", "-o", "+NODE,ZONES", "--summary=never", "-n")
    assert status == 0
    assert out.splitlines() == [
        "0x0000000000000000-0x000000000fffffff  256M  online        no   0-1    0         Normal",
        "0x0000000010000000-0x000000001fffffff  256M offline             2-3    1 Normal/Movable",
    ]
    status, out, _ = hotplugctl(FakeRest(), "lsmem", "--summary")
    assert out == LSMEM.split("\n\n")[1]
    status, out, _ = hotplugctl(FakeRest(), "lsmem", "-a", "-b", "-r", "-o", "BLOCK,SIZE")
    assert out.splitlines() == [
        "BLOCK SIZE",
        "0 134217728",
        "1 134217728",
        "2 134217728",
        "3 134217728",
    ]
    status, out, _ = hotplugctl(FakeRest(), "lsmem", "-P", "--output-all", "-S", "none")
    assert out.startswith(
        'RANGE="0x0000000000000000-0x000000001fffffff" SIZE="512M" STATE="online"'
    )


@pytest.mark.parametrize("json_flag", [("--json", "lsmem"), ("lsmem", "--json"), ("lsmem", "-J")])
def test_lsmem_json_spellings(json_flag: tuple[str, str]) -> None:
    status, out, _ = hotplugctl(FakeRest(), *json_flag)
    assert status == 0
    assert json.loads(out)["memory"][1] == {
        "range": "0x0000000010000000-0x000000001fffffff",
        "size": "256M",
        "state": "offline",
        "removable": False,
        "block": "2-3",
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("lsmem", "-J", "-r"), "mutually exclusive"),
        (("lsmem", "-a", "-S", "STATE"), "--all and --split"),
        (("lsmem", "-o", "COLOUR"), "unknown column: COLOUR"),
        (("lsmem", "-r", "--summary=only"), "--summary=only"),
        (("chmem", "-e", "12Q"), "invalid size"),
        (("chmem", "-d", "-b", "9-3"), "invalid block range"),
        (("chmem", "-e", "-z", "DMA", "1G"), "unsupported memory zone"),
        (("set-flags", "3"), "at least one"),
        (("inject", "--going-online", "ENOPE"), "not an errno"),
        (("subscribe", "--veto", "MEM_EXPLODE"), "unknown action"),
    ],
)
def test_usage_errors_exit_2(argv: tuple[str, ...], message: str) -> None:
    status, _, err = hotplugctl(FakeRest(), *argv)
    assert status == 2
    assert message in err
    assert "Traceback" not in err


def test_argparse_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["no-such-command"]) == 2
    assert cli.run(["chmem", "1G"]) == 2  # -e or -d is required
    assert cli.run(["chmem", "-e", "-d", "1G"]) == 2
    assert "required" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["--version"]) == 0
    assert capsys.readouterr().out == f"hotplugctl {__version__}\n"
    assert hotplugctl(FakeRest(), "version") == (0, f"hotplugctl {__version__}\n", "")
    assert json.loads(hotplugctl(FakeRest(), "version", "--json")[1]) == {"hotplugctl": __version__}


def chmem_routes(results: list[dict[str, Any]], **more: Answer) -> FakeRest:
    done = sum(r["outcome"] == "completed" for r in results)
    body = {"results": results, "succeeded": done, "failed": len(results) - done}
    routes: dict[tuple[str, str], Answer] = {
        ("POST", "/api/v1/memory/chmem"): httpx.Response(200, json=body)
    }
    routes.update({("GET", path): answer for path, answer in more.items()})
    return FakeRest(routes)


def test_chmem_enable_size_all_done_verbose() -> None:
    rest = chmem_routes(
        [{"block": 2, "outcome": "completed"}, {"block": 3, "outcome": "completed"}]
    )
    status, out, err = hotplugctl(rest, "chmem", "-e", "256M", "-z", "movable", "-v")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "Memory Block 2 (0x0000000010000000-0x0000000017ffffff) enabled",
        "Memory Block 3 (0x0000000018000000-0x000000001fffffff) enabled",
    ]
    assert rest.body("POST", "/api/v1/memory/chmem") == {
        "size": "256M",
        "zone": "Movable",
        "enable": True,
    }


def test_chmem_partial_names_the_vetoer_and_errno() -> None:
    record = {"id": "t-9", "vetoed_by": {"subscriber": "s-1", "name": "cli-veto", "errno": -16}}
    rest = chmem_routes(
        [
            {"block": 0, "outcome": "completed", "transition": "t-8"},
            {"block": 1, "outcome": "cancelled", "errno": -16, "transition": "t-9"},
        ],
        **{"/api/v1/transitions/t-9": httpx.Response(200, json=record)},
    )
    status, out, err = hotplugctl(rest, "chmem", "-d", "-b", "0-1")
    assert status == 64
    assert out == ""
    assert err == (
        "hotplugctl: Memory Block 1 (0x0000000008000000-0x000000000fffffff) disable failed: "
        "cancelled: vetoed by 'cli-veto' (id s-1) with -EBUSY (-16)\n"
    )
    assert rest.body("POST", "/api/v1/memory/chmem") == {"blocks": "0-1", "disable": True}


def test_chmem_nothing_done_exit_1() -> None:
    rest = chmem_routes(
        [
            {
                "block": 1,
                "outcome": "failed",
                "errno": -16,
                "vetoed_by": None,
                "transition": {"id": "t"},
            }
        ]
    )
    status, _, err = hotplugctl(rest, "chmem", "-d", "0x8000000-0xfffffff")
    assert status == 1
    assert err.endswith("disable failed: failed: -EBUSY (-16)\n")
    assert rest.body("POST", "/api/v1/memory/chmem") == {
        "range": "0x8000000-0xfffffff",
        "disable": True,
    }


def test_chmem_size_shortfall_is_partial_and_says_so() -> None:
    rest = chmem_routes([{"block": 2, "outcome": "completed"}])
    status, _, err = hotplugctl(rest, "chmem", "-e", "512")
    assert status == 64
    assert err == "hotplugctl: Could only enable 128M of memory\n"


def test_chmem_json_and_skipped() -> None:
    rest = chmem_routes([{"block": 0, "outcome": "skipped"}])
    status, out, _ = hotplugctl(rest, "--json", "chmem", "-e", "-b", "0", "-v")
    assert status == 0
    assert json.loads(out)["results"] == [{"block": 0, "outcome": "skipped"}]
    status, out, _ = hotplugctl(rest, "chmem", "-e", "-b", "0", "-v")
    assert out == "Memory Block 0 (0x0000000000000000-0x0000000007ffffff) already enabled\n"


VETO_409 = problem(
    409,
    "Transition cancelled",
    errno=-16,
    transition={
        "id": "t-3",
        "outcome": "cancelled",
        "vetoed_by": {"subscriber": "s-2", "name": "ksm", "errno": -16, "message": "busy"},
    },
)


def test_offline_veto_is_one_line_exit_1() -> None:
    rest = FakeRest({("POST", "/api/v1/memory/blocks/1/offline"): VETO_409})
    status, out, err = hotplugctl(rest, "offline", "1", "--timeout-ms", "900")
    assert (status, out) == (1, "")
    assert err == (
        "hotplugctl: HTTP 409 Transition cancelled: "
        "vetoed by 'ksm' (id s-2) with -EBUSY (-16): busy\n"
    )
    assert rest.body("POST", "/api/v1/memory/blocks/1/offline") == {"timeout_ms": 900}


def test_offline_veto_with_json_prints_the_problem() -> None:
    rest = FakeRest({("POST", "/api/v1/memory/blocks/1/offline"): VETO_409})
    status, out, err = hotplugctl(rest, "offline", "1", "--json")
    assert status == 1
    assert json.loads(out)["transition"]["id"] == "t-3"
    assert err.startswith("hotplugctl: HTTP 409")


def test_online_prints_the_record_line() -> None:
    record = {"id": "t-4", "operation": "online", "block": 2, "node": 1, "outcome": "completed"}
    rest = FakeRest({("POST", "/api/v1/memory/blocks/2/online"): httpx.Response(200, json=record)})
    status, out, _ = hotplugctl(rest, "online", "2", "--type", "online_movable")
    assert (status, out) == (0, "online block 2 (node 1): completed [transition t-4]\n")
    assert rest.body("POST", "/api/v1/memory/blocks/2/online") == {"online_type": "online_movable"}
    status, out, _ = hotplugctl(rest, "online", "2", "--json")
    assert json.loads(out) == record


def test_no_wait_trigger() -> None:
    record = {"id": "t-5", "operation": "offline", "block": 0, "node": 0, "outcome": "pending"}
    rest = FakeRest({("POST", "/api/v1/memory/blocks/0/offline"): httpx.Response(202, json=record)})
    _, out, _ = hotplugctl(rest, "offline", "0", "--no-wait")
    assert out == "offline block 0 (node 0): pending [transition t-5]\n"
    assert rest.requests[-1].url.params["wait"] == "false"


def test_unreachable_service_is_one_line() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    status, out, err = hotplugctl(refuse, "--url", "http://nowhere:1", "blocks")
    assert (status, out) == (1, "")
    assert err == "hotplugctl: cannot reach http://nowhere:1: Connection refused\n"


def test_bad_token_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTPLUG_TOKEN", "wrong")
    seen: list[str] = []

    def unauthorized(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return problem(401, "Unauthorized")

    status, _, err = hotplugctl(unauthorized, "chain")
    assert status == 1
    assert err == "hotplugctl: HTTP 401 Unauthorized (check --token or HOTPLUG_TOKEN)\n"
    assert seen == ["Bearer wrong"]
    status, _, err = hotplugctl(
        lambda r: problem(403, "Forbidden"), "--token", "viewer", "remove", "3"
    )
    assert err == "hotplugctl: HTTP 403 Forbidden (this token may not do that)\n"


def test_url_from_environment_and_option(monkeypatch: pytest.MonkeyPatch) -> None:
    hosts: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(str(request.url.copy_with(path="/")))
        return httpx.Response(200, json=[])

    monkeypatch.setenv("HOTPLUG_URL", "http://env-host:9000")
    hotplugctl(answer, "chain")
    hotplugctl(answer, "chain", "--url", "http://opt-host:7000")
    assert hosts == ["http://env-host:9000/", "http://opt-host:7000/"]
    monkeypatch.delenv("HOTPLUG_URL")
    hotplugctl(answer, "chain")
    assert hosts[-1] == "http://127.0.0.1:8000/"


def test_memory_and_blocks() -> None:
    status, out, _ = hotplugctl(FakeRest(), "memory")
    assert status == 0
    assert "block size:         128M (134217728 bytes)" in out
    assert "   0 N_MEMORY,N_NORMAL_MEMORY Normal=256M" in out
    status, out, _ = hotplugctl(FakeRest(), "blocks")
    lines = out.splitlines()
    assert lines[0].split() == [
        "BLOCK",
        "START_PFN",
        "NODE",
        "STATE",
        "ZONE",
        "REMOVABLE",
        "VALID_ZONES",
        "TRANSITION",
        "FLAGS",
    ]
    assert lines[3].split() == [
        "2",
        "0x10000",
        "1",
        "offline",
        "-",
        "yes",
        "Normal/Movable",
        "-",
        "-",
    ]
    flagged = {**block(5), "isolation_fails": True, "migration_ms": 30}
    rest = FakeRest({("GET", "/api/v1/memory/blocks/5"): httpx.Response(200, json=flagged)})
    status, out, _ = hotplugctl(rest, "blocks", "5")
    assert "isolation-fails,migration=30ms" in out


def test_set_flags_probe_remove() -> None:
    rest = FakeRest(
        {
            ("PATCH", "/api/v1/memory/blocks/3"): httpx.Response(
                200, json={**block(3), "unmovable_pages": True}
            ),
            ("POST", "/api/v1/memory/probe"): httpx.Response(
                201,
                json={
                    "blocks": [block(4, "offline", node=2)],
                    "transitions": [
                        {
                            "id": "t-7",
                            "operation": "online",
                            "block": 4,
                            "node": 2,
                            "outcome": "completed",
                        }
                    ],
                },
            ),
            ("DELETE", "/api/v1/memory/blocks/4"): httpx.Response(204),
        }
    )
    status, out, _ = hotplugctl(
        rest, "set-flags", "3", "--unmovable-pages", "yes", "--migration-ms", "20"
    )
    assert status == 0
    assert "unmovable-pages" in out
    assert rest.body("PATCH", "/api/v1/memory/blocks/3") == {
        "unmovable_pages": True,
        "migration_ms": 20,
    }
    status, out, _ = hotplugctl(rest, "probe", "--count", "1", "--node", "2")
    assert out == "added block 4 on node 2\nonline block 4 (node 2): completed [transition t-7]\n"
    assert rest.body("POST", "/api/v1/memory/probe") == {"node": 2, "count": 1}
    assert hotplugctl(rest, "remove", "4") == (0, "removed block 4\n", "")
    assert cli.run(["set-flags", "3", "--unmovable-pages", "maybe"]) == 2


RECORD = {
    "id": "t-11",
    "operation": "offline",
    "block": 17,
    "node": 1,
    "zone": "Movable",
    "arg": {
        "start_pfn": 557056,
        "nr_pages": 32768,
        "status_change_nid_normal": -1,
        "status_change_nid_high": -1,
        "status_change_nid": 1,
    },
    "outcome": "cancelled",
    "errno": -16,
    "vetoed_by": {"subscriber": "s-2", "name": "veto", "errno": -16, "message": None},
    "created_at": "2025-01-01T00:00:00Z",
    "walks": [
        {
            "action": "MEM_GOING_OFFLINE",
            "calls": [
                {
                    "subscriber": "s-1",
                    "name": "ksm",
                    "priority": 100,
                    "delivery": "replied",
                    "result": "NOTIFY_OK",
                    "value": 1,
                    "errno": None,
                    "latency_ms": 1.25,
                },
                {
                    "subscriber": "s-2",
                    "name": "veto",
                    "priority": 0,
                    "delivery": "replied",
                    "result": None,
                    "value": 0x8011,
                    "errno": -16,
                    "message": "busy",
                    "latency_ms": 2,
                },
            ],
        },
        {
            "action": "MEM_CANCEL_OFFLINE",
            "calls": [{"subscriber": "s-1", "name": "ksm", "priority": 100, "delivery": "timeout"}],
        },
    ],
}


def test_transitions_list_and_show() -> None:
    rest = FakeRest(
        {
            ("GET", "/api/v1/transitions"): httpx.Response(200, json={"transitions": [RECORD]}),
            ("GET", "/api/v1/transitions/t-11"): httpx.Response(200, json=RECORD),
        }
    )
    for command in ("transitions", "history"):
        status, out, _ = hotplugctl(rest, command, "--limit", "1", "--outcome", "cancelled")
        assert out.splitlines()[1].split() == [
            "t-11",
            "offline",
            "17",
            "1",
            "cancelled",
            "-EBUSY",
            "(-16)",
            "veto",
            "2025-01-01T00:00:00Z",
        ]
    assert rest.requests[-1].url.params == httpx.QueryParams({"limit": "1", "outcome": "cancelled"})
    for argv in (("transitions", "t-11"), ("show", "t-11")):
        status, out, _ = hotplugctl(rest, *argv)
        assert status == 0
        lines = out.splitlines()
        assert lines[0] == (
            "transition t-11: offline block 17 (node 1): cancelled: "
            "vetoed by 'veto' (id s-2) with -EBUSY (-16)"
        )
        assert "status_change_nid=1" in lines[2]
        assert "walk 1: MEM_GOING_OFFLINE (2 calls)" in lines
        assert any("0x8011 (-EBUSY)" in line and "stopped the walk; busy" in line for line in lines)
        assert any(line.split()[:6] == ["1", "ksm", "s-1", "100", "timeout", "-"] for line in lines)


def test_abort() -> None:
    record = {
        "id": "t-1",
        "operation": "offline",
        "block": 3,
        "node": 0,
        "outcome": "failed",
        "errno": -4,
    }
    rest = FakeRest({("POST", "/api/v1/transitions/t-1/abort"): httpx.Response(200, json=record)})
    assert hotplugctl(rest, "abort", "t-1")[1] == (
        "offline block 3 (node 0): failed: -EINTR (-4) [transition t-1]\n"
    )


def test_chain_and_subscribers() -> None:
    info = {
        "id": "s-1",
        "name": "ksm",
        "priority": 100,
        "connected": True,
        "actions": None,
        "nodes": [1],
        "timeout_ms": 5000,
        "failure_policy": "fail",
        "counters": {"calls": 3},
    }
    rest = FakeRest(
        {
            ("GET", "/api/v1/chain"): httpx.Response(200, json={"chain": [info]}),
            ("GET", "/api/v1/subscribers"): httpx.Response(200, json=[info]),
            ("GET", "/api/v1/subscribers/s-1"): httpx.Response(200, json=info),
            ("PATCH", "/api/v1/subscribers/s-1"): httpx.Response(200, json={**info, "priority": 7}),
            ("DELETE", "/api/v1/subscribers/s-1"): httpx.Response(204),
        }
    )
    _, out, _ = hotplugctl(rest, "chain")
    assert out.splitlines()[1].split() == ["1", "100", "ksm", "s-1", "yes"]
    for argv in (("subscribers",), ("subscribers", "list")):
        _, out, _ = hotplugctl(rest, *argv)
        assert out.splitlines()[1].split() == [
            "s-1",
            "ksm",
            "100",
            "yes",
            "all",
            "1",
            "5000",
            "fail",
        ]
    _, out, _ = hotplugctl(rest, "subscribers", "show", "s-1")
    assert "counters:        calls=3" in out
    _, out, _ = hotplugctl(rest, "subscribers", "set-priority", "s-1", "7")
    assert "priority:        7" in out
    assert rest.body("PATCH", "/api/v1/subscribers/s-1") == {"priority": 7}
    assert hotplugctl(rest, "subscribers", "remove", "s-1") == (0, "removed subscriber s-1\n", "")
    _, out, _ = hotplugctl(rest, "subscribers", "--json")
    assert json.loads(out) == [info]


def test_inject_show_and_merge() -> None:
    current = {
        "enabled": False,
        "priority": 0,
        "actions": {"MEM_GOING_ONLINE": 0, "MEM_GOING_OFFLINE": 0},
    }

    def put(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=json.loads(request.read()))

    rest = FakeRest(
        {
            ("GET", "/api/v1/debug/notifier-error-inject"): httpx.Response(200, json=current),
            ("PUT", "/api/v1/debug/notifier-error-inject"): put,
        }
    )
    _, out, _ = hotplugctl(rest, "inject")
    assert out.splitlines() == [
        "notifier-error-inject: disabled",
        "priority: 0",
        "MEM_GOING_ONLINE: 0 (no error)",
        "MEM_GOING_OFFLINE: 0 (no error)",
    ]
    _, out, _ = hotplugctl(rest, "inject", "--going-offline", "EBUSY", "--priority", "5")
    assert rest.body("PUT", "/api/v1/debug/notifier-error-inject") == {
        "enabled": True,
        "priority": 5,
        "actions": {"MEM_GOING_ONLINE": 0, "MEM_GOING_OFFLINE": -16},
    }
    assert "MEM_GOING_OFFLINE: -EBUSY (-16)" in out
    _, out, _ = hotplugctl(rest, "inject", "--disable", "--going-online", "0")
    assert out.startswith("notifier-error-inject: disabled")


def test_health() -> None:
    rest = FakeRest(
        {
            ("GET", "/healthz"): httpx.Response(200, json={"status": "ok"}),
            ("GET", "/readyz"): httpx.Response(200, text="ready"),
        }
    )
    assert hotplugctl(rest, "health") == (0, "healthz: ok\nreadyz: ready\n", "")
    rest.routes[("GET", "/readyz")] = problem(503, "Service Unavailable", detail="recovering")
    status, out, _ = hotplugctl(rest, "health")
    assert status == 1
    assert out.splitlines()[1] == ("readyz: not ready (HTTP 503 Service Unavailable: recovering)")
    status, out, _ = hotplugctl(rest, "health", "--json")
    assert json.loads(out)["readyz"]["status"] == "not ready"


def test_no_colour_when_not_a_terminal() -> None:
    _, out, _ = hotplugctl(FakeRest(), "blocks")
    assert "\033[" not in out


def test_colour_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    from clients._render import use_color

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_color(Terminal())
    assert not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Terminal())
    stdout = Terminal()
    monkeypatch.delenv("NO_COLOR")
    cli.run(
        ["blocks"], transport=httpx.MockTransport(FakeRest()), stdout=stdout, stderr=io.StringIO()
    )
    assert "\033[32monline\033[0m" in stdout.getvalue()
