"""CI proof that the benchmarks still run: `bench/run.py --small` end to end, results sane.

Timings are not asserted (benchmarks are scripts, not timed tests); only that
every benchmark produced every key with a value that makes sense.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

POSITIVE_KEYS = (
    "throughput.parse_only_events_per_s",
    "throughput.pipeline_events_per_s",
    "throughput.naive_events_per_s",
    "throughput.b_over_a",
    "throughput.b_over_c",
    "memory.bytes_per_idle_pod",
    "lag.p50_s",
    "lag.p99_s",
    "cold_start.ready_s",
    "cold_start.peak_rss_bytes",
)


def test_small_benchmarks_write_every_key(tmp_path: Path) -> None:
    """Every benchmark runs in small mode and reports each required key with a sane value."""
    out = tmp_path / "bench.json"
    finished = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--small", "--json", str(out)],
        capture_output=True, text=True, timeout=240, cwd=REPO,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads(out.read_text())
    for key in POSITIVE_KEYS:
        value = results[key]
        assert isinstance(value, int | float) and value > 0, (key, value)
    # The same lines went through B and C, so they reconstructed the same spans.
    assert results["throughput.spans"] == results["throughput.naive_spans"] > 0
    assert results["throughput.lines"] > 1000
    # Every pod the simulator started was traced, and no sooner than its settle delay allows.
    assert results["lag.traced_pods"] == results["lag.pods"] > 0
    assert results["lag.settle_delay_s"] <= results["lag.p50_s"] <= results["lag.p99_s"] < 30
    assert results["memory.known_objects"] > results["memory.pods"]
    assert results["cold_start.peak_rss_bytes"] > results["cold_start.rss_at_start_bytes"]
    # Each ran as the tracewatch command's process does: its collector tuned (gctune).
    assert results["meta.gc"] == results["throughput.gc"] == results["cold_start.gc"] == "tuned"
    assert "A parse only" in finished.stdout and "B/A" in finished.stdout


def test_sim_speed_repeats_in_fresh_processes_and_reports_the_median(tmp_path: Path) -> None:
    """`sim_speed.py --repeat 3` runs three churns; reports the median run and each run's CPU."""
    out = tmp_path / "sim.json"
    finished = subprocess.run(
        [sys.executable, str(REPO / "bench" / "sim_speed.py"), "--small", "--duration", "1",
         "--repeat", "3", "--json", str(out)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads(out.read_text())
    per_pod = results["sim_speed.cpu_ms_per_pod_runs"]
    assert results["sim_speed.runs"] == len(per_pod) == 3
    assert results["sim_speed.cpu_ms_per_pod"] == sorted(per_pod)[1]
    assert 0 <= results["sim_speed.sustained_runs"] <= 3
    assert results["sim_speed.pods"] > 50 and results["sim_speed.achieved_per_s"] > 0
    assert finished.stdout.count("sim churn") == 3 and "3 runs: CPU/pod median" in finished.stdout
