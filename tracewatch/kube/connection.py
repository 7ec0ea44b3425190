"""An authenticated HTTP connection to the API server, configured by kubernetes_asyncio.

kubernetes_asyncio reads the kubeconfig (context, CA, client cert, token, exec plugins,
auth providers) or the in-cluster ServiceAccount into a `Configuration`; this module
turns that into an aiohttp session with the right TLS context and asks the
Configuration for the Authorization header on every request, so rotating
ServiceAccount tokens and expiring exec-plugin tokens are refreshed by its hooks.
We only ever GET: the watch layer needs raw bytes, not the generated models.

Tokens are never logged: only the server URL and the TLS mode are.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import aiohttp
import msgspec
import structlog
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import ConfigException, load_incluster_config, load_kube_config
from kubernetes_asyncio.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_TOKEN_FILENAME,
)

from tracewatch.kube.credentials import CredentialRefresher, TokenFile, refresher_for_kubeconfig
from tracewatch.kube.decoding import UNDECODABLE

__all__ = [
    "ApiConnection",
    "ApiError",
    "ApiTransport",
    "ReadTimeout",
    "build_ssl_context",
    "default_kubeconfig",
    "describe_failure",
]

log = structlog.get_logger(__name__)

_MAX_ERROR_BODY = 64 * 1024
_MAX_LINE = 16 * 1024 * 1024  # etcd caps objects at ~1.5 MiB; anything far larger is garbage


class ApiError(Exception):
    """A non-2xx answer (or an in-stream ERROR event) from the API server.

    `retry_after` is the server's Retry-After in seconds, when it sent one.
    """

    def __init__(
        self, *, status: int, reason: str = "", message: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {reason}: {message}".strip())
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class ReadTimeout(Exception):
    """No byte arrived for the read timeout: the connection is presumed dead."""


class ApiTransport(Protocol):
    """What the informers need from a connection (ApiConnection; a recorder or test double)."""

    async def get_json_bytes(
        self, path: str, params: Mapping[str, str] | None = None, *, timeout: float = 60.0
    ) -> bytes: ...

    def get_stream(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        timeout: float,
        on_open: Callable[[], None] | None = None,
    ) -> AsyncGenerator[bytes, None]: ...

    def credentials_rejected(self) -> None:
        """The server answered 401: refresh credentials before the next request."""
        ...


class _StatusBody(msgspec.Struct, gc=False):
    code: int = 0
    reason: str = ""
    message: str = ""
    details: _StatusDetails | None = None


class _StatusDetails(msgspec.Struct, rename="camel", gc=False):
    retry_after_seconds: int | None = None


_status_decoder = msgspec.json.Decoder(_StatusBody)


def build_ssl_context(configuration: Configuration) -> ssl.SSLContext:
    """The TLS context the Configuration asks for: verified unless insecure-skip-tls-verify."""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class ApiConnection:
    """GET-only access to one API server: JSON bodies and line streams, auth on every request.

    Use `async with` or call `close()`. Build it with `from_kubeconfig`, `from_incluster`
    or directly from a kubernetes_asyncio `Configuration`.
    """

    def __init__(
        self,
        *,
        configuration: Configuration,
        connect_timeout: float = 10.0,
        refresher: CredentialRefresher | None = None,
    ) -> None:
        self._configuration = configuration
        self._refresher = refresher
        if refresher is not None:
            configuration.refresh_api_key_hook = refresher
        if not configuration.host:
            raise ValueError("the configuration names no API server (no host)")
        self.base_url: str = configuration.host.rstrip("/")
        self.ssl_context: ssl.SSLContext | None = (
            build_ssl_context(configuration) if self.base_url.startswith("https") else None
        )
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        if self.ssl_context is not None and self.ssl_context.verify_mode == ssl.CERT_NONE:
            log.warning("kube.tls_verification_disabled", server=self.base_url)

    @classmethod
    async def from_kubeconfig(
        cls, *, config_file: str | os.PathLike[str] | None = None, context: str | None = None
    ) -> ApiConnection:
        """Connect as the kubeconfig's context says (default file: $KUBECONFIG or ~/.kube/config).

        Raises kubernetes_asyncio's ConfigException for an unusable kubeconfig.
        """
        paths = (os.fspath(config_file) if config_file is not None else "") or default_kubeconfig()
        # The loader reads whichever of the paths exist (KUBECONFIG's list form) and, with
        # none, only warns and then complains of a missing current-context: say what is wrong.
        if not any(os.path.exists(path) for path in paths.split(os.pathsep) if path):
            raise ConfigException(f"no kubeconfig file at {paths}")
        configuration = Configuration()
        loader = await load_kube_config(
            config_file=paths,
            context=context,
            client_configuration=configuration,
            persist_config=False,  # read-only: never rewrite the user's kubeconfig
        )
        return cls(configuration=configuration, refresher=refresher_for_kubeconfig(loader))

    @classmethod
    async def from_incluster(
        cls,
        *,
        token_filename: str = SERVICE_TOKEN_FILENAME,
        cert_filename: str = SERVICE_CERT_FILENAME,
        environ: Mapping[str, str] | None = None,
    ) -> ApiConnection:
        """Connect with the pod's ServiceAccount; the token file is re-read whenever it changes
        (kubelet rotates it), at least every minute, and after a 401.
        Raises ConfigException outside a pod (no KUBERNETES_SERVICE_HOST/PORT).
        """
        configuration = Configuration()
        load_incluster_config(
            client_configuration=configuration,
            token_filename=token_filename,
            cert_filename=cert_filename,
            environ=os.environ if environ is None else environ,
            try_refresh_token=False,  # ours re-reads on change and after a 401, not once a minute
        )
        refresher = CredentialRefresher(token_file=TokenFile(path=token_filename))
        return cls(configuration=configuration, refresher=refresher)

    async def __aenter__(self) -> ApiConnection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def credentials_rejected(self) -> None:
        """The server answered 401: re-read or re-run credentials before the next request."""
        if self._refresher is not None:
            self._refresher.rejected()

    async def auth_headers(self) -> dict[str, str]:
        """Headers carrying the current credentials (refreshed by the Configuration's hook)."""
        headers: dict[str, str] = {}
        for setting in (await self._configuration.auth_settings()).values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        return headers

    async def get_json_bytes(
        self, path: str, params: Mapping[str, str] | None = None, *, timeout: float = 60.0
    ) -> bytes:
        """GET path, return the body. Raises ApiError (non-2xx), ReadTimeout, ClientError."""
        try:
            async with self._get(path, params, read_timeout=timeout) as response:
                if response.status >= 300:
                    raise await _api_error(response)
                return await response.read()
        except TimeoutError as exc:
            raise ReadTimeout(f"no response within {timeout}s for {path}") from exc

    async def send_json(self, method: str, path: str, body: bytes, *, timeout: float) -> bytes:
        """POST/PUT a JSON body to path, return the response body; raises like get_json_bytes.

        The one write tracewatch makes: its leader-election Lease (tracewatch.kube.leader).
        """
        try:
            response = await self._request(path, None, timeout, method=method, body=body)
            async with response:
                if response.status >= 300:
                    raise await _api_error(response)
                return await response.read()
        except TimeoutError as exc:
            raise ReadTimeout(f"no response within {timeout}s for {method} {path}") from exc

    async def get_stream(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        timeout: float,
        on_open: Callable[[], None] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """GET path and yield the body's lines (without the newline) as they arrive.

        `on_open` is called once the server has answered 2xx (before any line).

        `timeout` is a read timeout: if no byte arrives for that long, ReadTimeout is
        raised, so a silently dead connection cannot hang a watch. Also raises ApiError
        (non-2xx) and aiohttp.ClientError (connection lost, ClientPayloadError).
        """
        try:
            async with self._get(path, params, read_timeout=timeout) as response:
                if response.status >= 300:
                    raise await _api_error(response)
                if on_open is not None:
                    on_open()
                pending = bytearray()
                async for chunk in response.content.iter_any():
                    start = 0
                    end = chunk.find(b"\n")
                    while end >= 0:
                        if pending:
                            pending += chunk[start:end]
                            line = bytes(pending)
                            pending.clear()
                        else:
                            line = chunk[start:end]
                        if line.strip():
                            yield line
                        start = end + 1
                        end = chunk.find(b"\n", start)
                    pending += chunk[start:]
                    if len(pending) > _MAX_LINE:
                        raise aiohttp.ClientPayloadError(f"line longer than {_MAX_LINE} bytes")
                if pending.strip():
                    yield bytes(pending)
        except TimeoutError as exc:
            raise ReadTimeout(f"no data for {timeout}s on {path}") from exc

    @contextlib.asynccontextmanager
    async def _get(
        self, path: str, params: Mapping[str, str] | None, *, read_timeout: float
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        response = await self._request(path, params, read_timeout)
        try:
            yield response
        except BaseException:
            response.close()  # a half-read stream must not go back to the pool
            raise
        finally:
            response.release()

    async def _request(
        self,
        path: str,
        params: Mapping[str, str] | None,
        read_timeout: float,
        *,
        method: str = "GET",
        body: bytes | None = None,
    ) -> aiohttp.ClientResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                # Each open watch holds one HTTP/1.1 connection for minutes: a pool limit
                # would make the (N+1)th informer wait forever, so there is none.
                connector=aiohttp.TCPConnector(limit=0),
                headers={"Accept": "application/json", "User-Agent": "tracewatch"},
                trust_env=True,  # HTTPS_PROXY / NO_PROXY, as kubectl honours them
            )
        headers = await self.auth_headers()
        if body is not None:
            headers["Content-Type"] = "application/json"
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._connect_timeout, sock_read=read_timeout
        )
        extra: dict[str, Any] = {}
        if self.ssl_context is not None:
            extra["ssl"] = self.ssl_context
            if self._configuration.tls_server_name:
                extra["server_hostname"] = self._configuration.tls_server_name
        if self._configuration.proxy:
            extra["proxy"] = self._configuration.proxy
        return await self._session.request(
            method, self.base_url + path, params=params, data=body, headers=headers,
            timeout=timeout, **extra
        )


async def _api_error(response: aiohttp.ClientResponse) -> ApiError:
    body = await response.content.read(_MAX_ERROR_BODY)
    reason = response.reason or ""
    message = ""
    retry_after: float | None = None
    try:
        status = _status_decoder.decode(body)
        reason = status.reason or reason
        message = status.message
        if status.details is not None and status.details.retry_after_seconds is not None:
            retry_after = float(status.details.retry_after_seconds)
    except UNDECODABLE:
        message = body[:200].decode("utf-8", "replace").strip()
    header = response.headers.get("Retry-After")
    if header is not None:
        # An HTTP-date is rare from the API server; the caller then falls back to backoff.
        with contextlib.suppress(ValueError):
            retry_after = float(header)
    return ApiError(status=response.status, reason=reason, message=message, retry_after=retry_after)


def default_kubeconfig() -> str:
    """Where the kubeconfig is when none is named: $KUBECONFIG (a path list, as kubectl reads
    it; set but empty counts as unset), else ~/.kube/config."""
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def describe_failure(exc: BaseException) -> str:
    """A failed request's exception for a log line; aiohttp's connector errors without the
    repr of the SSL context they carry (an object address, different in every process)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = getattr(exc, "certificate_error", None) or exc.os_error
        reason = getattr(cause, "strerror", None) or cause
        return f"{type(exc).__name__}: cannot connect to {exc.host}:{exc.port}: {reason}"
    return f"{type(exc).__name__}: {exc}"
