"""What the OTLP gRPC and HTTP exporters share: endpoint parsing and response handling."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import structlog
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

log = structlog.get_logger("tracewatch.export")

DEFAULT_GRPC_PORT = 4317
DEFAULT_HTTP_PORT = 4318
TRACES_PATH = "/v1/traces"
# DNS names (letters, digits, hyphens, dots; underscores occur in service names) and IPv4.
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed OTLP endpoint: where to connect and whether TLS was asked for by scheme."""

    scheme: str  # "http", "https" or "" when the user gave bare host:port
    host: str
    port: int
    path: str

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoint(endpoint: str, *, default_port: int) -> Endpoint:
    """Split `host:port`, `http://host:port[/path]` or `https://...`; ValueError otherwise."""
    text = endpoint.strip()
    if not text:
        raise ValueError("OTLP endpoint is empty")
    scheme = ""
    if "://" in text:
        scheme, _, text = text.partition("://")
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(
                f"OTLP endpoint {endpoint!r}: scheme must be http or https, not {scheme!r}"
            )
    hostport, slash, path = text.partition("/")
    path = slash + path if slash else ""
    host, port = _split_host_port(hostport, endpoint=endpoint)
    if port is None:
        # A URL without a port means the scheme's port, as everywhere else; bare hosts get OTLP's.
        port = {"http": 80, "https": 443}.get(scheme, default_port)
    return Endpoint(scheme=scheme, host=host, port=port, path=path.rstrip("/"))


def _split_host_port(hostport: str, *, endpoint: str) -> tuple[str, int | None]:
    if hostport.startswith("["):  # [::1]:4317
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"OTLP endpoint {endpoint!r}: write an IPv6 host as [addr]:port")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            message = f"OTLP endpoint {endpoint!r}: [{host}] is not an IPv6 address"
            raise ValueError(message) from None
        port_text = rest[1:]
    elif hostport.count(":") > 1:
        raise ValueError(f"OTLP endpoint {endpoint!r}: write an IPv6 host in brackets, "
                         "e.g. [::1]:4317")
    else:
        host, _, port_text = hostport.partition(":")
        if not host:
            raise ValueError(f"OTLP endpoint {endpoint!r} has no host")
        if not _HOST_NAME.fullmatch(host):
            raise ValueError(f"OTLP endpoint {endpoint!r}: {host!r} is not a host name or address")
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"OTLP endpoint {endpoint!r} has an invalid port {port_text!r}")
    return host, int(port_text)


def check_partial_success(
    response: ExportTraceServiceResponse, *, endpoint: str, spans: int
) -> None:
    """Log what a partial success rejected; the OTLP spec forbids retrying it."""
    if not response.HasField("partial_success"):
        return
    partial = response.partial_success
    if partial.rejected_spans or partial.error_message:
        log.warning(
            "otlp export partially rejected",
            endpoint=endpoint,
            spans=spans,
            rejected_spans=partial.rejected_spans,
            error_message=partial.error_message[:500],
        )
