#!/usr/bin/env python3
"""Developer entry point that needs only python3 and pip: `python3 dev.py demo|test`.

Creates `.venv` from pyproject.toml on first use (and again whenever
pyproject.toml changes), then runs the demo or the whole check suite
(ruff, mypy, import-linter layer contracts, pytest).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("TRACEWATCH_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".tracewatch-installed"


def _run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT)
    if result.returncode:
        sys.exit(result.returncode)


def ensure_venv() -> None:
    """Create the virtualenv and install tracewatch with its test extras, if not done yet."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    if not (BIN / "python").exists():
        print(f"creating virtualenv in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test]")
    STAMP.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print("usage: python3 dev.py demo [tracewatch demo flags] | test [pytest args]",
              file=sys.stderr)
        return 2
    ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        _run(BIN / "tracewatch", "demo", *rest)
        return 0
    _run(BIN / "ruff", "check", "tracewatch", "tests", "bench", "dev.py")
    _run(BIN / "mypy")  # tracewatch, bench and dev.py, as pyproject's [tool.mypy] lists
    _run(BIN / "lint-imports")
    _run(BIN / "python", "-m", "pytest", "-q", *rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
