"""Summarise a ``py-spy record --format raw`` file: where the service's CPU time goes.

    .venv/bin/python -m tests.bench.profile_report tests/bench/results/profile-hop-*.txt

Prints, per file: the share of samples by area (the package or ``app``
module a sample's innermost frame is in), the functions with the most
self time, and the ``app`` functions with the most inclusive time (time in
them and in everything they call).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
AREAS = (
    ("app/engine/events", "app.engine.events (event bus)"),
    ("app/engine/service", "app.engine.service (engine)"),
    ("app/engine/runs", "app.engine.runs (records)"),
    ("app/engine/registry", "app.engine.registry"),
    ("app/engine/metrics", "app.engine.metrics"),
    ("app/engine", "app.engine (other)"),
    ("app/transport/stream", "app.transport.stream (event stream)"),
    ("app/transport", "app.transport (hub, sessions)"),
    ("app/storage", "app.storage"),
    ("app/api", "app.api"),
    ("app/memory", "app.memory"),
    ("app/chain", "app.chain"),
    ("prometheus_client", "prometheus_client"),
    ("sqlalchemy", "sqlalchemy"),
    ("asyncpg", "asyncpg"),
    ("websockets", "websockets (protocol, deflate)"),
    ("uvicorn", "uvicorn"),
    ("starlette", "starlette"),
    ("fastapi", "fastapi"),
    ("pydantic", "pydantic"),
    ("anyio", "anyio"),
    ("asyncio", "asyncio"),
    ("zlib", "zlib"),
    ("json", "json"),
    ("threading", "threading"),
    ("logging", "logging"),
)


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """Stacks (outermost first) of (function, file) and their sample counts."""
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not stack_text or not count.isdigit():
            continue
        frames = []
        for raw in stack_text.split(";"):
            match = FRAME.match(raw.strip())
            if match:
                frames.append((match["func"], match["file"]))
            else:
                frames.append((raw.strip(), ""))
        stacks.append((frames, int(count)))
    return stacks


def short(file: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def area(file: str) -> str:
    f = short(file)
    for needle, name in AREAS:
        if needle in f:
            return name
    return f.split("/", 1)[0] or "other"


# Where a sample belongs, by the frames on its stack (first match wins).
PHASES = (
    (
        "storage writes (SqlStorage.write, group commit, asyncpg)",
        ("SqlStorage.write", "GroupCommit._flush"),
    ),
    ("storage thread (hotplugd-sqlite)", ("ConnectionThread._run",)),
    ("per hop: engine (_call/_deliver, events, registry, metrics)", ("Engine._run_walk",)),
    ("per hop: hub reader (Session._read_loop, parse_reply)", ("Session._read_loop",)),
    ("per hop: hub writer (Session._write_loop, send, deflate)", ("Session._write_loop",)),
    ("websocket frames in (uvicorn/websockets data_received)", ("websockets_sansio_impl",)),
    ("event stream to observers (stream_events)", ("stream_events", "_send_events")),
    ("engine per transition (journal/finish records, submit)", ("Engine.",)),
    ("HTTP requests (uvicorn, middleware, FastAPI, JSONResponse)", ("httptools_impl", "AuthGuard")),
)


def phase_of(frames: list[tuple[str, str]]) -> str:
    text = ";".join(f"{fn} {fl}" for fn, fl in frames)
    for name, needles in PHASES:
        if any(needle in text for needle in needles):
            return name
    return "event loop and other"


def report(path: Path, top: int) -> str:
    stacks = parse(path)
    total = sum(count for _, count in stacks)
    if not total:
        return f"{path}: no samples"
    areas: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    selfs: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        real = [(fn, fl) for fn, fl in frames if fl]
        if not real:
            continue
        phases[phase_of(real)] += count
        fn, fl = real[-1]
        areas[area(fl)] += count
        selfs[f"{fn} ({short(fl)})"] += count
        seen = set()
        for fn, fl in real:
            if "app/" in short(fl)[:4] or short(fl).startswith("app/"):
                key = f"{fn} ({short(fl)})"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += count
    lines = [f"== {path.name}: {total} samples"]
    lines.append("-- by phase (what the sample was doing):")
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in phases.most_common()]
    lines.append("-- by area (innermost frame):")
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in areas.most_common(top)]
    lines.append("-- self time, top functions:")
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in selfs.most_common(top)]
    lines.append("-- inclusive time, app functions:")
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--top", type=int, default=30)
    args = p.parse_args()
    for path in args.files:
        print(report(path, args.top))
        print()


if __name__ == "__main__":
    main()
