"""OTLP exporter options: our settings first, then the standard `OTEL_EXPORTER_OTLP_*` variables.

For each option the first of these that is set wins: a tracewatch setting the
user gave (config file, `TRACEWATCH_*` variable or flag), then
`OTEL_EXPORTER_OTLP_TRACES_<X>`, then `OTEL_EXPORTER_OTLP_<X>`, then the
default. The variables follow the OpenTelemetry exporter specification
(ENDPOINT, HEADERS as url-encoded `k=v,...`, PROTOCOL `grpc|http/protobuf`,
TIMEOUT in milliseconds, COMPRESSION `gzip|none`, CERTIFICATE a CA file,
INSECURE `true|false`). `OTEL_RESOURCE_ATTRIBUTES` adds resource attributes
(never `service.name`: that is the component which did the work).

Transport security: an `https://` endpoint uses TLS, an `http://` one does
not; a bare `host:port` uses TLS unless plaintext was asked for explicitly
(`insecure`) or the host is a loopback address, where nothing crosses a
network. The CA file, when given, replaces the system roots.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from tracewatch.core.spans import Attributes
from tracewatch.export._otlp import DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, parse_endpoint
from tracewatch.export.base import SpanExporter
from tracewatch.export.otlp_grpc import OtlpGrpcExporter
from tracewatch.export.otlp_http import OtlpHttpExporter

__all__ = ["OtlpConfig", "resolve_otlp_config", "resource_from_env"]

_PROTOCOLS = {"grpc": "grpc", "http": "http", "http/protobuf": "http"}
_COMPRESSION = {"gzip": True, "none": False, "": False}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True, slots=True, kw_only=True)
class OtlpConfig:
    """Resolved OTLP options; `sources` says where each came from (setting, env var, default)."""

    endpoint: str
    protocol: str  # "grpc" or "http"
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 10.0
    compression: bool = False
    ca_file: str | None = None
    insecure: bool = False
    sources: tuple[tuple[str, str], ...] = ()

    @property
    def tls(self) -> bool:
        """Whether the connection is encrypted (see the module docstring for the rule)."""
        default_port = DEFAULT_GRPC_PORT if self.protocol == "grpc" else DEFAULT_HTTP_PORT
        parsed = parse_endpoint(self.endpoint, default_port=default_port)
        if parsed.scheme:
            return parsed.scheme == "https"
        if self.ca_file:
            return True
        return not (self.insecure or _is_loopback(parsed.host))

    def create_exporter(self, *, resource_attributes: Attributes = ()) -> SpanExporter:
        """The gRPC or HTTP exporter these options describe; ValueError/OSError on bad ones."""
        tls = self.tls
        ca_file = self.ca_file if tls else None
        headers = dict(self.headers)
        if self.protocol == "grpc":
            return OtlpGrpcExporter(
                endpoint=self.endpoint,
                headers=headers,
                timeout_s=self.timeout_s,
                compression=self.compression,
                tls=tls,
                ca_file=ca_file,
                resource_attributes=resource_attributes,
            )
        endpoint = self.endpoint
        if "://" not in endpoint:
            endpoint = ("https://" if tls else "http://") + endpoint
        return OtlpHttpExporter(
            endpoint=endpoint,
            headers=headers,
            timeout_s=self.timeout_s,
            compression=self.compression,
            ca_file=ca_file,
            resource_attributes=resource_attributes,
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _env(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """(variable, value) of the traces-specific variable, else the general one, if set."""
    for var in (f"OTEL_EXPORTER_OTLP_TRACES_{name}", f"OTEL_EXPORTER_OTLP_{name}"):
        value = environ.get(var)
        if value is not None and value.strip():
            return var, value.strip()
    return None


def _parse_headers(var: str, value: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            # Never echo the value: headers carry credentials.
            raise ValueError(f"{var}: an entry is not key=value")
        pairs.append((unquote(key.strip()), unquote(val.strip())))
    return tuple(pairs)


def _parse_env(var: str, name: str, value: str) -> Any:
    lowered = value.lower()
    if name == "PROTOCOL":
        if lowered not in _PROTOCOLS:
            raise ValueError(f"{var}: unsupported protocol {value!r} (grpc or http/protobuf)")
        return _PROTOCOLS[lowered]
    if name == "TIMEOUT":
        try:
            millis = float(value)
        except ValueError:
            raise ValueError(f"{var}: {value!r} is not a number of milliseconds") from None
        if millis <= 0:
            raise ValueError(f"{var}: must be a positive number of milliseconds")
        return millis / 1000.0
    if name == "COMPRESSION":
        if lowered not in _COMPRESSION:
            raise ValueError(f"{var}: unsupported compression {value!r} (gzip or none)")
        return _COMPRESSION[lowered]
    if name == "INSECURE":
        if lowered not in _TRUE | _FALSE:
            raise ValueError(f"{var}: expected true or false, got {value!r}")
        return lowered in _TRUE
    if name == "HEADERS":
        return _parse_headers(var, value)
    return value  # ENDPOINT, CERTIFICATE


# Our option name -> the variables' suffix.
_OPTIONS = {
    "endpoint": "ENDPOINT",
    "protocol": "PROTOCOL",
    "headers": "HEADERS",
    "timeout_s": "TIMEOUT",
    "compression": "COMPRESSION",
    "ca_file": "CERTIFICATE",
    "insecure": "INSECURE",
}
_DEFAULTS: dict[str, Any] = {
    "protocol": "grpc",
    "headers": (),
    "timeout_s": 10.0,
    "compression": False,
    "ca_file": None,
    "insecure": False,
}
_DEFAULT_ENDPOINTS = {"grpc": f"localhost:{DEFAULT_GRPC_PORT}",
                      "http": f"http://localhost:{DEFAULT_HTTP_PORT}"}


def resolve_otlp_config(
    *, explicit: Mapping[str, Any], environ: Mapping[str, str]
) -> OtlpConfig:
    """Merge the options the user set (keys as in `OtlpConfig`) over the OTEL variables.

    `explicit` holds only what was set on purpose (not tracewatch's defaults);
    `protocol` may be "grpc", "http" or "http/protobuf". ValueError names the
    offending variable or option, never a header value.
    """
    values: dict[str, Any] = {}
    sources: list[tuple[str, str]] = []
    for option, suffix in _OPTIONS.items():
        if explicit.get(option) is not None:
            value = explicit[option]
            if option == "protocol":
                value = _PROTOCOLS.get(str(value).lower())
                if value is None:
                    raise ValueError(f"unknown OTLP protocol {explicit[option]!r}")
            values[option], origin = value, "setting"
        elif (found := _env(environ, suffix)) is not None:
            var, raw = found
            values[option], origin = _parse_env(var, suffix, raw), var
        elif option == "endpoint":
            continue  # depends on the protocol, filled in below
        else:
            values[option], origin = _DEFAULTS[option], "default"
        sources.append((option, origin))
    if "endpoint" not in values:
        values["endpoint"] = _DEFAULT_ENDPOINTS[values["protocol"]]
        sources.append(("endpoint", "default"))
    if values["timeout_s"] <= 0:
        raise ValueError(f"the OTLP timeout must be positive, got {values['timeout_s']}")
    return OtlpConfig(**values, sources=tuple(sources))


def resource_from_env(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """`OTEL_RESOURCE_ATTRIBUTES` as pairs, without `service.name`; ValueError when malformed."""
    raw = environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if not raw.strip():
        return ()
    pairs = _parse_headers("OTEL_RESOURCE_ATTRIBUTES", raw)
    return tuple((k, v) for k, v in pairs if k != "service.name")
