"""SPEC §5/§8 start-up: ``python -m app`` options, bad settings, the generated admin token."""

from __future__ import annotations

import re
import signal
import socket
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.process import PYTHON, REPO, HotplugProcess, clean_env, run_app
from tests.support.server import seconds

LINK = re.compile(r"http://127\.0\.0\.1:(\d+)/#token=([A-Za-z0-9_\-]+)")


def one_clear_line(stderr: str) -> str:
    """stderr holds exactly one non-empty line and no traceback; that line."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


async def test_help_documents_the_options(tmp_path: Path) -> None:
    """--help lists --host, --port, --data-dir, --database-url and --layout, and exits 0."""
    result = run_app(["--help"], clean_env())
    assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--data-dir", "--database-url", "--layout"):
        assert option in result.stdout, option
    assert not (tmp_path / "data").exists()


# (id, command-line arguments, HOTPLUG_* variables, what the error line must mention)
BAD_SETTINGS: list[tuple[str, list[str], dict[str, str], str]] = [
    ("port-not-a-number", [], {"HOTPLUG_PORT": "notaport"}, "port"),
    ("port-out-of-range", ["--port", "70000"], {}, "port"),
    ("unknown-cancel-scope", [], {"HOTPLUG_CANCEL_SCOPE": "everyone"}, "cancel_scope"),
    ("zero-queue", [], {"HOTPLUG_MAX_QUEUE": "0"}, "max_queue"),
    ("negative-grace", [], {"HOTPLUG_RECOVERY_GRACE_MS": "-1"}, "recovery_grace_ms"),
    ("short-admin-token", [], {"HOTPLUG_ADMIN_TOKEN": "short"}, "admin_token"),
    ("mysql-url", ["--database-url", "mysql://root@127.0.0.1/db"], {}, "mysql"),
    ("missing-layout", ["--layout", "{tmp}/missing.toml"], {}, "missing.toml"),
    ("layout-unknown-field", ["--layout", "{tmp}/unknown-field.toml"], {}, "colour"),
    ("layout-broken-toml", ["--layout", "{tmp}/broken.toml"], {}, "broken.toml"),
    ("layout-bad-block-size", ["--layout", "{tmp}/bad-block-size.json"], {}, "block_size"),
]


@pytest.fixture(scope="module")
def bad_setting_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[int, str]]:
    """Every BAD_SETTINGS start-up, run concurrently: id -> (exit status, stderr)."""
    tmp = tmp_path_factory.mktemp("bad-settings")
    (tmp / "unknown-field.toml").write_text(
        '[[blocks]]\nfirst = 0\ncount = 2\nnode = 0\ncolour = "red"\n'
    )
    (tmp / "broken.toml").write_text("[[blocks]\nfirst = \n")
    (tmp / "bad-block-size.json").write_text('{"block_size_bytes": 1000}')
    procs = {}
    try:
        for name, args, env, _ in BAD_SETTINGS:
            argv = [a.replace("{tmp}", str(tmp)) for a in args]
            full_env = clean_env(
                **{"HOTPLUG_ADMIN_TOKEN": "admin-token-for-tests-0123456789", **env}
            )
            procs[name] = subprocess.Popen(
                [PYTHON, "-m", "app", "--host", "127.0.0.1", "--data-dir", str(tmp / name), *argv],
                cwd=REPO,
                env=full_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        results = {}
        for name, proc in procs.items():
            _, stderr = proc.communicate(timeout=seconds(30))
            results[name] = (proc.returncode, stderr)
        return results
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize(
    ("name", "mentions"), [(name, mentions) for name, _, _, mentions in BAD_SETTINGS]
)
def test_bad_setting_exits_with_one_clear_line(
    bad_setting_runs: dict[str, tuple[int, str]], name: str, mentions: str
) -> None:
    """A bad setting: non-zero exit, one line on stderr naming the problem, no traceback."""
    returncode, stderr = bad_setting_runs[name]
    assert returncode != 0, stderr
    line = one_clear_line(stderr)
    assert mentions.lower() in line.lower(), line


async def test_port_in_use_fails_without_a_traceback(tmp_path: Path) -> None:
    """A port already taken: non-zero exit and the reason on stderr, no traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_app(
            ["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path / "d")],
            clean_env(HOTPLUG_ADMIN_TOKEN="admin-token-for-tests-0123456789"),
        )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "in use" in result.stderr


async def test_generated_admin_token_is_private_and_announced_once(tmp_path: Path) -> None:
    """No admin token set: one is generated (mode 0600) and printed once as a dashboard link."""
    data = tmp_path / "data"
    async with HotplugProcess(tmp_path, data_dir=data, name="first") as first:
        token_file = data / "admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 16
        links = LINK.findall(first.stderr())
        assert links == [(str(first.port), token)], first.stderr()
        async with httpx.AsyncClient(base_url=first.http, timeout=seconds(5)) as client:
            whoami = await client.get(
                "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}
            )
            assert whoami.json() == {"role": "admin"}
        first.send_signal(signal.SIGTERM)
        assert await first.wait_exit() == 0

    async with HotplugProcess(tmp_path, data_dir=data, name="second") as second:
        assert (data / "admin-token").read_text().strip() == token  # kept
        assert "#token=" not in second.stderr()  # printed once only
        assert token not in second.stderr()


async def test_token_is_announced_even_after_a_failed_first_start(tmp_path: Path) -> None:
    """A first start that fails on a bad layout must not swallow the one announcement."""
    data = tmp_path / "data"
    layout = tmp_path / "bad.toml"
    layout.write_text("nonsense = true\n")
    failed = run_app(["--data-dir", str(data), "--layout", str(layout)], clean_env())
    assert failed.returncode != 0
    async with HotplugProcess(tmp_path, data_dir=data) as proc:
        token = (data / "admin-token").read_text().strip()
        assert LINK.findall(proc.stderr()) == [(str(proc.port), token)], proc.stderr()


async def test_layout_file_is_used(tmp_path: Path) -> None:
    """--layout serves the layout's machine (JSON); a given admin token writes no token file."""
    layout = tmp_path / "machine.json"
    layout.write_text(
        '{"block_size_bytes": 268435456, "auto_online_blocks": "online_movable",'
        ' "blocks": [{"first": 0, "count": 2, "node": 0, "state": "online", "removable": false},'
        ' {"first": 2, "count": 3, "node": 4}]}'
    )
    token = "admin-token-for-tests-0123456789"
    async with (
        HotplugProcess(
            tmp_path,
            data_dir=tmp_path / "data",
            env={"HOTPLUG_ADMIN_TOKEN": token},
            args=["--layout", str(layout)],
        ) as proc,
        httpx.AsyncClient(
            base_url=proc.http, headers={"Authorization": f"Bearer {token}"}, timeout=seconds(5)
        ) as client,
    ):
        assert not (tmp_path / "data" / "admin-token").exists()
        assert "#token=" not in proc.stderr()
        memory = (await client.get("/api/v1/memory")).json()
        assert memory["block_size_bytes"] == 268435456
        assert memory["auto_online_blocks"] == "online_movable"
        assert [n["id"] for n in memory["nodes"]] == [0, 4]
        blocks = (await client.get("/api/v1/memory/blocks")).json()
        assert [(b["id"], b["state"]) for b in blocks] == [
            (0, "online"),
            (1, "online"),
            (2, "offline"),
            (3, "offline"),
            (4, "offline"),
        ]
        assert blocks[2]["nr_pages"] == 65536
