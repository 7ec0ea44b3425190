"""Run the benchmarks, print one table, write every result as JSON.

    python bench/run.py [--small] [--only NAME ...] [--default-gc] --json PATH

Each benchmark runs in a subprocess of its own (`bench/<name>.py`), so RSS
figures belong to one benchmark alone; throughput runs A, B and C side by side
inside its one process. `--small` shrinks every benchmark to seconds (CI runs
it through tests/test_bench_small.py); the full run takes several minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
NAMES = ("throughput", "memory", "lag", "cold_start")

# (key, label, format) rows of the printed table.
TABLE = (
    ("throughput.lines", "capture lines (pod lifecycles)", "{:,.0f}"),
    ("throughput.parse_only_events_per_s", "A parse only (orjson), events/s", "{:,.0f}"),
    ("throughput.pipeline_events_per_s", "B pipeline (replay -> OTLP bytes), events/s", "{:,.0f}"),
    ("throughput.naive_events_per_s", "C naive (client models + OTel SDK), events/s", "{:,.0f}"),
    ("throughput.pipeline_spans_per_s", "B spans/s", "{:,.0f}"),
    ("throughput.naive_spans_per_s", "C spans/s", "{:,.0f}"),
    ("throughput.b_over_a", "B/A (target >= 1.0)", "{:.2f}"),
    ("throughput.b_over_c", "B/C (target >= 30)", "{:.1f}"),
    ("memory.pods", "memory: idle pods held", "{:,.0f}"),
    ("memory.bytes_per_idle_pod", "RSS growth per idle pod, bytes (target <= 1024)", "{:,.0f}"),
    ("memory.peak_rss_bytes", "peak RSS during the initial list, MB", "{:,.0f}"),
    ("lag.rate_per_s", "lag: pod startups/s", "{:,.0f}"),
    ("lag.p50_s", "lag p50, s (Ready -> root at exporter)", "{:.2f}"),
    ("lag.p99_s", "lag p99, s (target <= settle + 1 = 3.0)", "{:.2f}"),
    ("lag.pipeline_p99_s", "  of which tracewatch (received -> exporter) p99, s", "{:.2f}"),
    ("lag.delivery_p99_s", "  of which simulator (Ready -> received) p99, s", "{:.2f}"),
    ("lag.sim_scenario_s", "  simulator took, s (for the churn's duration)", "{:.1f}"),
    ("lag.queue_depth_max", "export queue depth max, spans", "{:,.0f}"),
    ("lag.observation_queue_max", "observation queue max", "{:,.0f}"),
    ("cold_start.pods", "cold start: existing pods", "{:,.0f}"),
    ("cold_start.ready_s", "time to /readyz, s (target <= 30)", "{:.2f}"),
    ("cold_start.peak_rss_bytes", "peak RSS, MB", "{:,.0f}"),
)
_MB_KEYS = {"memory.peak_rss_bytes", "cold_start.peak_rss_bytes"}


def run_one(name: str, *, small: bool, default_gc: bool = False) -> dict[str, Any]:
    """Run bench/<name>.py in a fresh interpreter; its results, or an error record."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = Path(out.name)
    try:
        command = [sys.executable, str(BENCH / f"{name}.py"), "--json", str(path)]
        if small:
            command.append("--small")
        if default_gc:
            command.append("--default-gc")
        began = time.perf_counter()
        finished = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        if finished.returncode != 0:
            raise RuntimeError(f"bench/{name}.py failed:\n{finished.stderr[-4000:]}")
        results: dict[str, Any] = json.loads(path.read_text())
        results[f"{name}.wall_s"] = time.perf_counter() - began
        return results
    finally:
        path.unlink(missing_ok=True)


def table(results: dict[str, Any]) -> str:
    rows = []
    for key, label, fmt in TABLE:
        if key not in results:
            continue
        value = results[key] / 1e6 if key in _MB_KEYS else results[key]
        rows.append((label, fmt.format(value)))
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join(f"{label:<{width}}  {value:>12}" for label, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="every benchmark in seconds (CI)")
    parser.add_argument("--only", action="append", choices=NAMES, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}")
    parser.add_argument("--default-gc", action="store_true",
                        help="keep CPython's collector settings in every benchmark (by "
                             "default they run tuned, as the tracewatch command does: "
                             "tracewatch/gctune.py)")
    parser.add_argument("--json", required=True, metavar="PATH", help="write results here")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "meta.small": args.small,
        "meta.python": platform.python_version(),
        "meta.cpus": os.cpu_count(),
        "meta.machine": platform.machine(),
        "meta.gc": "default" if args.default_gc else "tuned",
    }
    for name in args.only or NAMES:
        print(f"running {name}{' (small)' if args.small else ''} ...", file=sys.stderr, flush=True)
        results.update(run_one(name, small=args.small, default_gc=args.default_gc))
    Path(args.json).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
