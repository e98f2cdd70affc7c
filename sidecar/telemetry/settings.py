"""Effective telemetry settings: the sidecar's config merged with the standard ``OTEL_*`` variables.

The rule, per setting: a config value set explicitly wins over the ``OTEL_*`` variable; a config
value left at its default counts as unset, so the variable applies; with neither, the default.
Concretely:

- ``service.name``: ``telemetry.service_name`` if not the default ``genai-sidecar``, else
  ``OTEL_SERVICE_NAME``, else ``service.name`` from ``OTEL_RESOURCE_ATTRIBUTES``, else the default.
- semconv: ``telemetry.semconv = "latest"`` or ``"both"`` as set; at the default ``"v1.41"``,
  ``OTEL_SEMCONV_STABILITY_OPT_IN`` containing ``gen_ai_latest_experimental`` selects ``latest``.
- content capture: ``telemetry.capture.mode`` unless ``NO_CONTENT`` (the default), else
  ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (a mode name; ``true`` = ``SPAN_AND_EVENT``).
- OTLP on/off: ``exporters.otlp.enabled`` if set, else on when ``exporters.otlp.endpoint`` or any
  ``OTEL_EXPORTER_OTLP[_TRACES|_METRICS|_LOGS]_ENDPOINT`` is set. ``OTEL_{TRACES,METRICS,LOGS}_EXPORTER
  = none`` turns one signal's OTLP export off.
- endpoint: config, else the signal-specific variable, else ``OTEL_EXPORTER_OTLP_ENDPOINT``, else
  ``http://localhost:4317``. Headers come from ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_HEADERS`` only.
- insecure: config if set, else ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_INSECURE``, else from the scheme
  (``http://`` = plaintext).
- timeout: config if not 10 s, else ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_TIMEOUT`` (milliseconds, as
  the specification defines it), else 10 s. Metric interval: config, else
  ``OTEL_METRIC_EXPORT_INTERVAL`` (ms), else 60 s.
- ``OTEL_SDK_DISABLED=true`` turns all telemetry off (spans, metrics, logs and /metrics content).

A malformed variable raises :class:`~sidecar.config.ConfigError` at start-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import unquote, urlsplit

from sidecar.config import (
    CaptureConfig,
    CaptureMode,
    ConfigError,
    OTLPConfig,
    PrometheusConfig,
    TelemetryConfig,
)
from sidecar.telemetry import semconv
from sidecar.telemetry.semconv import SemconvVersion

OTLPSignal = Literal["traces", "metrics", "logs"]
Temporality = Literal["cumulative", "delta", "lowmemory"]

_DEFAULTS: Final = TelemetryConfig()
_OTLP_DEFAULTS: Final = OTLPConfig()
DEFAULT_ENDPOINT: Final = "http://localhost:4317"
DEFAULT_EXPORT_INTERVAL_S: Final = 60.0
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
    """Where and how one signal is pushed over OTLP/gRPC."""

    endpoint: str
    insecure: bool
    headers: tuple[tuple[str, str], ...]
    timeout_s: float


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
    export_interval_s: float
    temporality: Temporality
    max_queue_size: int
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


def _millis(environ: Mapping[str, str], key: str) -> float | None:
    raw = environ.get(key)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(key, f"expected milliseconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(key, f"must be > 0, got {raw!r}")
    return value / 1000.0


def parse_key_values(raw: str, key: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` with percent-encoded values (W3C Baggage style), as used by
    ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_EXPORTER_OTLP_HEADERS``."""
    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(key, f"expected key=value pairs, got {item.strip()!r}")
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
    if config.service_name != _DEFAULTS.service_name:
        attrs[semconv.SERVICE_NAME] = config.service_name
    elif environ.get("OTEL_SERVICE_NAME", "").strip():
        attrs[semconv.SERVICE_NAME] = environ["OTEL_SERVICE_NAME"].strip()
    else:
        attrs.setdefault(semconv.SERVICE_NAME, config.service_name)
    return attrs


def semconv_versions(config: TelemetryConfig, environ: Mapping[str, str]) -> tuple[SemconvVersion, ...]:
    mode: str = config.semconv
    if mode == _DEFAULTS.semconv:
        opt_in = {v.strip() for v in environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(",")}
        if semconv.GEN_AI_LATEST_OPT_IN in opt_in:
            mode = semconv.LATEST
    return semconv.versions(mode)


def capture_mode(config: CaptureConfig, environ: Mapping[str, str]) -> CaptureMode:
    if config.mode != "NO_CONTENT":
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


def _otlp_signal(otlp: OTLPConfig, environ: Mapping[str, str], signal: OTLPSignal) -> OTLPSignalSettings:
    endpoint = otlp.endpoint or _signal_env(environ, signal, "ENDPOINT") or DEFAULT_ENDPOINT
    scheme = urlsplit(endpoint).scheme.lower() if "://" in endpoint else ""
    if scheme not in ("", "http", "https"):
        raise ConfigError("exporters.otlp.endpoint", f"unsupported scheme in {endpoint!r}")
    insecure = otlp.insecure
    if insecure is None:
        insecure = _flag(environ, _signal_key(environ, signal, "INSECURE"))
    if insecure is None:
        insecure = scheme == "http"
    headers_raw = _signal_env(environ, signal, "HEADERS") or ""
    headers = parse_key_values(headers_raw, _signal_key(environ, signal, "HEADERS"))
    timeout_s = otlp.timeout_s
    if timeout_s == _OTLP_DEFAULTS.timeout_s:
        timeout_s = _millis(environ, _signal_key(environ, signal, "TIMEOUT")) or timeout_s
    return OTLPSignalSettings(
        endpoint=endpoint,
        insecure=insecure,
        headers=tuple((k.lower(), v) for k, v in headers.items()),
        timeout_s=timeout_s,
    )


def _otlp_enabled(otlp: OTLPConfig, environ: Mapping[str, str]) -> bool:
    if otlp.enabled is not None:
        return otlp.enabled
    if otlp.endpoint:
        return True
    keys = ["OTEL_EXPORTER_OTLP_ENDPOINT"]
    keys.extend(f"OTEL_EXPORTER_OTLP_{s}_ENDPOINT" for s in ("TRACES", "METRICS", "LOGS"))
    return any(environ.get(k, "").strip() for k in keys)


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
    if not disabled and _otlp_enabled(otlp, environ):
        signals: tuple[OTLPSignal, ...] = ("traces", "metrics", "logs")
        for signal in signals:
            exporter = environ.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip().lower()
            if exporter == "none":
                continue
            targets[signal] = _otlp_signal(otlp, environ, signal)
    interval = otlp.export_interval_s
    if interval is None:
        interval = _millis(environ, "OTEL_METRIC_EXPORT_INTERVAL") or DEFAULT_EXPORT_INTERVAL_S
    attrs = resource_attributes(config, environ)
    capture = dataclasses.replace(config.capture, mode=capture_mode(config.capture, environ))
    return TelemetrySettings(
        disabled=disabled,
        versions=semconv_versions(config, environ),
        service_name=attrs[semconv.SERVICE_NAME],
        resource_attributes=attrs,
        capture=capture,
        otlp=targets,
        export_interval_s=interval,
        temporality=_temporality(environ),
        max_queue_size=otlp.max_queue_size,
        prometheus=prometheus.enabled and not disabled,
        telemetry=config,
    )
