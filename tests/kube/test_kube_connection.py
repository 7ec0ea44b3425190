"""ApiConnection: credentials and TLS from kubeconfig / in-cluster config, errors, streams."""

from __future__ import annotations

import base64
import re
import ssl
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import ConfigException
from structlog.testing import capture_logs

from tracewatch.kube.connection import ApiConnection, ApiError

from .kube_fakes import DATA, TOKEN, FakeApi, Reply, Watch, line, pod, pod_list, write_kubeconfig


async def test_kubeconfig_token_is_sent_as_bearer(fake_api: FakeApi, tmp_path: Path) -> None:
    """The selected context's token is sent as 'Bearer <token>' on lists and watches."""
    kubeconfig = write_kubeconfig(tmp_path / "config", server=fake_api.url)
    fake_api.lists.append(Reply(body=pod_list([], "1")))
    fake_api.watches.append(Watch([line("ADDED", pod("a", "2"))]))
    with capture_logs() as logs:
        async with await ApiConnection.from_kubeconfig(
            config_file=kubeconfig, context="test"
        ) as conn:
            await conn.get_json_bytes("/api/v1/pods", {"limit": "1"})
            lines = [
                item async for item in conn.get_stream("/api/v1/pods", {"watch": "true"}, timeout=5)
            ]
    assert len(lines) == 1
    assert [r.headers.get("Authorization") for r in fake_api.requests] == [f"Bearer {TOKEN}"] * 2
    assert TOKEN not in repr(logs)


async def test_context_without_credentials_sends_no_authorization(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    """The kubeconfig's current-context (a user not defined here) is used when none is given."""
    kubeconfig = write_kubeconfig(tmp_path / "config", server=fake_api.url)
    fake_api.lists.append(Reply(body=pod_list([], "1")))
    async with await ApiConnection.from_kubeconfig(config_file=kubeconfig) as conn:
        await conn.get_json_bytes("/api/v1/pods")
    assert "Authorization" not in fake_api.requests[0].headers


async def test_a_kubeconfig_that_is_not_there_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file at the path given (or at any path of a KUBECONFIG-style list, or at the
    default when none is given): the error names the path, not a missing current-context."""
    def names(path: object) -> str:
        return re.escape(f"no kubeconfig file at {path}") + "$"

    missing = tmp_path / "nothing-here"
    with pytest.raises(ConfigException, match=names(missing)):
        await ApiConnection.from_kubeconfig(config_file=missing)
    listed = f"{missing}:{tmp_path / 'nor-here'}"
    with pytest.raises(ConfigException, match=names(listed)):
        await ApiConnection.from_kubeconfig(config_file=listed)
    monkeypatch.setenv("KUBECONFIG", str(missing))
    with pytest.raises(ConfigException, match=names(missing)):
        await ApiConnection.from_kubeconfig()
    monkeypatch.setenv("KUBECONFIG", "")  # set but empty counts as unset, as for kubectl
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigException, match=names(tmp_path / ".kube" / "config")):
        await ApiConnection.from_kubeconfig()


async def test_a_kubeconfig_list_is_read_where_its_files_are(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    """KUBECONFIG's list form: paths that do not exist are passed over, as kubectl does."""
    kubeconfig = write_kubeconfig(tmp_path / "config", server=fake_api.url)
    listed = f"{tmp_path / 'absent'}:{kubeconfig}"
    async with await ApiConnection.from_kubeconfig(config_file=listed, context="test") as conn:
        assert conn.base_url == fake_api.url.rstrip("/")


def test_a_configuration_without_a_host_is_refused_in_one_line() -> None:
    """No API server to talk to: a ValueError saying so (the command's exit 2), not an
    AttributeError from deep inside."""
    configuration = Configuration()
    configuration.host = None
    with pytest.raises(ValueError, match="names no API server"):
        ApiConnection(configuration=configuration)


async def test_errors_carry_status_reason_message_and_retry_after(
    fake_api: FakeApi, connection: ApiConnection
) -> None:
    """A non-2xx answer raises ApiError parsed from the Status body and the Retry-After header."""
    fake_api.lists.append(
        Reply.error(429, "TooManyRequests", "storage is busy", **{"Retry-After": "3"})
    )
    fake_api.lists.append(Reply(status=502, body=b"<html>bad gateway</html>"))
    with pytest.raises(ApiError) as caught:
        await connection.get_json_bytes("/api/v1/pods")
    error = caught.value
    assert (error.status, error.reason, error.message, error.retry_after) == (
        429,
        "TooManyRequests",
        "storage is busy",
        3.0,
    )
    with pytest.raises(ApiError) as caught:
        await connection.get_json_bytes("/api/v1/pods")
    assert caught.value.status == 502
    assert "bad gateway" in caught.value.message
    assert caught.value.retry_after is None


async def test_stream_splits_lines_across_chunks(tmp_path: Path) -> None:
    """Lines split across writes, several in one write, blank lines: each line yielded once."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for chunk in (b'{"a":', b"1}\n\n", b'{"b":2}\n{"c"', b":3}\n", b'{"d":4}'):
            await response.write(chunk)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/s", handler)
    async with TestServer(app) as server:
        kubeconfig = write_kubeconfig(
            tmp_path / "config", server=str(server.make_url("")).rstrip("/")
        )
        async with await ApiConnection.from_kubeconfig(
            config_file=kubeconfig, context="test"
        ) as conn:
            lines = [item async for item in conn.get_stream("/s", None, timeout=5)]
    assert lines == [b'{"a":1}', b'{"b":2}', b'{"c":3}', b'{"d":4}']


@pytest.fixture
async def tls_server() -> Any:
    """An HTTPS server with a self-signed certificate for localhost / 127.0.0.1."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=pod_list([], "1"), content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/pods", handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(DATA / "server.crt", DATA / "server.key")
    server = TestServer(app)
    await server.start_server(ssl=context)
    yield server
    await server.close()


def https_url(server: TestServer) -> str:
    return f"https://127.0.0.1:{server.port}"


async def test_tls_is_verified_by_default(tls_server: TestServer, tmp_path: Path) -> None:
    """Without a CA for the server's certificate, the connection is refused (verification is on)."""
    kubeconfig = write_kubeconfig(tmp_path / "config", server=https_url(tls_server))
    async with await ApiConnection.from_kubeconfig(config_file=kubeconfig, context="test") as conn:
        assert conn.ssl_context is not None
        assert conn.ssl_context.verify_mode == ssl.CERT_REQUIRED
        assert conn.ssl_context.check_hostname
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await conn.get_json_bytes("/api/v1/pods")


async def test_certificate_authority_data_is_trusted(
    tls_server: TestServer, tmp_path: Path
) -> None:
    """The kubeconfig's certificate-authority-data makes the server's certificate verify."""
    ca = base64.b64encode((DATA / "server.crt").read_bytes()).decode()
    kubeconfig = write_kubeconfig(
        tmp_path / "config",
        server=https_url(tls_server),
        cluster_extra={"certificate-authority-data": ca},
    )
    async with await ApiConnection.from_kubeconfig(config_file=kubeconfig, context="test") as conn:
        body = await conn.get_json_bytes("/api/v1/pods")
    assert b"PodList" in body


async def test_insecure_skip_tls_verify_is_honoured_and_logged(
    tls_server: TestServer, tmp_path: Path
) -> None:
    """insecure-skip-tls-verify turns verification off, with a warning saying so."""
    kubeconfig = write_kubeconfig(
        tmp_path / "config",
        server=https_url(tls_server),
        cluster_extra={"insecure-skip-tls-verify": True},
    )
    with capture_logs() as logs:
        conn = await ApiConnection.from_kubeconfig(config_file=kubeconfig, context="test")
    async with conn:
        assert conn.ssl_context is not None and conn.ssl_context.verify_mode == ssl.CERT_NONE
        assert b"PodList" in await conn.get_json_bytes("/api/v1/pods")
    assert [e["event"] for e in logs] == ["kube.tls_verification_disabled"]


async def test_incluster_config_uses_the_service_account(
    tls_server: TestServer, tmp_path: Path
) -> None:
    """In-cluster config reads host/port from the environment, the CA and token from their files."""
    token_file = tmp_path / "token"
    token_file.write_text("sa-token")
    environ = {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(tls_server.port),
    }
    conn = await ApiConnection.from_incluster(
        token_filename=str(token_file), cert_filename=str(DATA / "server.crt"), environ=environ
    )
    async with conn:
        assert conn.base_url == https_url(tls_server)
        assert await conn.auth_headers() == {"authorization": "Bearer sa-token"}
        assert b"PodList" in await conn.get_json_bytes("/api/v1/pods")


EXEC_PLUGIN = """
import datetime, json, pathlib, sys
counter = pathlib.Path(sys.argv[1])
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=int(sys.argv[2]))
status = {"token": f"exec-token-{n}", "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}
print(json.dumps(
    {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status}
))
"""


@pytest.mark.parametrize(
    ("lifetime_s", "expected"),
    [(60, ["Bearer exec-token-2", "Bearer exec-token-3"]), (3600, ["Bearer exec-token-1"] * 2)],
)
async def test_exec_plugin_token_is_refreshed_before_expiry(
    fake_api: FakeApi, tmp_path: Path, lifetime_s: int, expected: list[str]
) -> None:
    """An exec-plugin token is re-fetched when within 5 min of expiry, and reused otherwise."""
    script = tmp_path / "plugin.py"
    script.write_text(EXEC_PLUGIN)
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(script), str(tmp_path / "count"), str(lifetime_s)],
        }
    }
    kubeconfig = write_kubeconfig(tmp_path / "config", server=fake_api.url, user=user)
    fake_api.lists.extend([Reply(body=pod_list([], "1"))] * 2)
    async with await ApiConnection.from_kubeconfig(config_file=kubeconfig, context="test") as conn:
        await conn.get_json_bytes("/api/v1/pods")
        await conn.get_json_bytes("/api/v1/pods")
    assert [r.headers.get("Authorization") for r in fake_api.requests] == expected
