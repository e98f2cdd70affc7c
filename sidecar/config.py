"""User configuration: TOML file + ``SIDECAR_*`` environment + command-line flags -> frozen dataclasses.

Precedence is flag > environment > file > default. Every key is checked at start-up: an unknown
key, a wrong type, a bad URL or a bad port raises :class:`ConfigError` naming the key,
and the CLI exits 2 with that one line.
Defaults come from the dataclasses alone (``default_config()``), so the example file, the loader and the
documentation cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

SemconvMode = Literal["v1.41", "latest", "both"]
CaptureMode = Literal["NO_CONTENT", "SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT"]
UsageInjection = Literal["auto", True, False]
DIALECT_NAMES: typing.Final = (
    "openai_chat",
    "openai_completions",
    "openai_embeddings",
    "openai_responses",
    "anthropic",
    "ollama",
    "llamacpp",
    "tgi",
    "gemini",
    "cohere",
)


class ConfigError(Exception):
    """A configuration value is wrong. ``str()`` is one line naming the key and the problem."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem
        #: The dotted configuration key, when ``key`` names its source (a variable) instead.
        self.dotted = key


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerConfig:
    #: Where clients connect (the model server's API, proxied). Loopback by default: a workstation
    #: exposes nothing; in a Kubernetes pod set the pod address (``0.0.0.0:8080``).
    address: str = "127.0.0.1:8080"
    #: Admin port: /metrics, /healthz, /readyz. Never proxied. Loopback by default too.
    admin_address: str = "127.0.0.1:9464"
    #: Largest request body accepted, in bytes as they arrive on the wire; larger requests get 413
    #: (at once when ``Content-Length`` declares more).
    max_body_bytes: int = 32 * 1024 * 1024
    #: Request bodies up to this size are held whole and parsed for GenAI telemetry (model, stream
    #: flag); larger ones are streamed to the upstream unparsed (HTTP telemetry only).
    max_parse_bytes: int = 1024 * 1024
    #: Request-body bytes held in memory across all requests; a body that does not fit is streamed
    #: to the upstream unparsed instead of waiting.
    max_buffered_bytes: int = 64 * 1024 * 1024
    #: Client connections open at once on the proxy port (also kept under the process's file limit);
    #: beyond it a new connection gets 503 and is closed.
    max_connections: int = 1024
    #: Longest time to receive a whole request head (from the connection's or the head's first byte).
    header_timeout_s: float = 60.0
    #: Longest silence while a request body is being received; then 408 and the connection closes.
    body_timeout_s: float = 60.0
    #: How long an idle keep-alive client connection stays open between requests.
    keepalive_timeout_s: float = 60.0
    #: On SIGTERM, how long in-flight streams may run before they are cut.
    shutdown_grace_s: float = 30.0
    #: On SIGTERM, how long /readyz reports 503 before the listener closes (lets endpoints update).
    drain_delay_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamConfig:
    #: The one model server every request goes to. Nothing in a request can change it.
    url: str = "http://127.0.0.1:11434"
    #: Time to open a TCP connection to the upstream (the TCP connect alone; with a bounded pool,
    #: also the longest wait for a free connection, then 503 ``upstream_pool_exhausted``).
    connect_timeout_s: float = 10.0
    #: Longest silence between two response bytes (a stalled model server) before 504 / cut.
    read_timeout_s: float = 300.0
    #: Connections to the upstream open at once; 0 means no limit (``listener.max_connections``
    #: bounds them anyway).
    max_connections: int = 0
    #: How long an idle pooled connection is kept.
    keepalive_timeout_s: float = 15.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteConfig:
    """Map a path prefix to a dialect (and optionally a provider name)."""

    path_prefix: str
    dialect: str
    provider: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GenAIConfig:
    #: ``gen_ai.provider.name`` reported for every GenAI call: the model server behind the sidecar
    #: (``vllm``, ``llama_cpp``, ``ollama``...); it always wins. Empty: what the upstream's
    #: responses name (``sidecar.genai.provider``), else each dialect's own default.
    provider: str = ""
    #: Extra path -> dialect routes; they win over the built-in table (longest prefix first).
    routes: tuple[RouteConfig, ...] = ()
    #: Longest SSE / NDJSON line the decoder keeps; longer lines are skipped (and counted).
    max_line_bytes: int = 1024 * 1024
    #: Largest SSE event, streamed JSON element or non-streamed JSON body decoded for telemetry
    #: (the bytes are forwarded whatever their size).
    max_event_bytes: int = 8 * 1024 * 1024
    #: Add ``stream_options.include_usage`` to OpenAI-format streaming requests that lack it, and
    #: remove the extra usage chunk from what the client receives, so token usage is always known.
    #: A request the upstream then rejects (400/422) is resent unmodified; ``"auto"`` also stops
    #: injecting on that path for the life of the process, ``true`` keeps trying; ``false``: never.
    inject_include_usage: UsageInjection = "auto"


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureConfig:
    #: Prompt / completion content capture; None: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT,
    #: else ``NO_CONTENT``. Credentials are never exported.
    mode: CaptureMode | None = None
    #: Captured content is truncated to this many bytes per attribute.
    max_bytes: int = 16384
    #: Extra regular expressions whose matches are replaced by ``[REDACTED]`` before export.
    redact_patterns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityConfig:
    """Who made a call (opt-in). Raw values never leave the process for the end-user id and the
    API key: they are exported only as a keyed HMAC; the key never comes from this file."""

    #: Request header -> attribute name, exported as ``genai_sidecar.<name>`` on spans only.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Request header -> attribute name, exported as ``genai_sidecar.<name>`` on metrics and spans.
    metric_headers: Mapping[str, str] = field(default_factory=dict)
    #: Distinct values kept per attribution attribute on metrics; later values become ``_OTHER``.
    max_values: int = 100
    #: Longest header value kept; a longer value is ``_OTHER`` on metrics, truncated on spans.
    max_value_chars: int = 64
    #: Request header carrying an end-user id; exported only as its HMAC, as ``enduser.id``.
    user_id_header: str = ""
    #: Distinct hashed user ids kept on metrics; 0: ``enduser.id`` on spans only, never on metrics.
    user_id_max_values: int = 0
    #: Export the HMAC of the API key (bearer token, ``x-api-key``) as ``genai_sidecar.api_key.hash``.
    api_key_hash: bool = False
    #: Environment variable holding the HMAC key (required by ``user_id_header`` / ``api_key_hash``).
    hmac_key_env: str = ""
    #: File holding the HMAC key (a mounted Secret), instead of ``hmac_key_env``.
    hmac_key_file: str = ""
    #: Request header carrying a conversation id (``gen_ai.conversation.id``); wins over the body's.
    conversation_id_header: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CostConfig:
    #: A TOML price file (``[[model]]`` match, input, output, cache_read, cache_write, reasoning
    #: per million tokens, currency); empty: no cost is computed.
    prices: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TelemetryConfig:
    #: Semantic-convention names: released v1.41.0, the latest development names, or both.
    #: None: ``latest`` if OTEL_SEMCONV_STABILITY_OPT_IN has gen_ai_latest_experimental, else v1.41.
    semconv: SemconvMode | None = None
    #: None: OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES, else genai-sidecar.
    service_name: str | None = None
    #: Distinct values kept per metric attribute; later values become ``_OTHER``.
    max_attribute_values: int = 100
    #: If set, only these request/response model names appear on metrics; others become ``_OTHER``.
    model_allow_list: tuple[str, ...] = ()
    #: One structured record per GenAI call: exported over OTLP logs, and to stdout as JSON if "stdout".
    call_log: Literal["off", "stdout"] = "off"
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    cost: CostConfig = field(default_factory=CostConfig)


@dataclass(frozen=True, slots=True, kw_only=True)
class OTLPConfig:
    #: None: on when an OTEL_EXPORTER_OTLP_*ENDPOINT variable or ``endpoint`` is set.
    enabled: bool | None = None
    #: Collector base URL (``http://collector:4317`` for gRPC, ``:4318`` for HTTP); empty: the
    #: standard OTEL_EXPORTER_OTLP_*ENDPOINT variables decide.
    endpoint: str = ""
    #: ``grpc`` or ``http/protobuf``; None: OTEL_EXPORTER_OTLP[_<SIGNAL>]_PROTOCOL, else grpc.
    protocol: Literal["grpc", "http/protobuf"] | None = None
    insecure: bool | None = None
    #: None: OTEL_EXPORTER_OTLP[_<SIGNAL>]_TIMEOUT, else 10 s.
    timeout_s: float | None = None
    #: Metric push interval; None: OTEL_METRIC_EXPORT_INTERVAL or 60 s.
    export_interval_s: float | None = None
    #: Spans / log records queued for export at most; beyond it they are dropped and counted.
    #: None: OTEL_BSP_MAX_QUEUE_SIZE (spans) / OTEL_BLRP_MAX_QUEUE_SIZE (logs), else 2048.
    max_queue_size: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PrometheusConfig:
    #: Serve Prometheus text on the admin port's /metrics.
    enabled: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportersConfig:
    otlp: OTLPConfig = field(default_factory=OTLPConfig)
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    listener: ListenerConfig = field(default_factory=ListenerConfig)
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    genai: GenAIConfig = field(default_factory=GenAIConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    exporters: ExportersConfig = field(default_factory=ExportersConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


def default_config() -> Config:
    return Config()


# ---------------------------------------------------------------------------------- loading

#: Short environment names; every key also has a long form ``SIDECAR_<TABLE>__<KEY>``.
ENV_ALIASES: typing.Final[Mapping[str, str]] = {
    "SIDECAR_UPSTREAM": "upstream.url",
    "SIDECAR_LISTEN": "listener.address",
    "SIDECAR_ADMIN_LISTEN": "listener.admin_address",
}
CONFIG_FILE_ENV: typing.Final = "SIDECAR_CONFIG"


def load_config(
    path: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the effective configuration. ``overrides`` are dotted keys from command-line flags.
    An error in a value that came from the environment names the variable too."""
    raw, sources = _layers(path, environ, overrides)
    try:
        return _from_raw(raw)
    except ConfigError as e:
        raise _with_source(e, sources) from None


def _layers(
    path: str | None, environ: Mapping[str, str] | None, overrides: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The merged raw tables (file < environment < flags) and, per dotted key taken from the
    environment, the variable it came from."""
    environ = environ if environ is not None else {}
    path = path or environ.get(CONFIG_FILE_ENV) or None
    raw: dict[str, Any] = _read_toml(path) if path else {}
    sources: dict[str, str] = {}
    for dotted, (variable, text) in _env_entries(environ).items():
        _set_dotted(raw, dotted, _EnvText(text))
        sources[dotted] = variable
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, dotted, value)
            sources.pop(dotted, None)
    return raw, sources


def _from_raw(raw: dict[str, Any]) -> Config:
    config: Config = _build(Config, raw, "")
    validate(config)
    return config


def _with_source(error: ConfigError, sources: Mapping[str, str]) -> ConfigError:
    for dotted, variable in sources.items():
        if error.key == dotted or error.key.startswith((f"{dotted}.", f"{dotted}[")):
            named = ConfigError(f"{variable} ({error.key})", error.problem)
            named.dotted = error.key
            return named
    return error


def check_config(
    path: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[Config | None, list[ConfigError]]:
    """Like :func:`load_config`, but finds every error, not only the first: after each error the
    offending key falls back to its default and the check runs again. Returns the configuration
    (None if it could not be built) and the errors, in the order found."""
    try:
        raw, sources = _layers(path, environ, overrides)
    except ConfigError as e:
        return None, [e]
    errors: list[ConfigError] = []
    while len(errors) < _MAX_ERRORS:
        try:
            return _from_raw(raw), errors
        except ConfigError as e:
            errors.append(_with_source(e, sources))
            if not _drop(raw, e.key):
                break
    return None, errors


_MAX_ERRORS: typing.Final = 100
_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _drop(raw: dict[str, Any], key: str) -> bool:
    """Remove the deepest part of ``key`` (``a.b[0].c``) present in ``raw``; False if none is."""
    path: list[str | int] = [int(i) if i else name for name, i in _KEY_PART.findall(key)]
    nodes: list[tuple[Any, str | int]] = []
    node: Any = raw
    for part in path:
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (in_list or (isinstance(node, dict) and part in node)):
            break
        nodes.append((node, part))
        node = node[part]
    if not nodes:
        return False
    parent, last = nodes[-1]
    del parent[last]
    return True


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError("config", f"cannot read {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("config", f"{path} is not valid TOML: {e}") from None


class _EnvText(str):
    """A value that came from the environment as text and is parsed to the field's type."""


def _env_entries(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Dotted key -> (variable name, text) for every ``SIDECAR_*`` configuration variable."""
    values: dict[str, tuple[str, str]] = {}
    for name, text in environ.items():
        if name in ENV_ALIASES:
            values[ENV_ALIASES[name]] = (name, text)
        elif name.startswith("SIDECAR_") and "__" in name:
            values[name[len("SIDECAR_") :].lower().replace("__", ".")] = (name, text)
    return values


def env_names(dotted: str) -> tuple[str, ...]:
    """The ``SIDECAR_*`` variables that set ``dotted``: the short alias (if any), then the long form."""
    aliases = tuple(name for name, key in ENV_ALIASES.items() if key == dotted)
    return (*aliases, "SIDECAR_" + dotted.upper().replace(".", "__"))


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *tables, key = dotted.split(".")
    node = raw
    for table in tables:
        child = node.setdefault(table, {})
        if not isinstance(child, dict):
            raise ConfigError(dotted, f"[{table}] must be a table")
        node = child
    node[key] = value


def _build(cls: type[Any], raw: Any, prefix: str) -> Any:
    where = prefix or "config"
    if not isinstance(raw, dict):
        raise ConfigError(where, f"expected a table, got {_describe(raw)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        known = ", ".join(sorted(names))
        raise ConfigError(_join(prefix, unknown[0]), f"unknown key (known keys here: {known})")
    kwargs = {name: _convert(hints[name], value, _join(prefix, name)) for name, value in raw.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field (e.g. of a route) is missing
        missing = re.findall(r"'(\w+)'", str(e))
        key = _join(prefix, missing[0]) if missing else where
        raise ConfigError(key, "required key is missing") from None


_ENV_BOOLS: typing.Final[Mapping[str, bool]] = {
    **dict.fromkeys(("1", "true", "yes", "on"), True),
    **dict.fromkeys(("0", "false", "no", "off"), False),
}


def _toml_literal(value: Any) -> str:
    """A Literal option as it is written in TOML: ``"auto"``, ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"'


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    args = get_args(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if isinstance(value, _EnvText) and value.strip().lower() in ("", "none", "auto"):
            return None
        return _convert(options[0], value, key)
    if origin is Literal:
        if isinstance(value, _EnvText):
            text = str(value)
            has_bools = any(isinstance(a, bool) for a in args)
            value = _ENV_BOOLS.get(text.strip().lower(), text) if has_bools and text not in args else text
        if not any(value == a and type(value) is type(a) for a in args):
            allowed = ", ".join(_toml_literal(a) for a in args)
            raise ConfigError(key, f"must be one of {allowed}, got {value!r}")
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin is tuple:
        item = args[0]
        if isinstance(value, _EnvText):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(key, f"expected a list, got {_describe(value)}")
        return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is Mapping:
        if isinstance(value, _EnvText):
            pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ConfigError(key, "expected name=value pairs separated by commas")
            value = {k.strip(): v.strip() for k, v in pairs}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigError(key, f"expected a table of strings, got {_describe(value)}")
        return dict(value)
    if tp is bool:
        if isinstance(value, _EnvText):
            value = _ENV_BOOLS.get(value.strip().lower(), value)
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, _EnvText):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                raise ConfigError(key, f"expected an integer, got {str(value)!r}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, _EnvText):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(key, f"expected a number, got {str(value)!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {_describe(value)}")
        if not math.isfinite(value):
            raise ConfigError(key, f"must be a finite number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {_describe(value)}")
        return str(value)
    raise ConfigError(key, f"unsupported type {tp!r}")  # pragma: no cover - schema bug


# ---------------------------------------------------------------------------------- checks


def parse_host_port(text: str, key: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` -> (host, port); raises ConfigError naming ``key``."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ConfigError(key, f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(key, f"port must be a number from 0 to 65535, got {port_text!r}")
    return host, int(port_text)


#: A path segment naming an API version (``v1``, ``v1beta``, ``v1beta1``, ``v2``).
_API_VERSION: typing.Final = re.compile(r"v\d+(?:(?:alpha|beta)\d*)?")


def redact_url(url: str) -> str:
    """``url`` fit for an error message or a log line: no user:password, no query, no fragment."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "<unparsable URL>"
    userinfo = "***@" if "@" in parts.netloc else ""
    query = "?***" if parts.query else ""
    return urlunsplit((parts.scheme, userinfo + netloc, parts.path, "", "")) + query


def upstream_origin(url: str, key: str = "upstream.url") -> tuple[str, str, int]:
    """Validate the upstream URL -> (scheme, host, port). Error messages never echo a
    credential or a query (Azure-style ``?api-key=``)."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ConfigError(key, f"not a valid URL {shown!r}: {e}") from None
    if "@" in parts.netloc:
        raise ConfigError(key, "must not carry credentials (user:password@); clients send their own")
    if parts.scheme not in ("http", "https"):
        raise ConfigError(key, f"must be an http:// or https:// URL, got {shown!r}")
    if not parts.hostname:
        raise ConfigError(key, f"has no host: {shown!r}")
    if parts.query or parts.fragment:
        raise ConfigError(key, f"must not have a query or fragment: {shown!r}")
    head, _, last = parts.path.rstrip("/").rpartition("/")
    if _API_VERSION.fullmatch(last):
        # Clients change only the host of their base URL (``http://sidecar:8080/v1``) and the
        # sidecar forwards each request's own path: a version here would be sent twice.
        fixed = urlunsplit((parts.scheme, parts.netloc, head, "", ""))
        raise ConfigError(
            key,
            f"ends in the API version '/{last}': write {fixed!r}; the sidecar forwards each "
            f"request's own path, so clients keep '/{last}' in their base URL",
        )
    default_port = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname, port if port is not None else default_port


def validate(config: Config) -> None:
    """Checks that span several keys or need more than a type. Raises ConfigError."""
    parse_host_port(config.listener.address, "listener.address")
    parse_host_port(config.listener.admin_address, "listener.admin_address")
    if config.listener.address == config.listener.admin_address and not config.listener.address.endswith(
        ":0"
    ):
        raise ConfigError("listener.admin_address", "must differ from listener.address")
    upstream_origin(config.upstream.url)
    positive = {
        "listener.max_body_bytes": config.listener.max_body_bytes,
        "listener.max_parse_bytes": config.listener.max_parse_bytes,
        "listener.max_buffered_bytes": config.listener.max_buffered_bytes,
        "listener.max_connections": config.listener.max_connections,
        "listener.header_timeout_s": config.listener.header_timeout_s,
        "listener.body_timeout_s": config.listener.body_timeout_s,
        "listener.keepalive_timeout_s": config.listener.keepalive_timeout_s,
        "upstream.connect_timeout_s": config.upstream.connect_timeout_s,
        "upstream.read_timeout_s": config.upstream.read_timeout_s,
        "upstream.keepalive_timeout_s": config.upstream.keepalive_timeout_s,
        "genai.max_line_bytes": config.genai.max_line_bytes,
        "genai.max_event_bytes": config.genai.max_event_bytes,
        "telemetry.max_attribute_values": config.telemetry.max_attribute_values,
        "telemetry.capture.max_bytes": config.telemetry.capture.max_bytes,
        "exporters.otlp.timeout_s": config.exporters.otlp.timeout_s,
        "exporters.otlp.max_queue_size": config.exporters.otlp.max_queue_size,
    }
    for key, value in positive.items():
        if value is not None and value <= 0:
            raise ConfigError(key, f"must be greater than 0, got {value}")
    non_negative = {
        "listener.shutdown_grace_s": config.listener.shutdown_grace_s,
        "listener.drain_delay_s": config.listener.drain_delay_s,
        "upstream.max_connections": config.upstream.max_connections,
    }
    for key, value in non_negative.items():
        if value < 0:
            raise ConfigError(key, f"must not be negative, got {value}")
    interval = config.exporters.otlp.export_interval_s
    if interval is not None and interval <= 0:
        raise ConfigError("exporters.otlp.export_interval_s", f"must be greater than 0, got {interval}")
    for i, route in enumerate(config.genai.routes):
        key = f"genai.routes[{i}]"
        if route.dialect not in DIALECT_NAMES:
            raise ConfigError(
                f"{key}.dialect",
                f"unknown dialect {route.dialect!r} (known: {', '.join(DIALECT_NAMES)})",
            )
        if not route.path_prefix.startswith("/"):
            raise ConfigError(f"{key}.path_prefix", f"must start with '/', got {route.path_prefix!r}")
    validate_identity(config.telemetry.identity)
    for i, pattern in enumerate(config.telemetry.capture.redact_patterns):
        try:
            re.compile(pattern)
        except re.error as e:
            raise ConfigError(f"telemetry.capture.redact_patterns[{i}]", f"bad regex: {e}") from None


#: Headers that carry credentials: never exported, whatever the configuration says.
CREDENTIAL_HEADERS: typing.Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "openai-api-key",
    }
)
_ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
#: Attribute names the sidecar uses itself under its namespace.
_RESERVED_NAMES: typing.Final = frozenset({"api_key", "api_key.hash", "tap", "call", "cost"})


def validate_identity(identity: IdentityConfig) -> None:
    """The identity keys alone (the HMAC key itself is checked when telemetry starts)."""
    prefix = "telemetry.identity"
    for table in ("headers", "metric_headers"):
        mapping: Mapping[str, str] = getattr(identity, table)
        for header, name in mapping.items():
            key = f"{prefix}.{table}"
            if header.lower() in CREDENTIAL_HEADERS:
                raise ConfigError(key, f"{header!r} carries credentials and is never exported")
            if not _ATTRIBUTE_NAME.fullmatch(name) or name in _RESERVED_NAMES:
                raise ConfigError(
                    key, f"attribute name {name!r} for {header!r} must be lower_snake words joined by dots"
                )
    if identity.max_values <= 0:
        raise ConfigError(f"{prefix}.max_values", f"must be greater than 0, got {identity.max_values}")
    if identity.max_value_chars <= 0:
        raise ConfigError(
            f"{prefix}.max_value_chars", f"must be greater than 0, got {identity.max_value_chars}"
        )
    if identity.user_id_max_values < 0:
        raise ConfigError(
            f"{prefix}.user_id_max_values", f"must not be negative, got {identity.user_id_max_values}"
        )
    for key in ("user_id_header", "conversation_id_header"):
        value: str = getattr(identity, key)
        if value.lower() in CREDENTIAL_HEADERS:
            raise ConfigError(f"{prefix}.{key}", f"{value!r} carries credentials and is never exported")
    if identity.hmac_key_env and identity.hmac_key_file:
        raise ConfigError(f"{prefix}.hmac_key_file", "set hmac_key_env or hmac_key_file, not both")


def as_dict(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data (for ``check-config``)."""
    return typing.cast(dict[str, Any], _plain(config))


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
