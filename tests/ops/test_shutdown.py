"""`tracewatch run` as a process: SIGTERM/SIGINT stop the watch, flush finished spans, exit 0.

Also the start-up failure an operator meets first: the ops port already taken.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tracewatch.sim import SimCluster, SimOptions, pod_manifest

from ..receivers import GrpcReceiver

ROOT = Path(__file__).resolve().parents[2]
PODS = ("web-1", "web-2")


class Daemon:
    """A `tracewatch run` subprocess whose JSON log lines are collected as they arrive."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.records: list[dict[str, Any]] = []
        self.other: list[str] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode().strip()
            try:
                self.records.append(json.loads(line))
            except json.JSONDecodeError:
                self.other.append(line)
            self._changed.set()

    async def record(self, event: str, *, timeout: float = 20) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                self._changed.clear()
                for record in self.records:
                    if record.get("event") == event:
                        return record
                if self.process.returncode is not None:
                    raise AssertionError(f"tracewatch exited: {self.records} {self.other}")
                await self._changed.wait()

    async def wait(self, *, timeout: float) -> int:
        async with asyncio.timeout(timeout):
            code = await self.process.wait()
        await self._reader
        return code


async def start_daemon(kubeconfig: Path, endpoint: str) -> Daemon:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRACEWATCH_", "OTEL_", "KUBECONFIG"))}
    env["PYTHONPATH"] = str(ROOT)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tracewatch", "run",
        "--kubeconfig", str(kubeconfig),
        "--otlp-endpoint", endpoint,
        # Nothing is emitted before the signal: what arrives was flushed by the shutdown.
        "--settle-delay", "1h",
        "--flush-timeout", "5s",
        "--ops-address", "127.0.0.1:0",
        "--log-format", "json",
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    return Daemon(process)


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def pod_observations(base: str) -> float:
    _, text = await get(f"{base}/metrics")
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        if family.name == "tracewatch_observations"
        for s in family.samples
        if s.labels.get("resource") == "pods"
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_flushes_finished_lifecycles_and_exits_zero(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """Pods that became Ready before the signal reach the backend; the process exits 0."""
    async with (
        GrpcReceiver() as receiver,
        SimCluster(options=SimOptions(seed=5, preloaded_images=("busybox:1.36",))) as sim,
    ):
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        daemon = await start_daemon(kubeconfig, receiver.endpoint)
        try:
            listening = await daemon.record("ops.listening")
            base = f"http://127.0.0.1:{listening['address'].rsplit(':', 1)[1]}"
            async with asyncio.timeout(20):
                while (await get(f"{base}/readyz"))[0] != 200:
                    await asyncio.sleep(0.05)
            uids = []
            for name in PODS:
                created = await sim.create("pods", pod_manifest(name, image="busybox:1.36"),
                                           namespace="default")
                uids.append(created["metadata"]["uid"])
            async with asyncio.timeout(20):
                while not all("ready" in sim.truth.times(uid) for uid in uids):
                    await asyncio.sleep(0.05)
            # Let the daemon receive the last transitions: its count of pod changes settles.
            previous = -1.0
            async with asyncio.timeout(10):
                while (seen := await pod_observations(base)) != previous:
                    previous = seen
                    await asyncio.sleep(0.3)
            assert receiver.spans() == []
            daemon.process.send_signal(sig)
            assert await daemon.wait(timeout=20) == 0
        finally:
            if daemon.process.returncode is None:
                daemon.process.kill()
                await daemon.wait(timeout=10)
        roots = [s for s in receiver.spans() if s.name == "k8s.CreatePod"]
        assert sorted(s.attributes["k8s.pod.name"] for s in roots) == sorted(PODS)
        assert {s.attributes["tracewatch.outcome"] for s in roots} == {"completed"}
    events = [r.get("event") for r in daemon.records]
    assert "tracewatch.stopping" in events
    stopped = next(r for r in daemon.records if r.get("event") == "pipeline.stopped")
    assert stopped["flushed"] is True
    assert stopped["spans_exported"] == len(receiver.spans())
    assert daemon.other == []  # off a terminal, every stderr line is a JSON object


async def test_ops_port_in_use_is_one_line_and_exit_one(tmp_path: Path) -> None:
    """A taken ops address stops start-up with one line naming the setting, exit code 1."""
    async with SimCluster() as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEWATCH_")}
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tracewatch", "run", "--kubeconfig", str(kubeconfig),
                "--ops-address", f"127.0.0.1:{port}",
                env={**env, "PYTHONPATH": str(ROOT)}, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )
            async with asyncio.timeout(20):
                _, stderr = await process.communicate()
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 1
    assert len(lines) == 1 and "ops_address" in lines[0] and str(port) in lines[0], lines
