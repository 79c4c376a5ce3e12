"""What every benchmark shares: processes, the farm's control channel, statistics, reports.

Every benchmark compares hotplugd with baselines measured in the same run,
driven by the same subscriber-farm processes (``tests/bench/farm.py``), and
only the ratios are judged (the machine is noisy). Everything listens on
127.0.0.1, every wait is bounded, and every child process is killed and
reaped when the benchmark ends, however it ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.process import HotplugProcess, clean_env, free_port

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parents[1]
RESULTS = BENCH_DIR / "results"
PYTHON = sys.executable
HOST = "127.0.0.1"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
NATS_URL = "nats://127.0.0.1:4222"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
NATS_START = [
    "start-stop-daemon",
    "--start",
    "--oknodo",
    "--background",
    "--exec",
    "/usr/sbin/nats-server",
    "--",
    "-a",
    "127.0.0.1",
    "-p",
    "4222",
    "-js",
]
# hotplugd's default layout: block 12 is an offline, removable block of node 1;
# node 2 is never touched by the benchmarks (idle subscribers filter on it).
BLOCK = 12
IDLE_NODE = 2
LIBRARIES = (
    "uvicorn",
    "fastapi",
    "starlette",
    "websockets",
    "uvloop",
    "httptools",
    "orjson",
    "pydantic",
    "SQLAlchemy",
    "asyncpg",
    "httpx",
    "nats-py",
    "prometheus-client",
    "py-spy",
)


class BenchError(Exception):
    """A benchmark could not run (a child died, a wait ran out)."""


# -- arguments ---------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small counts (all benches < 2 min)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="sample the hotplugd server with py-spy while it is measured "
        "(the figures of a profiled run are distorted and marked as such)",
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON results go")
    return p


# -- machine and versions ----------------------------------------------------


def machine_info() -> dict[str, Any]:
    """The machine the run is on."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "mem_total_mib": mem_kib // 1024,
        "loadavg": list(os.getloadavg()),
        "nofile_limit": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
    }


def source_info() -> dict[str, Any]:
    """The commit measured, and whether app/ had uncommitted changes (read-only git)."""
    info: dict[str, Any] = {}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(REPO)]
        head = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        info["commit"] = head.stdout.strip()
        status = subprocess.run(
            [*git, "status", "--porcelain", "--", "app"], capture_output=True, text=True, timeout=10
        )
        info["app_uncommitted_changes"] = bool(status.stdout.strip())
    return info


def versions() -> dict[str, Any]:
    """Python and library versions (and the servers' when they answer)."""
    found: dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
    }
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    nats = shutil.which("nats-server") or "/usr/sbin/nats-server"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([nats, "--version"], capture_output=True, text=True, timeout=5)
        found["nats-server"] = out.stdout.strip() or out.stderr.strip()
    return found


# -- statistics ---------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """n, p50, p90, p99, mean, min and max of a sample."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
    }


# -- the report ---------------------------------------------------------------


@dataclass
class Figure:
    """One measured figure, its baseline, and the target it is judged by."""

    name: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""  # e.g. "<= 1.1x" or "<= 32 KiB"
    limit: float | None = None
    higher_is_better: bool = False
    judge_ratio: bool = True  # compare ratio (else the value itself) with the limit
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        assert self.baseline_value is not None
        return self.value / self.baseline_value

    @property
    def verdict(self) -> str:
        if self.limit is None:
            return ""
        judged = self.ratio if self.judge_ratio else self.value
        if judged is None or judged != judged:  # nan
            return "n/a"
        ok = judged >= self.limit if self.higher_is_better else judged <= self.limit
        return "PASS" if ok else "MISS"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["verdict"] = self.verdict
        return data


@dataclass
class Report:
    """A benchmark's figures, printed as a table and written as JSON."""

    bench: str
    quick: bool
    profiled: bool = False
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def table(self) -> str:
        head = ("figure", "value", "baseline", "ratio", "target", "verdict")
        rows = [head]
        for f in self.figures:
            base = (
                f"{f.baseline} {fmt(f.baseline_value)} {f.unit}".strip()
                if f.baseline_value is not None
                else f.baseline
            )
            ratio = f"{f.ratio:.3f}x" if f.ratio is not None else ""
            rows.append((f.name, f"{fmt(f.value)} {f.unit}", base, ratio, f.target, f.verdict))
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
        lines = []
        for n, row in enumerate(rows):
            lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def finish(self, out: Path) -> Path:
        """Print the table and write the JSON; return its path."""
        title = f"== {self.bench} ({'quick' if self.quick else 'full'}"
        title += ", with py-spy phases after the measurements" if self.profiled else ""
        print(f"\n{title}) ==")
        print(self.table())
        for text in self.notes:
            print(f"  note: {text}")
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(self.started))
        path = out / f"{self.bench}-{'quick' if self.quick else 'full'}-{stamp}.json"
        data = {
            "bench": self.bench,
            "mode": "quick" if self.quick else "full",
            "profiled": self.profiled,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "duration_s": round(time.time() - self.started, 1),
            "command": [Path(sys.executable).name, *sys.argv],
            "source": source_info(),
            "machine": machine_info(),
            "versions": versions(),
            "figures": [f.as_json() for f in self.figures],
            "notes": self.notes,
            "details": self.details,
        }
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
        print(f"  results: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
        return path


def fmt(value: float | None) -> str:
    """A figure with about four significant digits."""
    if value is None:
        return ""
    if value != value:
        return "nan"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


# -- resources ---------------------------------------------------------------


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections there."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


async def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``condition`` (sync or async) until true; BenchError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


# -- child processes ------------------------------------------------------------


class ServerProcess:
    """A baseline server (``python -m tests.bench.MODULE``) on 127.0.0.1; always killed."""

    def __init__(self, module: str, workdir: Path, name: str, args: Sequence[str] = ()) -> None:
        self.module = module
        self.name = name
        self.port = free_port()
        self.args = list(args)
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def __aenter__(self) -> ServerProcess:
        cmd = [PYTHON, "-m", self.module, "--port", str(self.port), *self.args]
        with self.log.open("ab") as log:
            # Popen only forks and execs: it does not wait for the child.
            self.proc = subprocess.Popen(  # noqa: ASYNC220
                cmd, cwd=REPO, env=clean_env(), stdout=log, stderr=log
            )
        try:
            await wait_http(self.http + "/healthz", self.proc, 20, self.log)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        await stop_popen(self.proc)


async def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    """Wait until GET ``url`` answers 200 (BenchError if the process dies first)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if proc.poll() is not None:
                raise BenchError(f"{url}: server exited ({proc.returncode}): {tail(log)}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise BenchError(f"{url}: not up within {timeout}s: {tail(log)}")
            await asyncio.sleep(0.05)


async def stop_popen(proc: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaped."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(proc.wait, grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(proc.wait, 5)


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.asynccontextmanager
async def hotplugd(
    workdir: Path, name: str = "hotplugd", database_url: str | None = None, **env: str
) -> AsyncIterator[HotplugProcess]:
    """``python -m app`` as a child process (warning log level), killed at the end."""
    data_dir = workdir / f"{name}-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "HOTPLUG_ADMIN_TOKEN": ADMIN_TOKEN,
        "HOTPLUG_LOG_LEVEL": "warning",
        # HOTPLUG_BENCH_SYNC_COMMIT=false measures the process-crash durability mode.
        "HOTPLUG_SYNC_COMMIT": os.environ.get("HOTPLUG_BENCH_SYNC_COMMIT", "true"),
        **env,
    }
    if database_url is not None:
        settings["HOTPLUG_DATABASE_URL"] = database_url
    proc = HotplugProcess(workdir, data_dir=data_dir, env=settings, name=name)
    async with proc:
        await proc.wait_ready(30)
        yield proc


@contextlib.asynccontextmanager
async def workdir(prefix: str) -> AsyncIterator[Path]:
    """A temporary directory for data files and logs (removed afterwards)."""
    path = Path(tempfile.mkdtemp(prefix=f"hotplugd-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- the subscriber farm --------------------------------------------------------


class Farm:
    """A ``tests.bench.farm`` child process, driven by JSON lines over its stdin/stdout."""

    def __init__(self, workdir: Path, name: str = "farm") -> None:
        self.name = name
        self.log = workdir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def __aenter__(self) -> Farm:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                PYTHON,
                "-m",
                "tests.bench.farm",
                cwd=REPO,
                env=clean_env(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=64 * 1024 * 1024,
            )
        try:
            await self.call({"op": "ping"}, timeout=20)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def call(self, command: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        """Send one command, wait (bounded) for its answer; BenchError when it failed."""
        proc = self.proc
        assert proc is not None
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(json.dumps(command).encode() + b"\n")
        await proc.stdin.drain()
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        except TimeoutError:
            raise BenchError(f"{self.name}: no answer to {command['op']} in {timeout}s") from None
        if not line:
            raise BenchError(f"{self.name} exited: {tail(self.log)}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise BenchError(f"{self.name}: {command['op']} failed: {answer.get('error')}")
        return answer

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            await self.call({"op": "quit"}, timeout=10)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 10)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# -- hotplugd's API -------------------------------------------------------------


def admin_client(base_url: str, timeout: float = 60) -> httpx.AsyncClient:
    """An HTTP client with the admin token."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=timeout,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )


async def register(
    client: httpx.AsyncClient,
    count: int,
    *,
    prefix: str,
    concurrency: int = 1,
    nodes: list[int] | None = None,
    timeout: float = 600,
) -> list[dict[str, Any]]:
    """Register ``count`` subscribers (``concurrency`` requests at a time), in order."""
    results: list[dict[str, Any] | None] = [None] * count
    next_index = iter(range(count))
    deadline = time.monotonic() + timeout

    async def worker() -> None:
        for i in next_index:
            if time.monotonic() > deadline:
                raise BenchError(f"registration of {count} took over {timeout}s")
            body: dict[str, Any] = {"name": f"{prefix}-{i}"}
            if nodes is not None:
                body["nodes"] = nodes
            response = await client.post("/api/v1/subscribers", json=body)
            if response.status_code != 201:
                raise BenchError(f"registration: {response.status_code} {response.text[:200]}")
            results[i] = response.json()

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, min(concurrency, count))):
            group.create_task(worker())
    return [r for r in results if r is not None]


def ws_subs(registrations: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """What the farm needs to connect registered subscribers."""
    return [{"url": r["ws_url"], "token": r["token"], "id": r["id"]} for r in registrations]


class Toggle:
    """Online then offline ``BLOCK``, again and again: each call is one transition (2 walks)."""

    def __init__(self, client: httpx.AsyncClient, block: int = BLOCK) -> None:
        self.client = client
        self.block = block
        self.online = False

    async def __call__(self) -> None:
        if self.online:
            path, body = f"/api/v1/memory/blocks/{self.block}/offline", {}
        else:
            path, body = f"/api/v1/memory/blocks/{self.block}/online", {"online_type": "online"}
        response = await self.client.post(path, json=body)
        if response.status_code != 200:
            raise BenchError(f"transition: {response.status_code} {response.text[:300]}")
        record = response.json()
        if record.get("outcome") != "completed":
            raise BenchError(f"transition did not complete: {record.get('outcome')}")
        self.online = not self.online

    async def sync(self) -> None:
        """Learn the block's state (after a restart or an earlier benchmark)."""
        response = await self.client.get(f"/api/v1/memory/blocks/{self.block}")
        response.raise_for_status()
        self.online = response.json()["state"] == "online"


class Event:
    """One event through a baseline (``POST /event?walks=N``)."""

    def __init__(self, client: httpx.AsyncClient, walks: int = 2) -> None:
        self.client = client
        self.walks = walks

    async def __call__(self) -> None:
        response = await self.client.post("/event", params={"walks": self.walks})
        if response.status_code != 200:
            raise BenchError(f"baseline event: {response.status_code} {response.text[:300]}")


async def connected_count(client: httpx.AsyncClient) -> int:
    """hotplugd's ``hotplug_subscribers_connected`` gauge."""
    response = await client.get("/metrics")
    for line in response.text.splitlines():
        if line.startswith("hotplug_subscribers_connected "):
            return int(float(line.split()[1]))
    return -1


async def timed(trigger: Callable[[], Any], count: int, budget_s: float) -> list[float]:
    """Run ``trigger`` up to ``count`` times, one after the other, within ``budget_s``.

    Returns each call's latency in ms.
    """
    latencies: list[float] = []
    deadline = time.monotonic() + budget_s
    for _ in range(count):
        started = time.perf_counter()
        await trigger()
        latencies.append((time.perf_counter() - started) * 1000)
        if time.monotonic() > deadline:
            break
    return latencies


# -- services that may be missing ----------------------------------------------


async def ensure_nats() -> str | None:
    """Make sure the local nats-server runs; None when it can, else why not."""
    try:
        import nats  # noqa: F401
    except ImportError:
        return "nats-py is not installed (pip install -e '.[bench]')"
    if port_open(HOST, 4222):
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        await asyncio.to_thread(
            subprocess.run, NATS_START, check=False, timeout=10, capture_output=True
        )
    for _ in range(50):
        if port_open(HOST, 4222):
            return None
        await asyncio.sleep(0.1)
    return "nats-server is not running on 127.0.0.1:4222 and could not be started"


async def postgres_available() -> str | None:
    """None when the local PostgreSQL answers, else why not."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed"
    try:
        conn = await asyncio.wait_for(asyncpg.connect(POSTGRES_URL), 10)
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URL} is not available: {exc}"
    await conn.close()
    return None


@contextlib.asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A fresh schema name's database URL (hotplugd creates it); dropped at the end."""
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{POSTGRES_URL}?schema={schema}"
    finally:
        with contextlib.suppress(Exception):
            conn = await asyncio.wait_for(asyncpg.connect(POSTGRES_URL), 10)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()


# -- profiling --------------------------------------------------------------------


class Profiler:
    """``py-spy record`` on a pid, raw (collapsed) stacks, stopped with SIGINT.

    Blocking mode (the process is paused for each sample): slower, but idle
    threads are told apart reliably (``--nonblocking`` counts an event loop
    waiting in epoll and a worker thread waiting on its queue as busy).
    ``--gil`` keeps only samples of threads holding the GIL: Python CPU time.
    """

    def __init__(self, pid: int, out: Path, rate: int = 250, native: bool = False) -> None:
        self.pid = pid
        self.native = native
        self.out = out
        self.rate = rate
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        exe = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        if not Path(exe).exists():
            raise BenchError("py-spy is not installed (pip install py-spy)")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        log = self.out.with_suffix(".log").open("wb")
        cmd = [exe, "record", "--pid", str(self.pid), "--rate", str(self.rate)]
        cmd += ["--format", "raw", "--threads", "--gil", "-o", str(self.out)]
        if self.native:
            cmd.append("--native")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def run(main: Callable[[argparse.Namespace], Any], args: argparse.Namespace) -> None:
    """Run an async benchmark; SIGTERM ends it through its ``finally`` blocks."""

    def on_term(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    raise_nofile(20_000)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args))
    else:
        uvloop.run(main(args))
