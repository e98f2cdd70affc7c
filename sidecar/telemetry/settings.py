"""Effective telemetry settings: the sidecar's config merged with the standard ``OTEL_*`` variables.

The rule, per setting: a config value set explicitly (even to what would be its default) wins
over the ``OTEL_*`` variable; a config key left unset (None) lets the variable apply; with neither,
the specification's default. Every variable below is owned here, fully, with the meaning the
OpenTelemetry SDK configuration specification gives it; the ones not listed (compression,
certificates) are left to the SDK's exporters, which read them themselves.

- ``service.name``: ``telemetry.service_name``, else ``OTEL_SERVICE_NAME``, else ``service.name`` in
  ``OTEL_RESOURCE_ATTRIBUTES``, else ``genai-sidecar``.
- semconv: ``telemetry.semconv``, else ``latest`` when ``OTEL_SEMCONV_STABILITY_OPT_IN`` contains
  ``gen_ai_latest_experimental``, else ``v1.41``.
- content capture: ``telemetry.capture.mode``, else ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
  (a mode name; ``true`` = ``SPAN_AND_EVENT``), else ``NO_CONTENT``.
- exporters per signal: ``OTEL_{TRACES,METRICS,LOGS}_EXPORTER``, a comma list of ``otlp``, ``console``
  (the SDK's stdout exporters), ``none``, and for metrics ``prometheus`` (the admin port's /metrics,
  which ``exporters.prometheus.enabled`` controls). Unset: OTLP when it is on, i.e.
  ``exporters.otlp.enabled`` if set, else when ``exporters.otlp.endpoint`` or any
  ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_ENDPOINT`` is set. ``exporters.otlp.enabled = false`` turns OTLP off
  whatever the variables say.
- protocol: ``exporters.otlp.protocol``, else ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_PROTOCOL``, else ``grpc``;
  ``http/protobuf`` is supported too.
- endpoint: ``exporters.otlp.endpoint`` (a base URL), else the signal-specific variable (used as is),
  else ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL), else ``http://localhost:4317`` (gRPC) /
  ``http://localhost:4318`` (HTTP). Over HTTP a base URL gets ``/v1/traces``, ``/v1/metrics`` or
  ``/v1/logs`` appended. Headers come from ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_HEADERS`` only.
- insecure (gRPC): config if set, else ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_INSECURE``, else from the
  scheme (``http://`` = plaintext).
- timeout: ``exporters.otlp.timeout_s``, else ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_TIMEOUT`` (ms), else 10 s.
- batching: ``OTEL_BSP_*`` (spans) and ``OTEL_BLRP_*`` (log records): ``SCHEDULE_DELAY`` (5000 / 1000
  ms), ``EXPORT_TIMEOUT`` (30000 ms), ``MAX_QUEUE_SIZE`` (``exporters.otlp.max_queue_size`` wins; 2048),
  ``MAX_EXPORT_BATCH_SIZE`` (512, at most the queue size).
- metrics: ``exporters.otlp.export_interval_s``, else ``OTEL_METRIC_EXPORT_INTERVAL`` (ms), else 60 s;
  ``OTEL_METRIC_EXPORT_TIMEOUT`` (ms), else the OTLP timeout.
- ``OTEL_PROPAGATORS`` (see :func:`sidecar.telemetry.providers.build_propagator`), ``OTEL_TRACES_SAMPLER``.
- ``OTEL_SDK_DISABLED=true`` turns all telemetry off (spans, metrics, logs and /metrics content).

A malformed variable raises :class:`~sidecar.config.ConfigError` naming it, at start-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from sidecar.config import (
    CaptureConfig,
    CaptureMode,
    ConfigError,
    OTLPConfig,
    PrometheusConfig,
    TelemetryConfig,
    redact_url,
)
from sidecar.telemetry import semconv
from sidecar.telemetry.semconv import SemconvVersion

OTLPSignal = Literal["traces", "metrics", "logs"]
OTLPProtocol = Literal["grpc", "http/protobuf"]
Temporality = Literal["cumulative", "delta", "lowmemory"]

SIGNALS: Final[tuple[OTLPSignal, ...]] = ("traces", "metrics", "logs")
DEFAULT_SERVICE_NAME: Final = "genai-sidecar"
DEFAULT_ENDPOINT: Final = "http://localhost:4317"
DEFAULT_HTTP_ENDPOINT: Final = "http://localhost:4318"
DEFAULT_TIMEOUT_S: Final = 10.0
DEFAULT_EXPORT_INTERVAL_S: Final = 60.0
DEFAULT_MAX_QUEUE_SIZE: Final = 2048
_PROTOCOLS: Final[tuple[OTLPProtocol, ...]] = ("grpc", "http/protobuf")
_EXPORTERS: Final[Mapping[OTLPSignal, frozenset[str]]] = {
    "traces": frozenset({"otlp", "console", "none"}),
    "metrics": frozenset({"otlp", "console", "prometheus", "none"}),
    "logs": frozenset({"otlp", "console", "none"}),
}
_CAPTURE_MODES: Final[tuple[CaptureMode, ...]] = (
    "NO_CONTENT",
    "SPAN_ONLY",
    "EVENT_ONLY",
    "SPAN_AND_EVENT",
)
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off", ""})

#: Downward-API variable names -> Kubernetes resource attribute (first present wins).
K8S_ENV: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (semconv.K8S_POD_NAME, ("POD_NAME", "K8S_POD_NAME")),
    (semconv.K8S_NAMESPACE_NAME, ("POD_NAMESPACE", "K8S_NAMESPACE_NAME", "K8S_POD_NAMESPACE")),
    (semconv.K8S_NODE_NAME, ("NODE_NAME", "K8S_NODE_NAME")),
    (semconv.K8S_POD_UID, ("POD_UID", "K8S_POD_UID")),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OTLPSignalSettings:
    """Where and how one signal is pushed over OTLP."""

    endpoint: str
    insecure: bool
    headers: tuple[tuple[str, str], ...]
    timeout_s: float
    protocol: OTLPProtocol = "grpc"


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSettings:
    """A batch processor's knobs (``OTEL_BSP_*`` for spans, ``OTEL_BLRP_*`` for log records)."""

    schedule_delay_s: float
    export_timeout_s: float
    max_queue_size: int
    max_export_batch_size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TelemetrySettings:
    """Everything the telemetry layer needs, resolved once at start-up."""

    disabled: bool
    versions: tuple[SemconvVersion, ...]
    service_name: str
    resource_attributes: Mapping[str, str]
    capture: CaptureConfig
    #: Signal -> OTLP target; a signal absent here is not pushed over OTLP.
    otlp: Mapping[OTLPSignal, OTLPSignalSettings]
    #: Signals also written to stdout by the SDK's console exporters (``OTEL_<SIGNAL>_EXPORTER=console``).
    console: frozenset[OTLPSignal]
    export_interval_s: float
    metric_export_timeout_s: float
    temporality: Temporality
    spans: BatchSettings
    logs: BatchSettings
    prometheus: bool
    telemetry: TelemetryConfig


def _flag(environ: Mapping[str, str], key: str) -> bool | None:
    raw = environ.get(key)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(key, f"expected true or false, got {raw!r}")


_N = TypeVar("_N", int, float)


def _positive(environ: Mapping[str, str], key: str, parse: Callable[[str], _N], expected: str) -> _N | None:
    """The number ``key`` holds (None when unset or blank); anything else than a number > 0 is
    an error naming the variable."""
    raw = environ.get(key, "").strip()
    if not raw:
        return None
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(key, f"expected {expected}, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(key, f"must be > 0, got {raw!r}")
    return value


def _millis(environ: Mapping[str, str], key: str) -> float | None:
    value = _positive(environ, key, float, "milliseconds")
    return None if value is None else value / 1000.0


def parse_key_values(raw: str, key: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` with percent-encoded values (W3C Baggage style), as used by
    ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_EXPORTER_OTLP_HEADERS``."""
    out: dict[str, str] = {}
    for position, item in enumerate(raw.split(","), start=1):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            # The item is not echoed: it is often a credential (``Authorization: Bearer ...``).
            raise ConfigError(key, f"expected key=value pairs; item {position} has no key= (value not shown)")
        out[unquote(name.strip())] = unquote(value.strip())
    return out


def resource_attributes(config: TelemetryConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """Resource attributes: Kubernetes Downward-API names, then ``OTEL_RESOURCE_ATTRIBUTES``
    (wins over detection), then ``service.name`` by the precedence rule above."""
    attrs: dict[str, str] = {}
    for attribute, names in K8S_ENV:
        for name in names:
            value = environ.get(name, "").strip()
            if value:
                attrs[attribute] = value
                break
    raw = environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    attrs.update(parse_key_values(raw, "OTEL_RESOURCE_ATTRIBUTES"))
    if config.service_name is not None:
        attrs[semconv.SERVICE_NAME] = config.service_name
    elif environ.get("OTEL_SERVICE_NAME", "").strip():
        attrs[semconv.SERVICE_NAME] = environ["OTEL_SERVICE_NAME"].strip()
    else:
        attrs.setdefault(semconv.SERVICE_NAME, DEFAULT_SERVICE_NAME)
    return attrs


def semconv_versions(config: TelemetryConfig, environ: Mapping[str, str]) -> tuple[SemconvVersion, ...]:
    mode: str | None = config.semconv
    if mode is None:
        opt_in = {v.strip() for v in environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(",")}
        mode = semconv.LATEST if semconv.GEN_AI_LATEST_OPT_IN in opt_in else semconv.V1_41
    return semconv.versions(mode)


def capture_mode(config: CaptureConfig, environ: Mapping[str, str]) -> CaptureMode:
    if config.mode is not None:
        return config.mode
    key = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    raw = environ.get(key, "").strip()
    if not raw:
        return "NO_CONTENT"
    for mode in _CAPTURE_MODES:
        if raw.upper() == mode:
            return mode
    if raw.lower() in _TRUE:
        return "SPAN_AND_EVENT"
    if raw.lower() in _FALSE:
        return "NO_CONTENT"
    raise ConfigError(key, f"expected one of {', '.join(_CAPTURE_MODES)}, got {raw!r}")


def _signal_env(environ: Mapping[str, str], signal: OTLPSignal, suffix: str) -> str | None:
    """The signal-specific variable if set, else the generic one."""
    specific = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_{suffix}")
    if specific is not None and specific.strip():
        return specific.strip()
    generic = environ.get(f"OTEL_EXPORTER_OTLP_{suffix}")
    if generic is not None and generic.strip():
        return generic.strip()
    return None


def _signal_key(environ: Mapping[str, str], signal: OTLPSignal, suffix: str) -> str:
    specific = f"OTEL_EXPORTER_OTLP_{signal.upper()}_{suffix}"
    return specific if environ.get(specific, "").strip() else f"OTEL_EXPORTER_OTLP_{suffix}"


def _protocol(otlp: OTLPConfig, environ: Mapping[str, str], signal: OTLPSignal) -> OTLPProtocol:
    if otlp.protocol is not None:
        return otlp.protocol
    raw = _signal_env(environ, signal, "PROTOCOL")
    if raw is None:
        return "grpc"
    for protocol in _PROTOCOLS:
        if raw.lower() == protocol:
            return protocol
    key = _signal_key(environ, signal, "PROTOCOL")
    raise ConfigError(key, f"expected grpc or http/protobuf, got {raw!r}")


def _endpoint(
    otlp: OTLPConfig, environ: Mapping[str, str], signal: OTLPSignal, protocol: OTLPProtocol
) -> str:
    """A base URL gets the signal's path over HTTP; a signal-specific URL is used as it is."""
    specific = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    if not otlp.endpoint and specific:
        return specific
    default = DEFAULT_ENDPOINT if protocol == "grpc" else DEFAULT_HTTP_ENDPOINT
    base = otlp.endpoint or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or default
    return base if protocol == "grpc" else f"{base.rstrip('/')}/v1/{signal}"


def _otlp_signal(otlp: OTLPConfig, environ: Mapping[str, str], signal: OTLPSignal) -> OTLPSignalSettings:
    protocol = _protocol(otlp, environ, signal)
    endpoint = _endpoint(otlp, environ, signal, protocol)
    scheme = urlsplit(endpoint).scheme.lower() if "://" in endpoint else ""
    if scheme not in ("", "http", "https") or (protocol != "grpc" and not scheme):
        shown = redact_url(endpoint)
        raise ConfigError("exporters.otlp.endpoint", f"unsupported endpoint {shown!r} for {protocol}")
    insecure = otlp.insecure
    if insecure is None:
        insecure = _flag(environ, _signal_key(environ, signal, "INSECURE"))
    if insecure is None:
        insecure = scheme == "http"
    headers_raw = _signal_env(environ, signal, "HEADERS") or ""
    headers = parse_key_values(headers_raw, _signal_key(environ, signal, "HEADERS"))
    timeout_s = otlp.timeout_s
    if timeout_s is None:
        timeout_s = _millis(environ, _signal_key(environ, signal, "TIMEOUT")) or DEFAULT_TIMEOUT_S
    return OTLPSignalSettings(
        endpoint=endpoint,
        insecure=insecure,
        headers=tuple((k.lower(), v) for k, v in headers.items()),
        timeout_s=timeout_s,
        protocol=protocol,
    )


def _otlp_enabled(otlp: OTLPConfig, environ: Mapping[str, str]) -> bool:
    if otlp.enabled is not None:
        return otlp.enabled
    if otlp.endpoint:
        return True
    keys = ["OTEL_EXPORTER_OTLP_ENDPOINT"]
    keys.extend(f"OTEL_EXPORTER_OTLP_{s}_ENDPOINT" for s in ("TRACES", "METRICS", "LOGS"))
    return any(environ.get(k, "").strip() for k in keys)


def _exporters(environ: Mapping[str, str], signal: OTLPSignal) -> frozenset[str] | None:
    """``OTEL_<SIGNAL>_EXPORTER`` as a set of names; None when unset."""
    key = f"OTEL_{signal.upper()}_EXPORTER"
    raw = environ.get(key, "").strip().lower()
    if not raw:
        return None
    names = frozenset(n.strip() for n in raw.split(",") if n.strip())
    unknown = sorted(names - _EXPORTERS[signal])
    if unknown:
        known = ", ".join(sorted(_EXPORTERS[signal]))
        raise ConfigError(key, f"unsupported exporter {unknown[0]!r} (supported: {known})")
    if "none" in names and len(names) > 1:
        raise ConfigError(key, f"'none' cannot be combined with other exporters, got {raw!r}")
    return names


def _count(environ: Mapping[str, str], key: str) -> int | None:
    return _positive(environ, key, int, "a whole number")


def _batch(otlp: OTLPConfig, environ: Mapping[str, str], prefix: str, delay_ms: float) -> BatchSettings:
    queue = otlp.max_queue_size
    if queue is None:
        queue = _count(environ, f"{prefix}_MAX_QUEUE_SIZE") or DEFAULT_MAX_QUEUE_SIZE
    batch_key = f"{prefix}_MAX_EXPORT_BATCH_SIZE"
    batch = _count(environ, batch_key)
    if batch is not None and batch > queue:
        raise ConfigError(batch_key, f"must not exceed the queue size {queue}, got {batch}")
    return BatchSettings(
        schedule_delay_s=_millis(environ, f"{prefix}_SCHEDULE_DELAY") or delay_ms / 1000,
        export_timeout_s=_millis(environ, f"{prefix}_EXPORT_TIMEOUT") or 30.0,
        max_queue_size=queue,
        max_export_batch_size=batch if batch is not None else min(512, queue),
    )


def _temporality(environ: Mapping[str, str]) -> Temporality:
    key = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
    raw = environ.get(key, "").strip().lower()
    if not raw or raw == "cumulative":
        return "cumulative"
    if raw == "delta":
        return "delta"
    if raw == "lowmemory":
        return "lowmemory"
    raise ConfigError(key, f"expected cumulative, delta or lowmemory, got {raw!r}")


def resolve(
    config: TelemetryConfig,
    otlp: OTLPConfig,
    prometheus: PrometheusConfig,
    environ: Mapping[str, str],
) -> TelemetrySettings:
    """Merge config and environment into :class:`TelemetrySettings` (see the module docstring)."""
    disabled = bool(_flag(environ, "OTEL_SDK_DISABLED"))
    targets: dict[OTLPSignal, OTLPSignalSettings] = {}
    console: set[OTLPSignal] = set()
    otlp_on = _otlp_enabled(otlp, environ)
    for signal in SIGNALS:
        names = _exporters(environ, signal)
        if disabled:
            continue
        if names is not None and "console" in names:
            console.add(signal)
        wanted = otlp_on if names is None else "otlp" in names and otlp.enabled is not False
        if wanted:
            targets[signal] = _otlp_signal(otlp, environ, signal)
    interval = otlp.export_interval_s
    if interval is None:
        interval = _millis(environ, "OTEL_METRIC_EXPORT_INTERVAL") or DEFAULT_EXPORT_INTERVAL_S
    metric_timeout = _millis(environ, "OTEL_METRIC_EXPORT_TIMEOUT")
    if metric_timeout is None:
        metric_timeout = targets["metrics"].timeout_s if "metrics" in targets else DEFAULT_TIMEOUT_S
    attrs = resource_attributes(config, environ)
    capture = dataclasses.replace(config.capture, mode=capture_mode(config.capture, environ))
    return TelemetrySettings(
        disabled=disabled,
        versions=semconv_versions(config, environ),
        service_name=attrs[semconv.SERVICE_NAME],
        resource_attributes=attrs,
        capture=capture,
        otlp=targets,
        console=frozenset(console),
        export_interval_s=interval,
        metric_export_timeout_s=metric_timeout,
        temporality=_temporality(environ),
        spans=_batch(otlp, environ, "OTEL_BSP", 5000),
        logs=_batch(otlp, environ, "OTEL_BLRP", 1000),
        prometheus=prometheus.enabled and not disabled,
        telemetry=config,
    )
