"""The simulated kube-controller-manager: one module per controller, each writing as the real one.

`ControllerManager` (in `manager.py`) builds them all over one registry and
routes store writes to them; each controller reacts through its own delayed
work queue (`base.WorkQueue`), the way an informer plus a rate-limited queue
does in the real one.
"""
