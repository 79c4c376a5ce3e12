"""Run every benchmark of issue 7, each in its own process, and print one summary.

    .venv/bin/python tests/bench/run.py [--quick] [--profile] [--only hop,tps,...]
    .venv/bin/python -m tests.bench.run ...

Benchmarks: hop (1, 5), tps (2), chain (3), scale (4, 6), parts (in-process
costs, no target). Each writes its own JSON to tests/bench/results/; this
writes ``run-<mode>-<time>.json`` with every figure, and prints the table of
all judged figures with PASS/MISS. Exit status 0 even when a target is
missed (they are measurements, not tests); 1 when a benchmark failed to run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``tests.bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import REPO, RESULTS, Figure, Report, fmt, machine_info, versions

BENCHES = ("hop", "tps", "chain", "scale", "parts")
# Generous per-benchmark bounds (seconds): a stuck benchmark is killed.
TIMEOUTS = {"quick": 240, "full": 1800}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small counts (< 2 minutes in all)")
    p.add_argument("--profile", action="store_true", help="also sample hotplugd with py-spy")
    p.add_argument("--gc-probe", action="store_true", help="log hotplugd's GC pauses (scale)")
    p.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    mode = "quick" if args.quick else "full"
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(chosen) - set(BENCHES)
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    started = time.time()
    failed: list[str] = []
    produced: list[Path] = []
    for name in chosen:
        before = set(args.out.glob(f"bench_{name}-{mode}-*.json"))
        cmd = [sys.executable, "-m", f"tests.bench.bench_{name}", "--out", str(args.out)]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--profile"] if args.profile and name != "parts" else []
        cmd += ["--gc-probe"] if args.gc_probe and name == "scale" else []
        print(f"\n### bench_{name} ({mode})", flush=True)
        t0 = time.perf_counter()
        try:
            code = subprocess.run(cmd, cwd=REPO, timeout=TIMEOUTS[mode], check=False).returncode
        except subprocess.TimeoutExpired:
            code = -1
            print(f"### bench_{name}: killed after {TIMEOUTS[mode]}s", flush=True)
        print(f"### bench_{name}: exit {code} in {time.perf_counter() - t0:.1f}s", flush=True)
        new = sorted(set(args.out.glob(f"bench_{name}-{mode}-*.json")) - before)
        if code != 0 or not new:
            failed.append(name)
        produced += new
    summary = Report("run", args.quick, profiled=args.profile, started=started)
    judged = []
    for path in produced:
        data = json.loads(path.read_text())
        for f in data["figures"]:
            figure = Figure(
                **{k: f[k] for k in Figure.__dataclass_fields__ if k in f}  # type: ignore[arg-type]
            )
            if figure.limit is not None:
                summary.add(figure)
            judged.append({**f, "bench": data["bench"]})
    summary.details = {"files": [str(p) for p in produced], "figures": judged, "failed": failed}
    summary.finish(args.out)
    missed = [f for f in summary.figures if f.verdict == "MISS"]
    print(
        f"\n{len(summary.figures) - len(missed)} targets met, {len(missed)} missed"
        + (f"; FAILED to run: {', '.join(failed)}" if failed else "")
    )
    for f in missed:
        ratio = f.ratio if f.judge_ratio else f.value
        print(f"  MISS {f.name}: {fmt(ratio)} against {f.target}")
    _ = machine_info, versions  # recorded in every JSON by Report.finish
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
