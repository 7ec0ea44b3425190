"""Settings: one table of fields, read from a config file, then `TRACEWATCH_*` env vars, then flags.

Later sources override earlier ones (file < environment < flags). Each field
is declared once in `FIELDS`; the YAML key is its name (`otlp_endpoint`), the
variable is `TRACEWATCH_` + upper name (`TRACEWATCH_OTLP_ENDPOINT`) and the
flag is `--` + dashed name (`--otlp-endpoint`). Any bad value or unknown key
raises `ConfigError` with one line naming it; the CLI turns that into exit 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """A bad setting; the message is one line naming the key and what is wrong."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as "500ms", "2s", "10m", "1h"."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 2s or 10m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration such as 500ms, 2s, 10m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _string(value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return str(value)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple):
        return tuple(_string(v) for v in value)
    raise ValueError("expected a list of strings")


def _mapping(value: Any) -> tuple[tuple[str, str], ...]:
    """key=value pairs, from a mapping or "k1=v1,k2=v2"."""
    if isinstance(value, Mapping):
        return tuple((str(k), _string(v)) for k, v in value.items())
    pairs = []
    for item in _strings(value):
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{item!r} is not key=value")
        pairs.append((key.strip(), val.strip()))
    return tuple(pairs)


def _positive_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a whole number") from None
    if isinstance(value, bool) or number < 0:
        raise ValueError("must be a whole number >= 0")
    return number


def _ratio(value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError("must be between 0 and 1")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _count(value: Any) -> int:
    number = _positive_int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _address(value: Any) -> str:
    """host:port, :port or [v6]:port for a listening socket; empty disables it."""
    text = _string(value).strip()
    if not text:
        return ""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{text!r} is not an address such as :8080 or 127.0.0.1:8080")
    if host.startswith("[") != host.endswith("]") or (":" in host and not host.startswith("[")):
        raise ValueError(f"{text!r}: write IPv6 hosts in brackets, e.g. [::1]:8080")
    return text


DEFAULT_RESOURCES = (
    "pods", "events", "persistentvolumeclaims", "persistentvolumes", "deployments",
    "replicasets", "statefulsets", "daemonsets", "jobs", "nodes",
)
"""Everything the lifecycle trackers read (see tracewatch.kube.resources)."""


def _resources(value: Any) -> tuple[str, ...]:
    names = _strings(value)
    unknown = [n for n in names if n not in DEFAULT_RESOURCES]
    if unknown:
        raise ValueError(f"unknown resource {unknown[0]!r} (known: {', '.join(DEFAULT_RESOURCES)})")
    if not names:
        raise ValueError("name at least one resource")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    repeatable: bool = False
    metavar: str | None = None


FIELDS: tuple[Field, ...] = (
    Field("kubeconfig", _string, None, "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
          "or the in-cluster service account)", metavar="FILE"),
    Field("context", _string, None, "kubeconfig context to use (default: current-context)"),
    Field("namespace", _strings, (), "namespace to watch; repeat for several (default: all)",
          repeatable=True, metavar="NS"),
    Field("resources", _resources, DEFAULT_RESOURCES, "resource types to list and watch, "
          "comma-separated (cluster-scoped ones are watched once)", metavar="R[,R]"),
    Field("label_selector", _string, None, "only watch objects matching this label selector "
          "(e.g. app=web,tier!=cache); Events carry no such labels, so they are not filtered",
          metavar="SELECTOR"),
    Field("shard", _positive_int, 0, "this replica's shard: keeps namespaces whose hash falls "
          "to it; cluster-scoped objects go to shard 0", metavar="I"),
    Field("total_shards", _count, 1, "how many shards the namespaces are split into",
          metavar="N"),
    Field("exporter", _string, "otlp", "where spans go", choices=("console", "otlp", "jsonl")),
    Field("otlp_endpoint", _string, None, "OTLP endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT, "
          "else localhost:4317 for grpc, http://localhost:4318 for http)", metavar="URL"),
    Field("otlp_protocol", _string, "grpc", "OTLP transport", choices=("grpc", "http")),
    Field("otlp_headers", _mapping, (), "extra OTLP headers, key=value[,key=value] "
          "(e.g. authorization)", metavar="K=V"),
    Field("otlp_timeout", parse_duration, 10.0, "OTLP export timeout", metavar="DURATION"),
    Field("otlp_compression", _string, "none", "compress OTLP requests",
          choices=("none", "gzip")),
    Field("otlp_ca_file", _string, None, "CA bundle to verify the OTLP endpoint's TLS "
          "certificate (default: system roots)", metavar="FILE"),
    Field("otlp_insecure", _bool, False, "send OTLP in plaintext to a bare host:port endpoint "
          "(http:// endpoints and loopback hosts are plaintext anyway)"),
    Field("sample_ratio", _ratio, 1.0, "share of ordinary lifecycles exported (slow and "
          "failed ones always are), decided per trace id", metavar="RATIO"),
    Field("sample_keep_slower_than", parse_duration, 30.0, "always export lifecycles that "
          "took longer than this", metavar="DURATION"),
    Field("export_queue_size", _count, 200_000, "spans buffered for export; beyond it the "
          "oldest are dropped (and counted)", metavar="SPANS"),
    Field("flush_timeout", parse_duration, 10.0, "on SIGTERM/SIGINT, how long to keep sending "
          "finished spans before exiting", metavar="DURATION"),
    Field("ops_address", _address, ":8080", "listen address of /healthz, /readyz and /metrics "
          "(empty disables)", metavar="HOST:PORT"),
    Field("output", _string, None, "file for --exporter jsonl ('-' for stdout)", metavar="FILE"),
    Field("cluster_name", _string, "", "k8s.cluster.name resource attribute on every span",
          metavar="NAME"),
    Field("settle_delay", parse_duration, 2.0, "wait this long after a lifecycle ends for late "
          "Events before emitting its trace", metavar="DURATION"),
    Field("lifecycle_timeout", parse_duration, 900.0, "close lifecycles still running after this "
          "long as timed_out", metavar="DURATION"),
    Field("backfill", parse_duration, 600.0, "at start-up, emit lifecycles that finished within "
          "this look-back", metavar="DURATION"),
    Field("state_file", _string, None, "file recording which lifecycles were emitted, so a "
          "restart never emits one twice (e.g. on an emptyDir volume)", metavar="FILE"),
    Field("leader_elect", _bool, False, "run as one of several replicas: only the holder of "
          "the Lease exports, the others watch and stand by to take over"),
    Field("lease_namespace", _string, None, "namespace of the leader-election Lease (default: "
          "$POD_NAMESPACE, else the service account's namespace, else default)", metavar="NS"),
    Field("lease_name", _string, "tracewatch", "name of the leader-election Lease",
          metavar="NAME"),
    Field("lease_duration", parse_duration, 15.0, "a standby takes over a Lease not renewed "
          "for this long (whole seconds)", metavar="DURATION"),
    Field("renew_deadline", parse_duration, 10.0, "the leader stops exporting when it could "
          "not renew the Lease for this long", metavar="DURATION"),
    Field("retry_period", parse_duration, 2.0, "how often the Lease is renewed or tried",
          metavar="DURATION"),
    Field("log_format", _string, "auto", "log format; auto is console on a terminal, json "
          "elsewhere", choices=("auto", "console", "json")),
    Field("log_level", _string, "info", "log level",
          choices=("debug", "info", "warning", "error")),
)
_BY_NAME = {f.name: f for f in FIELDS}
ENV_PREFIX = "TRACEWATCH_"
# Docker-link style variables the kubelet injects for Services (TRACEWATCH_METRICS_SERVICE_HOST).
_SERVICE_LINK = re.compile(
    r"^[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[A-Z0-9_]+)?)$"
)
# Variables that choose where settings come from rather than being settings.
_ENV_META = {"TRACEWATCH_CONFIG"}


@dataclass(frozen=True, slots=True)
class Settings:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: tuple[str, ...] = ()
    resources: tuple[str, ...] = DEFAULT_RESOURCES
    label_selector: str | None = None
    shard: int = 0
    total_shards: int = 1
    exporter: str = "otlp"
    otlp_endpoint: str | None = None
    otlp_protocol: str = "grpc"
    otlp_headers: tuple[tuple[str, str], ...] = ()
    otlp_timeout: float = 10.0
    otlp_compression: str = "none"
    otlp_ca_file: str | None = None
    otlp_insecure: bool = False
    sample_ratio: float = 1.0
    sample_keep_slower_than: float = 30.0
    export_queue_size: int = 200_000
    flush_timeout: float = 10.0
    ops_address: str = ":8080"
    output: str | None = None
    cluster_name: str = ""
    settle_delay: float = 2.0
    lifecycle_timeout: float = 900.0
    backfill: float = 600.0
    state_file: str | None = None
    leader_elect: bool = False
    lease_namespace: str | None = None
    lease_name: str = "tracewatch"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    log_format: str = "auto"
    log_level: str = "info"
    sources: dict[str, str] = field(default_factory=dict, compare=False)


assert {f.name for f in fields(Settings)} - {"sources"} == set(_BY_NAME), "FIELDS/Settings drift"


def _coerce(name: str, raw: Any, origin: str) -> Any:
    spec = _BY_NAME[name]
    try:
        value = spec.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{origin}: invalid value for {name!r}: {exc}") from None
    if spec.choices and value not in spec.choices:
        raise ConfigError(
            f"{origin}: invalid value for {name!r}: {value!r} "
            f"(choose from {', '.join(spec.choices)})"
        )
    return value


def read_file(path: str) -> dict[str, Any]:
    """The settings in a YAML config file, validated; keys may use - or _."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path}{where}: not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings at the top level")
    out: dict[str, Any] = {}
    for key, raw in data.items():
        name = str(key).replace("-", "_")
        if name not in _BY_NAME:
            raise ConfigError(f"config file {path}: unknown key {key!r}")
        out[name] = _coerce(name, raw, f"config file {path}")
    return out


def read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings in `TRACEWATCH_*` variables, validated."""
    out: dict[str, Any] = {}
    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX) or var in _ENV_META:
            continue
        name = var[len(ENV_PREFIX) :].lower()
        if name not in _BY_NAME and _SERVICE_LINK.match(var):
            continue  # the kubelet's Service environment (a Service named tracewatch-*)
        if name not in _BY_NAME:
            raise ConfigError(f"environment: unknown variable {var}")
        out[name] = _coerce(name, raw, f"environment {var}")
    return out


def load(
    *,
    flags: Mapping[str, Any],
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge defaults < config file < environment < flags (None means "flag not given")."""
    environ = os.environ if environ is None else environ
    config_file = config_file or environ.get("TRACEWATCH_CONFIG") or None
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    layers: list[tuple[str, Mapping[str, Any]]] = [("default", dict(defaults or {}))]
    if config_file:
        layers.append(("file", read_file(config_file)))
    layers.append(("env", read_env(environ)))
    flag_values = {k: v for k, v in flags.items() if k in _BY_NAME and v is not None}
    layers.append(("flag", {k: _coerce(k, v, f"--{k.replace('_', '-')}")
                            for k, v in flag_values.items()}))
    for origin, layer in layers:
        for key, value in layer.items():
            values[key] = value
            sources[key] = origin
    settings = Settings(**values, sources=sources)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    _check_leader_election(settings)
    if settings.shard >= settings.total_shards:
        raise ConfigError(f"'shard' must be below 'total_shards' ({settings.total_shards}), "
                          f"got {settings.shard}")
    if settings.exporter == "jsonl" and not settings.output:
        raise ConfigError("'output' is required with exporter jsonl (e.g. --output spans.jsonl)")


def _check_leader_election(settings: Settings) -> None:
    """client-go's constraints: retry_period x 1.2 < renew_deadline < lease_duration."""
    duration, deadline, retry = (
        settings.lease_duration, settings.renew_deadline, settings.retry_period
    )
    if duration < 1 or duration != int(duration):
        raise ConfigError(f"'lease_duration' must be whole seconds, at least 1s (the Lease "
                          f"stores seconds), got {duration:g}s")
    if not deadline < duration:
        raise ConfigError(f"'renew_deadline' ({deadline:g}s) must be shorter than "
                          f"'lease_duration' ({duration:g}s)")
    if not 0 < retry * 1.2 < deadline:
        raise ConfigError(f"'retry_period' ({retry:g}s) must be above 0 and below "
                          f"'renew_deadline' / 1.2 ({deadline / 1.2:g}s)")
    if not settings.lease_name:
        raise ConfigError("'lease_name' must not be empty")
