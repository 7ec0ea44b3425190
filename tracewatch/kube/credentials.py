"""Keeping a bearer token current: rotating token files, exec plugins, refresh after a 401.

kubernetes_asyncio reads a kubeconfig's token once, re-runs an exec plugin only
when the plugin gave an expiry, and re-reads the in-cluster token once a
minute. Each of those can leave a watch presenting a token the server has
stopped accepting. `CredentialRefresher` is the Configuration's
`refresh_api_key_hook` (called before every request); it re-reads a token file
when the file changes (kubelet rotates projected ServiceAccount tokens by
swapping a symlink) and re-runs an exec plugin shortly before expiry, and
`rejected()` (the informers call it on a 401) makes the next request fetch
fresh credentials whatever the expiry said.

Tokens never leave this module except into the Authorization header.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import structlog
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config.kube_config import KubeConfigLoader

__all__ = ["CredentialRefresher", "TokenFile", "refresher_for_kubeconfig"]

log = structlog.get_logger(__name__)


class TokenFile:
    """A bearer token kept in a file, re-read when the file changes or after `max_age` seconds.

    A stat per request is cheap next to the request itself; comparing
    (inode, mtime, size) catches kubelet's atomic symlink swap as well as an
    in-place rewrite. Raises OSError/ValueError when the file is unreadable or empty,
    keeping the last good token if there was one.
    """

    __slots__ = ("_max_age", "_monotonic", "_read_at", "_stamp", "_token", "path")

    def __init__(
        self,
        *,
        path: str | os.PathLike[str],
        max_age: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = os.fspath(path)
        self._max_age = max_age
        self._monotonic = monotonic
        self._token = ""
        self._stamp: tuple[int, int, int] | None = None
        self._read_at = float("-inf")

    def invalidate(self) -> None:
        """Re-read on the next `token()` whatever the file's stamp says."""
        self._stamp = None

    def token(self) -> str:
        """The current token (without the "Bearer " prefix)."""
        try:
            st = os.stat(self.path)
        except OSError:
            if self._token:
                return self._token  # a rotation in progress; the next request tries again
            raise
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        stale = self._monotonic() - self._read_at >= self._max_age
        if stamp != self._stamp or stale or not self._token:
            with open(self.path, encoding="utf-8") as f:
                token = f.read().strip()
            if not token:
                if self._token:
                    return self._token
                raise ValueError(f"token file {self.path} is empty")
            if self._token and token != self._token:
                log.info("kube.token_rotated", token_file=self.path)
            self._token = token
            self._stamp = stamp
            self._read_at = self._monotonic()
        return self._token


class CredentialRefresher:
    """A Configuration `refresh_api_key_hook` for credentials that change while we run.

    Exactly one of `token_file` or `loader` (a KubeConfigLoader whose user runs
    an exec plugin or uses the gcp provider) is used.
    """

    def __init__(
        self, *, token_file: TokenFile | None = None, loader: KubeConfigLoader | None = None
    ) -> None:
        if (token_file is None) == (loader is None):
            raise ValueError("give exactly one of token_file or loader")
        self._token_file = token_file
        self._loader = loader
        self._stale = False
        self._lock = asyncio.Lock()  # concurrent informers must not run the plugin several times
        self.refreshes_after_rejection = 0

    def rejected(self) -> None:
        """The server answered 401: fetch new credentials before the next request."""
        self._stale = True
        if self._token_file is not None:
            self._token_file.invalidate()

    async def __call__(self, configuration: Configuration) -> None:
        if self._token_file is not None:
            if self._stale:
                self._stale = False
                self.refreshes_after_rejection += 1
            configuration.api_key["BearerToken"] = "Bearer " + self._token_file.token()
            return
        loader = self._loader
        assert loader is not None
        async with self._lock:
            if loader.provider == "gcp":
                await loader.load_gcp_token()
            elif self._stale:
                # A 401 means the server no longer takes this token, whatever its expiry said.
                self._stale = False
                self.refreshes_after_rejection += 1
                if hasattr(loader, "exec_plugin_expiry"):
                    del loader.exec_plugin_expiry
                await loader.load_from_exec_plugin()
            elif hasattr(loader, "exec_plugin_expiry"):
                await loader.load_from_exec_plugin()  # no-op until 5 min before expiry
        if loader.token:
            configuration.api_key["BearerToken"] = loader.token


def refresher_for_kubeconfig(loader: KubeConfigLoader) -> CredentialRefresher | None:
    """The refresher a kubeconfig user needs, or None when its credentials cannot change.

    Exec plugins (with or without an expiry: without one the plugin is re-run only
    after a 401, as client-go does), the gcp auth provider, and `tokenFile` users
    (re-read as the file changes, like client-go's cached token source).
    """
    user = getattr(loader, "_user", None)
    if loader.provider == "gcp" or (user is not None and "exec" in user):
        return CredentialRefresher(loader=loader)
    if user is not None and "tokenFile" in user and not user.safe_get("token"):
        path = user["tokenFile"]
        if not os.path.isabs(path):
            path = os.path.join(loader._get_base_path(user.path), path)
        return CredentialRefresher(token_file=TokenFile(path=path))
    return None
