"""Shared by the benchmark scripts: import path, RSS readings, the result file, a tiny CLI.

Each benchmark is a script (`bench/<name>.py [--small] --json PATH`) that writes
one JSON object of results; `bench/run.py` runs them in subprocesses so every
RSS figure belongs to one benchmark alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as `python bench/x.py` from a checkout, not installed


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def rss_bytes() -> int:
    """Resident set size now."""
    return _status_kib("VmRSS:") * 1024


def peak_rss_bytes() -> int:
    """Highest resident set size since start (or since `reset_peak_rss`)."""
    return _status_kib("VmHWM:") * 1024


def reset_peak_rss() -> None:
    """Make the peak start again from the current RSS (Linux: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")


def settled_rss_bytes() -> int:
    """RSS after a full collection, so garbage does not count as held memory."""
    gc.collect()
    return rss_bytes()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


class Stopwatch:
    """Accumulates perf_counter time over several `with` blocks."""

    __slots__ = ("_start", "seconds")

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds += time.perf_counter() - self._start


def script_main(
    name: str, run: Callable[[bool], dict[str, Any]], argv: list[str] | None = None
) -> int:
    """The CLI every benchmark script shares: `[--small] [--default-gc] --json PATH`.

    The process runs as the `tracewatch` command's does, its garbage collector tuned
    (`tracewatch.gctune`), unless --default-gc asks for CPython's defaults.
    """
    parser = argparse.ArgumentParser(prog=f"bench/{name}.py")
    parser.add_argument("--small", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--default-gc", action="store_true",
                        help="keep CPython's collector settings (the tracewatch command tunes "
                             "them: tracewatch/gctune.py)")
    parser.add_argument("--json", required=True, help="write the results here")
    args = parser.parse_args(argv)
    if not args.default_gc:
        from tracewatch.gctune import tune_gc

        tune_gc()
    results = run(args.small)
    results[f"{name}.gc"] = "default" if args.default_gc else "tuned"
    Path(args.json).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


class Helper:
    """A helper process (list server, simulator) that prints `READY <url>` and serves
    until its stdin closes."""

    def __init__(self, script: str, *args: str) -> None:
        import subprocess

        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / script), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"bench/{script} did not start: {line!r}")
        self.url = line.split(" ", 1)[1]

    def readline(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except Exception:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def write_kubeconfig(path: Path, *, server: str, token: str = "bench") -> Path:
    """A kubeconfig for a plain-HTTP loopback server with a bearer token."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        "clusters": [{"name": "bench", "cluster": {"server": server}}],
        "users": [{"name": "bench", "user": {"token": token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
    }))
    return path
