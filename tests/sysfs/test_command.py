"""``hotplugctl mount``'s command line, in this process (nothing gets mounted here)."""

from __future__ import annotations

import argparse
import importlib.util
import io
import logging
import sys
from pathlib import Path

import pytest

from clients.cli import build_parser
from clients.cli import run as hotplugctl_run
from clients.sysfs import command
from clients.sysfs.safety import check_namespace, read_mounts
from tests.support.process import free_port


def mount(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = hotplugctl_run(["mount", *argv], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_help_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert mount("--help")[0] == 0  # argparse prints help on sys.stdout
    out = capsys.readouterr().out
    assert "--debugfs DIR" in out
    assert "unshare -m" in out
    args = build_parser().parse_args(["mount", "/tmp", "--cache-ttl", "0", "-vv"])
    assert (args.dir, args.cache_ttl, args.verbose, args.debugfs) == ("/tmp", 0.0, 2, None)
    assert mount("/tmp", "--cache-ttl", "-1")[0] == 2
    assert mount("/tmp", "--cache-ttl", "soon")[0] == 2


def test_bad_targets_are_usage_errors(tmp_path: Path) -> None:
    url = closed_url()
    status, _, err = mount(str(tmp_path / "missing"), "--url", url)
    assert status == 2
    assert "not a directory" in err
    (tmp_path / "file").write_text("")
    assert mount(str(tmp_path / "file"), "--url", url)[0] == 2
    (tmp_path / "a" / "b").mkdir(parents=True)
    for debugfs in ("a", "a/b"):
        status, _, err = mount(str(tmp_path / "a"), "--debugfs", str(tmp_path / debugfs))
        assert status == 2
        assert "must not contain each other" in err


def test_the_real_sys_is_refused_before_anything_else() -> None:
    if check_namespace().private:
        pytest.skip("this test process runs in a private mount namespace")
    before = read_mounts()
    status, _, err = mount("/sys/devices/system/memory", "--url", closed_url())
    assert status == 2
    assert "refusing to mount over /sys/devices/system/memory" in err
    assert read_mounts() == before


def test_an_unreachable_service_is_exit_1(tmp_path: Path) -> None:
    status, out, err = mount(str(tmp_path), "--url", closed_url(), "--timeout", "2")
    assert status == 1
    assert "cannot reach" in err
    assert out == ""
    assert not [m for m in read_mounts() if m.mount_point == str(tmp_path)]


def test_child_command_and_logging() -> None:
    args = argparse.Namespace(cache_ttl=0.25, timeout=3.0, allow_other=True, verbose=2)
    argv = command.child_command(args, "http://h:1", "/d")
    assert argv[:5] == [sys.executable, "-m", "clients.sysfs", "debugfs", "/d"]
    assert " ".join(argv[5:]) == (
        "--url http://h:1 --cache-ttl 0.25 --timeout 3.0 --allow-other -v -v"
    )
    logger = logging.getLogger("hotplugctl.sysfs")
    for verbose, level in ((0, logging.WARNING), (1, logging.INFO), (3, logging.DEBUG)):
        command.configure_logging(verbose)
        assert logger.level == level
        assert len(logger.handlers) == 1
    command.configure_logging(0)


def test_the_debugfs_child_refuses_bad_targets(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.child_main(["debugfs", "/nonexistent/x", "--url", closed_url()]) == 2
    assert "not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        command.child_main(["memory", "/tmp", "--url", closed_url()])


def test_fuse_problem_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert "fuse extra" in (command.fuse_problem() or "")
    status, _, err = mount("/tmp", "--url", closed_url())
    assert status == 1
    assert "pip install 'hotplugd[fuse]'" in err
