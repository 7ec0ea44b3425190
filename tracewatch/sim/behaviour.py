"""What a simulated container does, told through simulator-only env vars on its spec.

Real containers run programs; simulated ones read these variables (any
container spec: a bare pod, a Deployment's template, a Job's):

- `SIM_RUN_SECONDS`: the container exits after this many seconds (divided by
  the speed factor); unset: it runs until the pod is deleted. An init
  container without it runs for the `container_run` latency.
- `SIM_EXIT_CODE`: its exit code (default 0); set alone, the container exits at once.
  A non-zero code with restartPolicy Always/OnFailure gives CrashLoopBackOff.
- `SIM_READY_DELAY_SECONDS`: seconds from its start to passing its readiness
  probe (default: the probe's `initialDelaySeconds` if it has a readinessProbe,
  else the `readiness` latency); also divided by the speed factor.
- `SIM_PULL_ERROR`: its image pull fails with this text (e.g. `not found`):
  ErrImagePull, then ImagePullBackOff, retried with a doubling back-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Behaviour:
    """One container's simulated behaviour (see the module docstring)."""

    run_seconds: float | None = None
    exit_code: int = 0
    ready_delay_seconds: float | None = None
    pull_error: str | None = None

    @property
    def exits(self) -> bool:
        return self.run_seconds is not None


def _number(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def behaviour_of(container: dict[str, Any]) -> Behaviour:
    """The behaviour a container spec asks for (unparseable values are ignored)."""
    env = {
        e.get("name"): e.get("value")
        for e in container.get("env") or ()
        if isinstance(e, dict) and isinstance(e.get("value"), str)
    }
    run = _number(env.get("SIM_RUN_SECONDS"))
    code = _number(env.get("SIM_EXIT_CODE"))
    if run is None and code is not None:
        run = 0.0
    ready = _number(env.get("SIM_READY_DELAY_SECONDS"))
    probe = container.get("readinessProbe")
    if ready is None and isinstance(probe, dict) and probe.get("initialDelaySeconds"):
        ready = _number(str(probe["initialDelaySeconds"]))
    return Behaviour(
        run_seconds=run,
        exit_code=int(code or 0),
        ready_delay_seconds=ready,
        pull_error=env.get("SIM_PULL_ERROR") or None,
    )


def backoff_seconds(*, base: float, attempt: int, cap: float = 300.0) -> float:
    """The kubelet's back-off before attempt `attempt` (1-based): base, 2*base, ... capped."""
    return min(base * 2 ** max(attempt - 1, 0), cap)
