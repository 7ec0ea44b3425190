"""`tracewatch sim`: serving until stopped, the kubeconfig it writes, and its CLI."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import aiohttp
import pytest
import yaml

from tracewatch.cli import main
from tracewatch.sim.certs import client_context
from tracewatch.sim.serve import scenarios, serve


async def test_serve_writes_a_working_kubeconfig_and_stops_cleanly(tmp_path: Path) -> None:
    """The kubeconfig it writes (0600) reaches the server over TLS until `stop` is set."""
    out, stop = io.StringIO(), asyncio.Event()
    target = tmp_path / "sim.kubeconfig"
    server = asyncio.create_task(
        serve(port=0, kubeconfig_out=target, tls=True, scenario=None, out=out, stop=stop)
    )
    for _ in range(100):
        if target.exists() and "listening" in out.getvalue():
            break
        await asyncio.sleep(0.02)
    assert os.stat(target).st_mode & 0o777 == 0o600
    cluster = yaml.safe_load(target.read_text())["clusters"][0]["cluster"]
    assert cluster["server"] in out.getvalue() and cluster["server"].startswith("https://")
    token = yaml.safe_load(target.read_text())["users"][0]["user"]["token"]
    assert token not in out.getvalue()  # never printed
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.get(f"{cluster['server']}/api/v1/nodes", ssl=client_context()) as response,
    ):
        assert response.status == 200
        assert len((await response.json())["items"]) == 3
    stop.set()
    assert await asyncio.wait_for(server, timeout=5) == 0
    assert out.getvalue().rstrip().endswith("stopped")


async def test_unknown_scenario_is_exit_2_before_listening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown scenario name is a usage error naming the known ones; nothing is written."""
    code = await serve(port=0, kubeconfig_out=tmp_path / "k", tls=False, scenario="nope")
    assert code == 2 and not (tmp_path / "k").exists()
    assert "unknown scenario 'nope'" in capsys.readouterr().err
    assert "empty" in scenarios()


def test_cli_sim_help_and_required_kubeconfig(capsys: pytest.CaptureFixture[str]) -> None:
    """`tracewatch sim --help` documents the flags; omitting --kubeconfig-out is exit 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for flag in ("--port", "--kubeconfig-out", "--no-tls", "--scenario"):
        assert flag in help_text
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", "--port", "0"])
    assert exit_info.value.code == 2
    assert "--kubeconfig-out" in capsys.readouterr().err


async def test_serve_runs_a_named_scenario_from_the_registry(tmp_path: Path) -> None:
    """`--scenario startup` drives part of the scenario registry: its pods appear over HTTP."""
    out, stop = io.StringIO(), asyncio.Event()
    target = tmp_path / "k"
    server = asyncio.create_task(
        serve(port=0, kubeconfig_out=target, tls=False, scenario="startup", out=out, stop=stop)
    )
    try:
        for _ in range(100):
            if target.exists():
                break
            await asyncio.sleep(0.02)
        doc = yaml.safe_load(target.read_text())
        url = doc["clusters"][0]["cluster"]["server"]
        headers = {"Authorization": f"Bearer {doc['users'][0]['user']['token']}"}
        pods: list[dict[str, object]] = []
        async with aiohttp.ClientSession(headers=headers) as http:
            for _ in range(100):
                async with http.get(f"{url}/api/v1/pods") as response:
                    pods = (await response.json())["items"]
                if pods:
                    break
                await asyncio.sleep(0.05)
        assert pods and "scenario: startup" in out.getvalue()
    finally:
        stop.set()
        assert await asyncio.wait_for(server, timeout=5) == 0
