"""Where the real recorded objects live: ../shared/realdata next to the repository.

Read in place (never copied into the repo; see its SOURCES.md). Tests that need
them skip, saying so, only where the folder is absent.
"""

from __future__ import annotations

from pathlib import Path

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "pulumi"
ABSENT = f"real recordings not present at {REALDATA}"
