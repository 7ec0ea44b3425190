"""OTLP options: our settings over the OTEL_EXPORTER_OTLP_* variables, TLS rules, and the wire."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from tracewatch.config import load
from tracewatch.daemon import exporter_from_settings
from tracewatch.export.base import ExportResult
from tracewatch.export.otlp_config import OtlpConfig, resolve_otlp_config, resource_from_env
from tracewatch.export.otlp_http import OtlpHttpExporter

from ..receivers import GrpcReceiver, HttpReceiver, _TraceService
from .builders import pod_startup

CERTS = Path(__file__).resolve().parents[1] / "kube" / "data"  # CN/SAN localhost, 127.0.0.1


class TlsGrpcReceiver(GrpcReceiver):
    """A GrpcReceiver serving TLS with the test certificate."""

    async def start(self) -> str:
        server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), server)
        credentials = grpc.ssl_server_credentials(
            [((CERTS / "server.key").read_bytes(), (CERTS / "server.crt").read_bytes())]
        )
        port = server.add_secure_port("127.0.0.1:0", credentials)
        await server.start()
        self._server = server
        self.endpoint = f"127.0.0.1:{port}"
        return self.endpoint


class TlsHttpReceiver(HttpReceiver):
    """An HttpReceiver serving HTTPS with the test certificate."""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/traces", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(CERTS / "server.crt", CERTS / "server.key")
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        self.endpoint = f"127.0.0.1:{port}"
        return self.endpoint


def settings(**flags: Any) -> Any:
    return load(flags={"exporter": "otlp", **flags}, environ={})


def test_setting_beats_traces_variable_beats_general_variable() -> None:
    """For each option: our setting, then OTEL_EXPORTER_OTLP_TRACES_*, then OTEL_EXPORTER_OTLP_*."""
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://general:4317",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces:4317",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    }
    config = resolve_otlp_config(explicit={}, environ=environ)
    assert config.endpoint == "https://traces:4317"
    assert config.timeout_s == 2.5
    assert config.compression is True
    assert config.protocol == "http"
    sources = dict(config.sources)
    assert sources["endpoint"] == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    assert sources["timeout_s"] == "OTEL_EXPORTER_OTLP_TIMEOUT"
    assert sources["headers"] == "default"
    mine = resolve_otlp_config(
        explicit={"endpoint": "mine:4317", "timeout_s": 1.0, "protocol": "grpc"}, environ=environ
    )
    assert (mine.endpoint, mine.timeout_s, mine.protocol) == ("mine:4317", 1.0, "grpc")
    assert dict(mine.sources)["endpoint"] == "setting"


def test_defaults_without_anything_set() -> None:
    """Nothing set: gRPC to localhost:4317 (HTTP: http://localhost:4318), 10 s, no gzip."""
    config = resolve_otlp_config(explicit={}, environ={})
    assert (config.endpoint, config.protocol, config.timeout_s, config.compression) == (
        "localhost:4317", "grpc", 10.0, False)
    http = resolve_otlp_config(explicit={"protocol": "http"}, environ={})
    assert http.endpoint == "http://localhost:4318"


def test_headers_variable_is_url_decoded() -> None:
    """OTEL_EXPORTER_OTLP_HEADERS is k=v pairs with percent-encoded values."""
    config = resolve_otlp_config(
        explicit={},
        environ={"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20abc%3D%3D, x-tenant=t1"},
    )
    assert config.headers == (("authorization", "Bearer abc=="), ("x-tenant", "t1"))


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "ten", "OTEL_EXPORTER_OTLP_TIMEOUT"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "maybe", "OTEL_EXPORTER_OTLP_INSECURE"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "s3cr3t-token-without-key", "OTEL_EXPORTER_OTLP_HEADERS"),
    ],
)
def test_bad_variables_name_themselves_never_a_header_value(
    var: str, value: str, message: str
) -> None:
    """A bad variable is a one-line ValueError naming it; a header value is never echoed."""
    with pytest.raises(ValueError, match=message) as err:
        resolve_otlp_config(explicit={}, environ={var: value})
    if var.endswith("HEADERS"):
        assert "s3cr3t" not in str(err.value)


@pytest.mark.parametrize(
    ("endpoint", "insecure", "ca_file", "tls"),
    [
        ("https://collector:4317", False, None, True),
        ("http://collector:4317", False, None, False),
        ("collector:4317", False, None, True),  # bare host off-box: TLS unless opted out
        ("collector:4317", True, None, False),
        ("localhost:4317", False, None, False),  # loopback: nothing crosses a network
        ("127.0.0.1:4317", False, None, False),
        ("[::1]:4317", False, None, False),
        ("127.0.0.1:4317", False, "/ca.pem", True),  # a CA file asks for TLS
        ("https://collector:4317", True, None, True),  # the scheme wins over insecure
    ],
)
def test_tls_rule(endpoint: str, insecure: bool, ca_file: str | None, tls: bool) -> None:
    """https/http decide; bare host:port is TLS unless insecure or loopback; a CA forces TLS."""
    config = OtlpConfig(endpoint=endpoint, protocol="grpc", insecure=insecure, ca_file=ca_file)
    assert config.tls is tls


def test_resource_attributes_from_env_never_override_service_name() -> None:
    """OTEL_RESOURCE_ATTRIBUTES adds attributes; service.name stays per component."""
    pairs = resource_from_env(
        {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,service.name=x,team=a%20b"}
    )
    assert pairs == (("deployment.environment", "prod"), ("team", "a b"))


async def test_otel_variables_reach_the_wire_and_settings_override_them() -> None:
    """Endpoint, headers, protocol and gzip from OTEL_* arrive at a real HTTP receiver."""
    async with HttpReceiver() as receiver, GrpcReceiver() as grpc_receiver:
        environ = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-scope-orgid=tenant%2D1",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        }
        exporter = exporter_from_settings(settings(cluster_name="c1"), environ=environ)
        assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
        await exporter.shutdown()
        assert receiver.headers[-1]["x-scope-orgid"] == "tenant-1"
        assert receiver.headers[-1]["content-encoding"] == "gzip"
        span = receiver.spans()[0]
        assert span.resource["k8s.cluster.name"] == "c1"
        assert span.resource["deployment.environment"] == "test"
        # Our settings win over the variables: another endpoint and protocol.
        ours = settings(otlp_endpoint=grpc_receiver.endpoint, otlp_protocol="grpc",
                        otlp_headers="x-scope-orgid=mine")
        exporter = exporter_from_settings(ours, environ=environ)
        assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
        await exporter.shutdown()
        assert grpc_receiver.headers[-1]["x-scope-orgid"] == "mine"


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_tls_with_ca_file_verifies_and_without_it_fails(protocol: str) -> None:
    """A TLS receiver is reached with otlp_ca_file; without it the certificate is not trusted."""
    receiver_type = TlsGrpcReceiver if protocol == "grpc" else TlsHttpReceiver
    async with receiver_type() as receiver:
        # "localhost" is loopback, so TLS comes from the CA file (or an https:// scheme).
        endpoint = receiver.endpoint.replace("127.0.0.1", "localhost")
        trusted = exporter_from_settings(
            settings(otlp_endpoint=endpoint, otlp_protocol=protocol,
                     otlp_ca_file=str(CERTS / "server.crt"), otlp_timeout="2s"),
            environ={},
        )
        assert await trusted.export(pod_startup()) is ExportResult.SUCCESS
        await trusted.shutdown()
        untrusted = exporter_from_settings(
            settings(otlp_endpoint=f"https://{endpoint}", otlp_protocol=protocol,
                     otlp_timeout="2s"),
            environ={},
        )
        assert await untrusted.export(pod_startup()) is not ExportResult.SUCCESS
        await untrusted.shutdown()
        assert len(receiver.spans()) == len(pod_startup())


async def test_certificate_variable_is_used_when_no_setting() -> None:
    """OTEL_EXPORTER_OTLP_CERTIFICATE supplies the CA when otlp_ca_file is not set."""
    async with TlsGrpcReceiver() as receiver:
        environ = {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(CERTS / "server.crt")}
        endpoint = receiver.endpoint.replace("127.0.0.1", "localhost")
        exporter = exporter_from_settings(settings(otlp_endpoint=endpoint), environ=environ)
        assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
        await exporter.shutdown()


def test_insecure_setting_and_flag_parse() -> None:
    """otlp_insecure accepts true/false words from files/env and --[no-]otlp-insecure flags."""
    assert load(flags={}, environ={"TRACEWATCH_OTLP_INSECURE": "yes"}).otlp_insecure is True
    assert load(flags={"otlp_insecure": False},
                environ={"TRACEWATCH_OTLP_INSECURE": "true"}).otlp_insecure is False


def test_example_config_leaves_otel_variables_in_charge() -> None:
    """The shipped config/tracewatch.yaml sets no OTLP option, so OTEL_* variables still apply."""
    example = Path(__file__).resolve().parents[2] / "config" / "tracewatch.yaml"
    loaded = load(flags={}, config_file=str(example), environ={})
    environ = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TIMEOUT": "500",
               "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    exporter = exporter_from_settings(loaded, environ=environ)
    assert isinstance(exporter, OtlpHttpExporter)  # the protocol came from the variable
    assert exporter.url == "http://collector:4318/v1/traces"
