"""Settings: file < environment < flags, and one clear error per bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracewatch.config import ConfigError, load, parse_duration


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "tracewatch.yaml"
    path.write_text(text)
    return str(path)


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    """A flag beats the environment, which beats the file, which beats the default."""
    cfg = _write(tmp_path, "exporter: console\ncluster_name: from-file\nsettle_delay: 5s\n")
    env = {"TRACEWATCH_CLUSTER_NAME": "from-env", "TRACEWATCH_SETTLE_DELAY": "3"}
    settings = load(flags={"settle_delay": "1s"}, config_file=cfg, environ=env)
    assert settings.exporter == "console"
    assert settings.cluster_name == "from-env"
    assert settings.settle_delay == 1.0
    assert settings.sources["exporter"] == "file"
    assert settings.sources["cluster_name"] == "env"
    assert settings.sources["settle_delay"] == "flag"
    assert settings.log_level == "info"


def test_config_file_from_environment(tmp_path: Path) -> None:
    """TRACEWATCH_CONFIG names the file when --config is not given."""
    cfg = _write(tmp_path, "otlp-protocol: http\n")
    settings = load(flags={}, environ={"TRACEWATCH_CONFIG": cfg})
    assert settings.otlp_protocol == "http"


def test_repeatable_and_mapping_values() -> None:
    """Namespaces repeat as flags or split on commas; headers are key=value pairs."""
    env = {"TRACEWATCH_NAMESPACE": "web, api", "TRACEWATCH_OTLP_HEADERS": "x-team=sre,k=v"}
    settings = load(flags={}, environ=env)
    assert settings.namespace == ("web", "api")
    assert settings.otlp_headers == (("x-team", "sre"), ("k", "v"))
    assert load(flags={"namespace": ["a", "b"]}, environ={}).namespace == ("a", "b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exporterr: otlp\n", "unknown key 'exporterr'"),
        ("exporter: zipkin\n", "invalid value for 'exporter'"),
        ("settle_delay: soon\n", "invalid value for 'settle_delay'"),
        ("- just\n- a list\n", "expected a mapping"),
        ("exporter: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_file_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    """Each kind of bad file gives one line that says what is wrong and where."""
    with pytest.raises(ConfigError) as info:
        load(flags={}, config_file=_write(tmp_path, text), environ={})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_environment_variable() -> None:
    """A misspelt TRACEWATCH_ variable is an error naming it, not silently ignored."""
    with pytest.raises(ConfigError, match="TRACEWATCH_EXPORTR"):
        load(flags={}, environ={"TRACEWATCH_EXPORTR": "console"})


def test_missing_config_file() -> None:
    """A config file that cannot be read is a one-line error."""
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(flags={}, config_file="/nonexistent/tracewatch.yaml", environ={})


def test_jsonl_needs_output() -> None:
    """The jsonl exporter without an output file is rejected up front."""
    with pytest.raises(ConfigError, match="output"):
        load(flags={"exporter": "jsonl"}, environ={})


@pytest.mark.parametrize(
    ("value", "seconds"), [("500ms", 0.5), ("2s", 2.0), ("10m", 600.0), ("1h", 3600.0), (3, 3.0)]
)
def test_durations(value: object, seconds: float) -> None:
    """Durations accept ms/s/m/h suffixes or plain seconds."""
    assert parse_duration(value) == seconds


def test_shipped_example_config_is_valid() -> None:
    """config/tracewatch.yaml loads cleanly and states the defaults."""
    example = Path(__file__).resolve().parents[1] / "config" / "tracewatch.yaml"
    from_file = load(flags={}, config_file=str(example), environ={})
    defaults = load(flags={}, environ={})
    assert from_file == defaults


def test_kubelet_service_variables_are_not_settings() -> None:
    """Service-link variables the kubelet injects (TRACEWATCH_METRICS_SERVICE_HOST) are ignored."""
    env = {
        "TRACEWATCH_METRICS_SERVICE_HOST": "10.0.0.1",
        "TRACEWATCH_METRICS_SERVICE_PORT_METRICS": "8080",
        "TRACEWATCH_METRICS_PORT_8080_TCP_ADDR": "10.0.0.1",
        "TRACEWATCH_CLUSTER_NAME": "prod",
    }
    assert load(flags={}, environ=env).cluster_name == "prod"
