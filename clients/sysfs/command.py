"""``hotplugctl mount DIR``: the service's memory as ``/sys/devices/system/memory``.

Runs in the foreground until SIGINT or SIGTERM, then unmounts. With
``--debugfs DIR`` a second process (``python -m clients.sysfs``, one FUSE
session per process) serves the error-injection files there; it dies with
this one.

Exit status: 0 unmounted cleanly; 1 the service cannot be reached, refuses
the token, or the mount failed; 2 bad usage, including a target that is the
machine's own sysfs outside a private mount namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import sys
from typing import Final

from clients._commands import Context, UsageError
from clients._signals import stop_signals
from clients.sysfs.backend import DEFAULT_TTL, Backend, MountError, SysfsClient
from clients.sysfs.safety import UnsafeTarget, check_target

HELP: Final = "mount the memory as /sys/devices/system/memory (FUSE; for lsmem, chmem, scripts)"
CHILD_READY_TIMEOUT: Final = 20.0
CHILD_EXIT_TIMEOUT: Final = 10.0
PARENT_ENV: Final = "HOTPLUGCTL_SYSFS_PARENT"

log = logging.getLogger("hotplugctl.sysfs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hotplugctl mount``."""
    parser.add_argument("dir", metavar="DIR", help="mount point (an existing directory)")
    parser.add_argument(
        "--debugfs",
        metavar="DIR",
        help="also mount notifier-error-inject/memory/actions/*/error there (a debugfs root)",
    )
    parser.add_argument(
        "--cache-ttl",
        type=_seconds,
        default=DEFAULT_TTL,
        metavar="SECONDS",
        help=f"how long an API answer serves reads ({DEFAULT_TTL}); writes invalidate it",
    )
    parser.add_argument(
        "--allow-other", action="store_true", help="let other users in (modes are enforced)"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log API failures (-vv: every request)"
    )
    parser.epilog = (
        "For util-linux: lsmem --sysroot ROOT with DIR = ROOT/sys/devices/system/memory; chmem "
        "has no --sysroot: bind-mount DIR over /sys/devices/system/memory inside `unshare -m`. "
        "Targets under /sys are refused outside a private mount namespace."
    )


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600")
    return value


def configure_logging(verbose: int) -> None:
    """Warnings always; API failures with -v; every request with -vv."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("hotplugctl mount: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def fuse_problem() -> str | None:
    """Why FUSE cannot be used here, or None."""
    if importlib.util.find_spec("pyfuse3") is None:
        return (
            "the fuse extra is not installed: pip install 'hotplugd[fuse]' "
            "(it builds against Debian's libfuse3-dev and pkg-config; fuse3 unmounts)"
        )
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist (load the fuse module, or give the container the device)"
    return None


def _overlap(first: str, second: str) -> bool:
    return first == second or first.startswith(f"{second}/") or second.startswith(f"{first}/")


def checked_target(path: str, what: str) -> str:
    """The resolved mount point; UsageError when it is unsafe or not a directory."""
    try:
        resolved = check_target(path)
    except UnsafeTarget as exc:
        raise UsageError(str(exc)) from None
    if not os.path.isdir(resolved):
        raise UsageError(f"{what} {path}: not a directory")
    return resolved


async def cmd_mount(ctx: Context, args: argparse.Namespace) -> int:
    """Mount the projection and serve it until SIGINT/SIGTERM."""
    target = checked_target(args.dir, "DIR")
    debugfs = checked_target(args.debugfs, "--debugfs") if args.debugfs else None
    if debugfs and _overlap(target, debugfs):
        raise UsageError(f"DIR {target} and --debugfs {debugfs} must not contain each other")
    problem = fuse_problem()
    if problem:
        ctx.out.note(f"hotplugctl mount: {problem}")
        return 1
    configure_logging(args.verbose)
    from clients.sysfs.fs import serve
    from clients.sysfs.memory import MemoryTree

    timeout = getattr(args, "timeout", None) or 30.0
    client = SysfsClient(ctx.url, ctx.token, timeout=timeout)
    async with client:
        backend = Backend(client, ttl=args.cache_ttl)
        info = await backend.start()
        async with stop_signals() as stop:
            child = await start_debugfs(ctx, args, debugfs) if debugfs else None
            if stop.is_set():
                await stop_child(child, debugfs)
                return 0

            def mounted() -> None:
                record = {"mounted": target, "url": ctx.url, "debugfs": debugfs}
                if ctx.out.json:
                    ctx.out.json_line(record)
                else:
                    size = int(info["block_size_bytes"])
                    extra = f", error injection at {debugfs}" if debugfs else ""
                    ctx.out.lines(
                        [f"mounted {ctx.url} memory at {target} (block size {size:x}{extra})"]
                    )
                    ctx.out.stdout.flush()

            try:
                await serve(
                    MemoryTree(backend),
                    target,
                    stop=stop,
                    timeout=args.cache_ttl,
                    allow_other=args.allow_other,
                    on_mounted=mounted,
                )
            finally:
                await stop_child(child, debugfs)
    ctx.out.note(f"hotplugctl mount: unmounted {target}")
    return 0


def child_command(args: argparse.Namespace, url: str, debugfs: str) -> list[str]:
    """``python -m clients.sysfs debugfs DIR …`` (the token goes in the environment)."""
    command = [sys.executable, "-m", "clients.sysfs", "debugfs", debugfs, "--url", url]
    command += ["--cache-ttl", str(args.cache_ttl)]
    if getattr(args, "timeout", None):
        command += ["--timeout", str(args.timeout)]
    if args.allow_other:
        command.append("--allow-other")
    command += ["-v"] * args.verbose
    return command


async def start_debugfs(
    ctx: Context, args: argparse.Namespace, debugfs: str
) -> asyncio.subprocess.Process:
    """Start the debugfs process and wait (bounded) until it has mounted."""
    env = dict(os.environ)
    env.pop("HOTPLUG_TOKEN", None)
    if ctx.token:
        env["HOTPLUG_TOKEN"] = ctx.token
    env[PARENT_ENV] = str(os.getpid())
    child = await asyncio.create_subprocess_exec(
        *child_command(args, ctx.url, debugfs), stdout=asyncio.subprocess.PIPE, env=env
    )
    assert child.stdout is not None
    try:
        async with asyncio.timeout(CHILD_READY_TIMEOUT):
            line = await child.stdout.readline()
    except TimeoutError:
        line = b""
    if line.strip() != b"ready":
        await stop_child(child, debugfs)
        raise MountError(f"--debugfs {debugfs}: the error-injection mount did not start")
    return child


async def stop_child(child: asyncio.subprocess.Process | None, debugfs: str | None) -> None:
    """SIGTERM the debugfs process, wait (bounded), and make sure its mount is gone."""
    if child is not None:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(CHILD_EXIT_TIMEOUT):
                await child.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()
    if debugfs is not None:
        from clients.sysfs.fs import unmount_lazily

        await asyncio.to_thread(unmount_lazily, debugfs)


def child_main(argv: list[str] | None = None) -> int:
    """``python -m clients.sysfs debugfs DIR``: one FUSE session for the debugfs files."""
    parser = argparse.ArgumentParser(prog="python -m clients.sysfs")
    parser.add_argument("tree", choices=("debugfs",))
    parser.add_argument("dir")
    parser.add_argument("--url", required=True)
    parser.add_argument("--cache-ttl", type=_seconds, default=DEFAULT_TTL)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--allow-other", action="store_true")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    _die_with_parent()
    configure_logging(args.verbose)
    try:
        target = checked_target(args.dir, "--debugfs")
        return asyncio.run(_serve_debugfs(args, target))
    except UsageError as exc:
        print(f"hotplugctl mount: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # reported by the parent as a failed start
        print(f"hotplugctl mount: --debugfs {args.dir}: {exc}", file=sys.stderr)
        return 1


async def _serve_debugfs(args: argparse.Namespace, target: str) -> int:
    from clients.sysfs.debugfs import DebugfsTree
    from clients.sysfs.fs import serve

    token = os.environ.get("HOTPLUG_TOKEN") or None
    client = SysfsClient(args.url, token, timeout=args.timeout)
    async with client:
        backend = Backend(client, ttl=args.cache_ttl)
        await backend.injection()  # the token may read it: fail now, not at the first read
        async with stop_signals() as stop:

            def ready() -> None:
                print("ready", flush=True)

            await serve(
                DebugfsTree(backend),
                target,
                stop=stop,
                timeout=args.cache_ttl,
                fsname="hotplugd-debugfs",
                allow_other=args.allow_other,
                on_mounted=ready,
            )
    return 0


def _die_with_parent() -> None:
    """Get SIGTERM when the ``hotplugctl mount`` process dies (``PR_SET_PDEATHSIG``)."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if str(os.getppid()) != parent:  # it died before the line above
        raise SystemExit(1)
