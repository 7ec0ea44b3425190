"""The simulated cluster: a real-HTTP API server and a control plane that writes like the real one.

It shares nothing with the daemon but the wire (import-linter enforces it) and
works on plain JSON dicts. See `SimCluster` for the entry point and
`tracewatch.sim.truth` for the ground-truth keys.
"""

from tracewatch.sim.cluster import SimCluster
from tracewatch.sim.errors import ApiError
from tracewatch.sim.manifests import pod_manifest
from tracewatch.sim.options import Latency, SimOptions
from tracewatch.sim.truth import GroundTruth

__all__ = ["ApiError", "GroundTruth", "Latency", "SimCluster", "SimOptions", "pod_manifest"]
