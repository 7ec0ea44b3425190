"""The command line as a user meets it: help, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _tracewatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracewatch", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize("command", [(), ("run",), ("demo",)])
def test_help_explains(command: tuple[str, ...]) -> None:
    """--help on the tool and each command exits 0 and describes the options."""
    result = _tracewatch(*command, "--help")
    assert result.returncode == 0
    assert "usage: tracewatch" in result.stdout
    if command == ("run",):
        for flag in (
            "--kubeconfig",
            "--context",
            "--namespace",
            "--exporter",
            "--otlp-endpoint",
            "--otlp-protocol",
            "--output",
            "--config",
            "--log-format",
            "--log-level",
        ):
            assert flag in result.stdout, flag


def test_unknown_flag_is_one_line_and_exit_2() -> None:
    """An unknown flag exits 2 with a single line on stderr."""
    result = _tracewatch("run", "--frobnicate")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--frobnicate" in lines[0]


def test_bad_choice_is_one_line_and_exit_2() -> None:
    """A value outside a flag's choices exits 2 with one line."""
    result = _tracewatch("run", "--exporter", "zipkin")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_config_file_names_the_key(tmp_path: Path) -> None:
    """A config file with an unknown key exits 2, naming the key, without a traceback."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("exporter: otlp\nsettle: 2s\n")
    result = _tracewatch("run", "--config", str(cfg))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "'settle'" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_command_prints_help_and_exit_2() -> None:
    """Running bare `tracewatch` shows usage and exits 2."""
    result = _tracewatch()
    assert result.returncode == 2
    assert "COMMAND" in result.stderr


def test_the_command_tunes_the_collector_and_main_does_not() -> None:
    """The `tracewatch` command's process collects young objects less often and freezes its
    start-up heap (gctune); `main`, which tests and embedders call, leaves the host's alone."""
    probe = (
        "import gc, sys\n"
        "from tracewatch import cli\n"
        "default = gc.get_threshold()[0]\n"
        "assert cli.main([]) == 2 and gc.get_threshold()[0] == default\n"
        "assert gc.get_freeze_count() == 0\n"
        "sys.argv = ['tracewatch']\n"
        "code = cli.entry()\n"
        "print(default, gc.get_threshold()[0], gc.get_freeze_count() > 0, code)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    from tracewatch.gctune import YOUNG_THRESHOLD

    default, tuned, frozen, code = result.stdout.split()
    assert int(default) != YOUNG_THRESHOLD == int(tuned)
    assert (frozen, code) == ("True", "2")
