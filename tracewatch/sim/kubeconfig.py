"""A kubeconfig file pointing a stock client (kubectl, kubernetes_asyncio) at the simulator."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

CONTEXT = "tracewatch-sim"


def kubeconfig(
    *, server: str, token: str, ca_pem: str | None = None, namespace: str = "default"
) -> dict[str, object]:
    """The kubeconfig document: one cluster, one token user, one context named `tracewatch-sim`."""
    cluster: dict[str, str] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(
    path: str | os.PathLike[str], *, server: str, token: str, ca_pem: str | None = None
) -> Path:
    """Write the kubeconfig, readable by the owner only (it holds a token)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig(server=server, token=token, ca_pem=ca_pem), sort_keys=False)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return target
