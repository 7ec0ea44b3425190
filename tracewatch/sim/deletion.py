"""DELETE as the real API server does it: preconditions, propagation policy, graceful deletion.

A bound pod with a grace period is only marked (`deletionTimestamp` at now + grace,
`deletionGracePeriodSeconds`, generation bumped as `rest.BeforeDelete` does): its kubelet
stops the containers and removes it. Foreground / Orphan propagation adds the
`foregroundDeletion` / `orphan` finalizer (a batch/v1 Job's default is Orphan); an object
with finalizers is marked (grace 0) and stays until they are gone. Anything else leaves
the store at once (`Registry.remove`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from tracewatch.sim.errors import (
    bad_request,
    invalid,
    method_not_allowed,
    not_found,
    precondition_failed,
)
from tracewatch.sim.timestamps import NS_PER_S, now_ns, rfc3339
from tracewatch.sim.views import view

if TYPE_CHECKING:
    from tracewatch.sim.registry import Registry
    from tracewatch.sim.store import Stored

PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")
_POLICY_FINALIZERS = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}


class _SpecForDeletion(TypedDict, total=False):
    nodeName: Any
    terminationGracePeriodSeconds: Any


class _PodForDeletion(TypedDict, total=False):
    """What a DELETE reads of a pod (a `views.view` shape)."""

    spec: _SpecForDeletion


def delete(
    registry: Registry,
    resource: str,
    *,
    namespace: str | None,
    name: str,
    grace_period_seconds: int | None = None,
    propagation_policy: str | None = None,
    preconditions: dict[str, Any] | None = None,
    at_ns: int | None = None,
) -> Stored:
    """DELETE: a bound pod is deleted gracefully (its kubelet finishes the job); else at once.

    Foreground / Orphan deletion adds the `foregroundDeletion` / `orphan`
    finalizer (no policy on a batch/v1 Job means Orphan, its default); an object
    with finalizers is only marked (`deletionTimestamp` now, grace 0) until they
    are gone. Returns the object as the response carries it: marked, or its last
    state when removed. Raises 400, 404, 405, 409 (preconditions), 422 (policy).
    """
    info = registry.info(resource)
    if "delete" not in info.verbs:
        raise method_not_allowed()
    if propagation_policy not in (None, *PROPAGATION_POLICIES):
        raise invalid(
            kind="DeleteOptions",
            name="",
            group="meta.k8s.io",
            causes=[
                f'propagationPolicy: Unsupported value: "{propagation_policy}": supported '
                'values: "Foreground", "Background", "Orphan", "nil"'
            ],
        )
    if grace_period_seconds is not None and grace_period_seconds < 0:
        raise bad_request("gracePeriodSeconds must be >= 0")
    stored = registry.get(resource, namespace=namespace, name=name)
    for field, label, actual in (
        ("uid", "UID", stored.uid),
        ("resourceVersion", "ResourceVersion", str(stored.rv)),
    ):
        wanted = (preconditions or {}).get(field)
        if wanted not in (None, "") and str(wanted) != actual:
            raise precondition_failed(
                resource=resource,
                name=name,
                group=info.group,
                field=label,
                wanted=wanted,
                actual=actual,
            )
    at = now_ns() if at_ns is None else at_ns
    # A pod's listeners read only metadata there (see `Listener`): spec, status left encoded.
    current = registry.store.draft(stored, entries=False, metadata=resource == "pods")
    meta = current["metadata"]
    if meta.get("deletionTimestamp"):
        return stored  # already being deleted: the real server answers with it as it is
    policy = propagation_policy or ("Orphan" if resource == "jobs" else "Background")
    registry.deletion_policies[stored.uid] = policy
    finalizers = list(meta.get("finalizers") or ())
    added = _POLICY_FINALIZERS.get(policy)
    if added and added not in finalizers:
        finalizers.append(added)
    spec = (view(stored, _PodForDeletion).get("spec") or {}) if resource == "pods" else {}
    grace = grace_period_seconds
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", 30) if resource == "pods" else 0
    graceful = resource == "pods" and grace > 0 and bool(spec.get("nodeName"))
    if not graceful and not finalizers:
        # No kubelet to wait for (or no grace asked) and no finalizer: gone at once.
        removed = registry.remove(resource, namespace=namespace, name=name, at_ns=at)
        if removed is None:
            raise not_found(resource=resource, name=name, group=info.group)
        return removed

    def mark(obj: dict[str, Any]) -> None:
        m = obj["metadata"]
        if graceful:
            m["deletionTimestamp"] = rfc3339(at + grace * NS_PER_S)
            m["deletionGracePeriodSeconds"] = grace
            if m.get("generation"):
                m["generation"] += 1  # graceful deletion bumps generation (rest.BeforeDelete)
        else:
            m["deletionTimestamp"] = rfc3339(at)
            m["deletionGracePeriodSeconds"] = 0
        if finalizers:
            m["finalizers"] = finalizers

    uid = meta["uid"]
    # The copy decoded above is private and read only so far: the update takes it over.
    marked = registry.update_drafted(
        info,
        registry.key(info, namespace=namespace, name=name),
        stored,
        current,
        mutate=mark,
        manager="",
        at_ns=at,
        subresource=None,
        fields=None,
    )
    if resource != "events":
        registry.truth.record(uid, "deletion_requested", at)
    return marked
