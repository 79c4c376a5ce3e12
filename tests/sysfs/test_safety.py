"""Never over the machine's own sysfs: target checks and namespace detection."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from clients.sysfs.safety import (
    MountEntry,
    NamespaceCheck,
    UnsafeTarget,
    check_namespace,
    check_target,
    fstype_at,
    is_mounted,
    ns_inode,
    parse_mountinfo,
    protected_reason,
    read_mounts,
)
from tests.support.process import clean_env, free_port
from tests.sysfs.support import run

MOUNTINFO = r"""22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
23 22 0:21 / /sys rw,relatime - sysfs sysfs rw
24 23 0:7 / /sys/kernel/debug rw,relatime - debugfs debugfs rw
25 22 0:22 / /tmp/with\040space rw - tmpfs tmpfs rw
26 22 0:23 / /srv/sysfs-copy rw - sysfs none rw
27 22 0:24 / /tmp/proj rw - fuse.hotplugd hotplugd rw
28 22 0:25 / /tmp/proj rw - tmpfs over rw
broken line
"""
MOUNTS = parse_mountinfo(MOUNTINFO)
PRIVATE = NamespaceCheck(True, "test: private")
INITIAL = NamespaceCheck(False, "test: initial")


def test_parse_mountinfo() -> None:
    assert MOUNTS[3] == MountEntry("/tmp/with space", "tmpfs")
    assert len(MOUNTS) == 7
    assert fstype_at("/sys/devices/system/memory", MOUNTS) == "sysfs"
    assert fstype_at("/sys/kernel/debug/x", MOUNTS) == "debugfs"
    assert fstype_at("/system", MOUNTS) == "ext4"
    assert fstype_at("/tmp/proj/a", MOUNTS) == "tmpfs", "the last of stacked mounts"
    assert fstype_at("/srv/sysfs-copy/devices", MOUNTS) == "sysfs"
    assert fstype_at("/x", []) is None
    assert is_mounted("/tmp/proj", MOUNTS)
    assert not is_mounted("/tmp/proj/a", MOUNTS)


def test_what_is_protected() -> None:
    assert protected_reason("/sys", MOUNTS)
    assert protected_reason("/sys/devices/system/memory", MOUNTS)
    assert protected_reason("/srv/sysfs-copy/devices/system/memory", MOUNTS)
    assert protected_reason("/system/devices", MOUNTS) is None
    assert protected_reason("/tmp/root/sys/devices/system/memory", MOUNTS) is None


def test_check_target(tmp_path: Path) -> None:
    with pytest.raises(UnsafeTarget, match="unshare -m"):
        check_target("/sys/devices/system/memory", mounts=MOUNTS, namespace=lambda: INITIAL)
    assert check_target("/sys/devices/system/memory", mounts=MOUNTS, namespace=lambda: PRIVATE)
    link = tmp_path / "sneaky"
    link.symlink_to("/sys/devices/system")
    with pytest.raises(UnsafeTarget, match="/sys/devices/system/memory"):
        check_target(link / "memory", mounts=MOUNTS, namespace=lambda: INITIAL)
    assert check_target(tmp_path, mounts=MOUNTS, namespace=lambda: INITIAL) == str(tmp_path)


def fake(links: dict[str, str]) -> object:
    def read(pid: str, kind: str) -> str | None:
        return links.get(f"{pid}/{kind}")

    return read


def parents(*pids: int) -> object:
    def listing() -> Iterable[int]:
        return pids

    return listing


INIT = "mnt:[4026531832]"  # MNT_NS_INIT_INO
DYNAMIC = "mnt:[4026532177]"
OTHER = "mnt:[4026532500]"


@pytest.mark.parametrize(
    ("links", "ancestors", "private"),
    [
        ({}, (), False),  # /proc/self unreadable: cannot tell
        ({"self/mnt": DYNAMIC, "1/mnt": DYNAMIC}, (), False),
        ({"self/mnt": DYNAMIC, "1/mnt": OTHER}, (), True),
        ({"self/mnt": INIT}, (7,), False),  # the fixed initial inode
        ({"self/mnt": INIT, "7/mnt": OTHER}, (7,), False),
        ({"self/mnt": DYNAMIC, "self/net": "net:[4026531833]"}, (), True),  # 6.18+
        ({"self/mnt": DYNAMIC, "self/net": "net:[4026532000]", "7/mnt": OTHER}, (5, 7), True),
        ({"self/mnt": DYNAMIC, "self/net": "net:[4026532000]", "7/mnt": DYNAMIC}, (7,), False),
        ({"self/mnt": DYNAMIC}, (), False),
    ],
)
def test_check_namespace(links: dict[str, str], ancestors: tuple[int, ...], private: bool) -> None:
    check = check_namespace(fake(links), parents(*ancestors))  # type: ignore[arg-type]
    assert check.private is private, check.reason
    assert check.reason


def test_ns_inode() -> None:
    assert ns_inode(INIT) == 0xEFFFFFF8
    assert ns_inode("garbage") is None
    assert ns_inode(None) is None


def test_this_process() -> None:
    """Whatever it decides here, it decides it with a reason, and the same way twice."""
    first, second = check_namespace(), check_namespace()
    assert first == second
    assert first.reason


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /sys")
async def test_hotplugctl_mount_refuses_the_real_sys() -> None:
    """In the initial namespace ``hotplugctl mount /sys/...`` exits 2 before doing anything.

    Two guards make a mount impossible even if the check regressed: the URL
    points at a closed port, so the command would fail on its first request,
    which it sends before mounting.
    """
    if check_namespace().private:
        pytest.skip("this test process already runs in a private mount namespace")
    before = read_mounts()
    for target in ("/sys/devices/system/memory", "/sys/kernel/debug", "/sys"):
        url = f"http://127.0.0.1:{free_port()}"
        result = await run(
            [sys.executable, "-m", "clients", "mount", target, "--url", url],
            env=clean_env(HOTPLUG_TOKEN="unused-token-0123456789"),
        )
        assert result.status == 2, result
        assert "refusing to mount over" in result.stderr
        assert read_mounts() == before
    result = await run(
        [
            sys.executable,
            "-m",
            "clients",
            "mount",
            "/tmp",
            "--debugfs",
            "/sys/kernel/debug",
            "--url",
            f"http://127.0.0.1:{free_port()}",
        ],
        env=clean_env(),
    )
    assert result.status == 2
    assert "refusing to mount over /sys/kernel/debug" in result.stderr
