"""Config: precedence, golden and invalid files, and the example file listing every default."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from sidecar.config import Config, ConfigError, check_config, default_config, load_config

DATA = Path(__file__).parent / "data" / "config"
EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def test_defaults_match_the_design() -> None:
    config = default_config()
    assert config.listener.address == "127.0.0.1:8080"
    assert config.listener.admin_address == "127.0.0.1:9464"
    assert config.upstream.url == "http://127.0.0.1:11434"
    # Left unset, so the standard OTEL_* variables can apply; the effective defaults (v1.41 names,
    # no content) are checked in tests/telemetry/test_settings.py.
    assert config.telemetry.semconv is None
    assert config.telemetry.capture.mode is None


def test_golden_file() -> None:
    config = load_config(str(DATA / "golden.toml"), environ={})
    assert config.upstream.url == "http://vllm:8000"
    assert config.upstream.read_timeout_s == 600.0
    assert config.listener.shutdown_grace_s == 5.0
    assert config.genai.provider == "vllm"
    assert config.genai.routes[0].dialect == "openai_chat"
    assert config.genai.routes[0].provider == "ollama"
    assert config.telemetry.semconv == "both"
    assert config.telemetry.model_allow_list == ("llama3", "qwen2")
    assert config.telemetry.identity.headers == {"x-tenant": "tenant"}
    assert config.exporters.otlp.insecure is True


def test_precedence_flag_over_env_over_file() -> None:
    path = str(DATA / "golden.toml")
    env = {"SIDECAR_UPSTREAM": "http://from-env:1", "SIDECAR_UPSTREAM__READ_TIMEOUT_S": "42"}
    assert load_config(path, environ=env).upstream.url == "http://from-env:1"
    assert load_config(path, environ=env).upstream.read_timeout_s == 42.0
    flagged = load_config(path, environ=env, overrides={"upstream.url": "http://from-flag:2"})
    assert flagged.upstream.url == "http://from-flag:2"
    assert load_config(None, environ={"SIDECAR_CONFIG": path}).upstream.url == "http://vllm:8000"


@pytest.mark.parametrize(
    ("name", "key", "problem"),
    [
        ("bad_url.toml", "upstream.url", "http://"),
        ("bad_port.toml", "listener.address", "port"),
        ("unknown_key.toml", "upstream.read_timeout", "unknown key"),
        ("wrong_type.toml", "upstream.read_timeout_s", "expected a number"),
        ("bad_semconv.toml", "telemetry.semconv", "must be one of"),
        ("bad_dialect.toml", "genai.routes[0].dialect", "unknown dialect"),
        ("not_toml.toml", "config", "not valid TOML"),
        ("route_missing_key.toml", "genai.routes[0].path_prefix", "missing"),
        ("infinite.toml", "listener.drain_delay_s", "finite"),
        ("credentials.toml", "upstream.url", "credentials"),
        ("versioned_upstream.toml", "upstream.url", "write 'http://vllm:8000'"),
        ("bad_injection.toml", "genai.inject_include_usage", 'must be one of "auto", true, false'),
    ],
)
def test_invalid_files_name_the_key(name: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(str(DATA / "invalid" / name), environ={})
    assert info.value.key == key
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "fixed"),
    [
        ("http://vllm:8000/v1", "http://vllm:8000"),
        ("https://openrouter.ai/api/v1", "https://openrouter.ai/api"),
        ("https://generativelanguage.googleapis.com/v1beta/", "https://generativelanguage.googleapis.com"),
    ],
)
def test_an_upstream_ending_in_an_api_version_says_what_to_write(url: str, fixed: str) -> None:
    with pytest.raises(ConfigError, match=f"write '{re.escape(fixed)}'"):
        load_config(None, environ={}, overrides={"upstream.url": url})


@pytest.mark.parametrize(
    "url",
    [
        "ftp://user:s3cret@model:8000",  # the credential check comes before the scheme's
        "http://user:s3cret@:8000",  # no host
        "http://user:s3cret@model:port",  # not a port
        "http://model:8000?api-key=s3cret",  # Azure-style key in the query
        "http://model:8000#s3cret",
    ],
)
def test_an_upstream_url_error_never_echoes_a_credential(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, environ={}, overrides={"upstream.url": url})
    assert "s3cret" not in str(caught.value)
    assert "upstream.url" in str(caught.value)


def test_an_upstream_path_prefix_is_accepted() -> None:
    for url in ("http://gateway:8080/tenant-a", "https://api.groq.com/openai", "http://x/v1x"):
        assert load_config(None, environ={}, overrides={"upstream.url": url}).upstream.url == url


@pytest.mark.parametrize(
    ("text", "value"),
    [("auto", "auto"), ("true", True), ("on", True), ("0", False), ("false", False)],
)
def test_inject_include_usage_from_the_environment(text: str, value: object) -> None:
    config = load_config(None, environ={"SIDECAR_GENAI__INJECT_INCLUDE_USAGE": text})
    assert config.genai.inject_include_usage == value
    assert type(config.genai.inject_include_usage) is type(value)


def test_inject_include_usage_from_toml(tmp_path: Path) -> None:
    for text, value in (('"auto"', "auto"), ("true", True), ("false", False)):
        path = tmp_path / "c.toml"
        path.write_text(f"[genai]\ninject_include_usage = {text}\n")
        loaded = load_config(str(path), environ={}).genai.inject_include_usage
        assert (loaded, type(loaded)) == (value, type(value))
    assert default_config().genai.inject_include_usage == "auto"


def test_bad_env_value_names_the_variable_and_the_key() -> None:
    pattern = r"^SIDECAR_LISTENER__MAX_BODY_BYTES \(listener\.max_body_bytes\): expected an integer"
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(None, environ={"SIDECAR_LISTENER__MAX_BODY_BYTES": "lots"})
    assert info.value.dotted == "listener.max_body_bytes"


def test_a_flag_over_a_bad_environment_value_wins_and_is_named_as_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^listener\.address: expected HOST:PORT"):
        load_config(None, environ={"SIDECAR_LISTEN": "127.0.0.1:1"}, overrides={"listener.address": "x"})


def test_check_config_drops_a_bad_route_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[genai.routes]]\npath_prefix = "/x"\n[upstream]\nurl = "ftp://x"\n')
    config, errors = check_config(str(path), environ={})
    assert config is not None
    assert config.genai.routes == ()
    assert [e.key for e in errors] == ["genai.routes[0].dialect", "upstream.url"]


def _keys(obj: object, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            keys |= _keys(value, f"{prefix}{f.name}.")
        else:
            keys.add(f"{prefix}{f.name}")
    return keys


def test_example_file_lists_every_key_at_its_default() -> None:
    """Uncommenting every `# key = value` line must give exactly the defaults (None = unset keys)."""
    text = EXAMPLE.read_text()
    uncommented = re.sub(r"(?m)^# (\w+ = .*)$", r"\1", text)
    data = tomllib.loads(uncommented)
    listed: set[str] = set()

    def walk(table: dict[str, object], prefix: str) -> None:
        for k, v in table.items():
            if isinstance(v, dict) and k not in ("headers", "metric_headers"):
                walk(v, f"{prefix}{k}.")  # type: ignore[arg-type]
            else:
                listed.add(f"{prefix}{k}")

    walk(data, "")
    assert listed == _keys(default_config())
    defaults = default_config()
    for dotted in sorted(listed):
        default = defaults
        for part in dotted.split("."):
            default = getattr(default, part)
        value: object = data
        for part in dotted.split("."):
            value = value[part]  # type: ignore[index]
        if default is None:
            continue  # documented as unset
        normalised = tuple(value) if isinstance(value, list) else value  # type: ignore[arg-type]
        assert normalised == default, dotted
    # and the whole uncommented file loads
    assert isinstance(load_config(None, environ={}), Config)


def test_route_dialect_names_are_the_registry_names() -> None:
    from sidecar.config import DIALECT_NAMES
    from sidecar.genai.registry import dialect_names

    assert sorted(DIALECT_NAMES) == list(dialect_names())
