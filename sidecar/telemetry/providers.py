"""Build the OpenTelemetry SDK providers: resource, meter (Prometheus + OTLP), tracer and logger.

Prometheus metrics live on a private ``CollectorRegistry`` rendered on demand
(:meth:`Providers.prometheus_exposition`); the proxy's admin port serves it, no HTTP server is
started here. OTLP/gRPC export (metrics, spans, log records) runs on SDK background threads behind
bounded, drop-counting queues (:mod:`sidecar.telemetry.export`). Extra readers and exporters
(in-memory ones in tests) are attached synchronously so that what they see is deterministic.
"""

from __future__ import annotations

import importlib
import logging
import threading
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Final

from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.sdk.version import __version__ as sdk_version
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from sidecar import __version__
from sidecar.config import ConfigError, redact_url
from sidecar.telemetry import chunk_histogram, instruments, semconv
from sidecar.telemetry.export import (
    BoundedLogProcessor,
    BoundedSpanProcessor,
    CountingMetricExporter,
    temporality_preference,
)
from sidecar.telemetry.settings import SIGNALS, OTLPSignalSettings, TelemetrySettings

_log = logging.getLogger(__name__)

#: The classic Prometheus text format (0.0.4), which every Prometheus version scrapes.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True, kw_only=True)
class Providers:
    """The SDK providers of one process and how to render, flush and close them."""

    meter_provider: metrics_api.MeterProvider
    tracer_provider: trace_api.TracerProvider
    #: None when no log pipeline exists (no OTLP logs, no extra log exporter, or disabled).
    logger_provider: LoggerProvider | None
    #: ``genai_sidecar.export.dropped``: created here because the export pipelines count into it.
    export_dropped: metrics_api.Counter
    registry: CollectorRegistry | None = None
    #: Whether calls' measurements are folded per series until a reader collects
    #: (:mod:`sidecar.telemetry.metric_batch`): some reader collects, and exemplars are off.
    metric_batching: bool = False
    _closed: bool = field(default=False)

    def prometheus_exposition(self) -> tuple[bytes, str]:
        """Prometheus text exposition of every metric, and its content type."""
        if self.registry is None:
            return b"", PROMETHEUS_CONTENT_TYPE
        return generate_latest(self.registry), PROMETHEUS_CONTENT_TYPE

    def force_flush(self, timeout_s: float) -> None:
        millis = max(1, int(timeout_s * 1000))
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            flush = getattr(provider, "force_flush", None)
            if flush is None:
                continue
            try:
                flush(millis)
            except Exception:
                _log.debug("telemetry flush failed", exc_info=True)

    def shutdown(self, timeout_s: float) -> None:
        """Flush and close every pipeline within ``timeout_s``: spans and logs first (their drops
        are counted into metrics), then metrics. The SDK's flush ignores timeouts, so the work
        runs on a daemon thread that is abandoned if a dead collector holds it past the deadline.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        worker = threading.Thread(
            target=self._close, args=(timeout_s,), name="telemetry-shutdown", daemon=True
        )
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            _log.warning("telemetry export did not finish within %.1f s; dropping the rest", timeout_s)

    def _close(self, timeout_s: float) -> None:
        self.force_flush(timeout_s)
        for provider in (self.tracer_provider, self.logger_provider):
            close = getattr(provider, "shutdown", None)
            if close is None:
                continue
            try:
                close()
            except Exception:
                _log.debug("telemetry shutdown failed", exc_info=True)
        if isinstance(self.meter_provider, MeterProvider):
            try:
                self.meter_provider.shutdown(timeout_millis=max(1, timeout_s * 1000))
            except Exception:
                _log.debug("meter provider shutdown failed", exc_info=True)
        if self.registry is not None:
            self.registry = None


def build_resource(settings: TelemetrySettings) -> Resource:
    """The process resource: SDK identity, the sidecar's version, then the resolved attributes
    (Kubernetes Downward API, ``OTEL_RESOURCE_ATTRIBUTES``, ``service.name``). Built without the
    SDK's environment detectors so that the ``environ`` given to :func:`build` is the only input."""
    base: dict[str, str] = {
        semconv.TELEMETRY_SDK_LANGUAGE: "python",
        semconv.TELEMETRY_SDK_NAME: "opentelemetry",
        semconv.TELEMETRY_SDK_VERSION: str(sdk_version),
        semconv.SERVICE_VERSION: __version__,
    }
    base.update(settings.resource_attributes)
    return Resource(base, semconv.schema_url(settings.versions))


def build_sampler(environ: Mapping[str, str]) -> Sampler:
    """``OTEL_TRACES_SAMPLER`` / ``_ARG``; default ``parentbased_always_on``."""
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() or "parentbased_always_on"
    arg = environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    ratio = 1.0
    if name.endswith("traceidratio"):
        try:
            ratio = float(arg) if arg else 1.0
        except ValueError:
            raise ConfigError("OTEL_TRACES_SAMPLER_ARG", f"expected a ratio, got {arg!r}") from None
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError("OTEL_TRACES_SAMPLER_ARG", f"must be in [0, 1], got {arg!r}")
    samplers: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBased(TraceIdRatioBased(ratio)),
    }
    if name not in samplers:
        raise ConfigError("OTEL_TRACES_SAMPLER", f"unsupported sampler {name!r}")
    return samplers[name]


#: Longest span attribute value when neither the environment nor content capture asks for more.
SPAN_ATTRIBUTE_CHARS: Final = 1024


def span_limits(settings: TelemetrySettings, environ: Mapping[str, str]) -> SpanLimits:
    """A backstop under the recorder's own caps: no span attribute value longer than
    ``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`` / ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` when set,
    else than :data:`SPAN_ATTRIBUTE_CHARS` or the content-capture limit, whichever is larger."""
    if environ.get("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT") or environ.get(
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"
    ):
        return SpanLimits()
    return SpanLimits(max_attribute_length=max(SPAN_ATTRIBUTE_CHARS, settings.capture.max_bytes))


def build_propagator(environ: Mapping[str, str]) -> TextMapPropagator:
    """``OTEL_PROPAGATORS`` as the SDK reads it: a comma list of propagator entry points
    (``tracecontext``, ``baggage``, and any installed, e.g. ``b3`` from
    opentelemetry-propagator-b3); ``none`` propagates nothing. Default ``tracecontext,baggage``."""
    key = "OTEL_PROPAGATORS"
    raw = environ.get(key, "").strip() or "tracecontext,baggage"
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    if names == ["none"]:
        return CompositePropagator([])
    available = {ep.name: ep for ep in entry_points(group="opentelemetry_propagator")}
    propagators: list[TextMapPropagator] = []
    for name in names:
        if name not in available:
            known = ", ".join(sorted({*available, "none"}))
            raise ConfigError(key, f"unknown propagator {name!r} (installed: {known})")
        propagators.append(available[name].load()())
    return CompositePropagator(propagators)


def _target_text(target: OTLPSignalSettings) -> str:
    kind = "gRPC" if target.protocol == "grpc" else "HTTP/protobuf"
    return f"OTLP/{kind} to {redact_url(target.endpoint)}"


#: Signal -> (module, class) in opentelemetry.exporter.otlp.proto.{grpc,http}.
_EXPORTER_CLASSES: Final = {
    "traces": ("trace_exporter", "OTLPSpanExporter"),
    "metrics": ("metric_exporter", "OTLPMetricExporter"),
    "logs": ("_log_exporter", "OTLPLogExporter"),
}


def _otlp_exporter(signal: str, target: OTLPSignalSettings, **extra: Any) -> Any:
    """The SDK's OTLP exporter of ``signal`` for the target's protocol. The exporter packages are
    imported only when used (gRPC alone is ~20 MB of RSS)."""
    module, name = _EXPORTER_CLASSES[signal]
    package = "grpc" if target.protocol == "grpc" else "http"
    cls = getattr(importlib.import_module(f"opentelemetry.exporter.otlp.proto.{package}.{module}"), name)
    kwargs: dict[str, Any] = {"endpoint": target.endpoint, "timeout": target.timeout_s, **extra}
    if target.protocol == "grpc":
        kwargs.update(insecure=target.insecure, headers=target.headers)
    else:
        kwargs.update(headers=dict(target.headers))
    return cls(**kwargs)


def _span_exporter(target: OTLPSignalSettings) -> SpanExporter:
    return typing.cast(SpanExporter, _otlp_exporter("traces", target))


def _log_exporter(target: OTLPSignalSettings) -> LogRecordExporter:
    return typing.cast(LogRecordExporter, _otlp_exporter("logs", target))


def _metric_exporter(
    target: OTLPSignalSettings, temporality: dict[type, AggregationTemporality]
) -> MetricExporter:
    return typing.cast(MetricExporter, _otlp_exporter("metrics", target, preferred_temporality=temporality))


def log_exporters(settings: TelemetrySettings) -> None:
    """One INFO line per exporter and its target (logged once the listeners are up)."""
    if settings.disabled:
        _log.info("telemetry off (OTEL_SDK_DISABLED)")
        return
    if settings.prometheus:
        _log.info("metrics: Prometheus text on the admin port's /metrics")
    for signal in SIGNALS:
        target = settings.otlp.get(signal)
        if target is not None:
            _log.info("%s: %s", signal, _target_text(target))
        if signal in settings.console:
            _log.info("%s: console (stdout)", signal)
    if not settings.otlp:
        _log.info("OTLP export off (set OTEL_EXPORTER_OTLP_ENDPOINT to push metrics, spans and logs)")


def build_providers(
    settings: TelemetrySettings,
    *,
    environ: Mapping[str, str],
    extra_metric_readers: Sequence[MetricReader] = (),
    extra_span_exporters: Sequence[SpanExporter] = (),
    extra_log_exporters: Sequence[LogRecordExporter] = (),
) -> Providers:
    """Providers for the resolved settings. With ``settings.disabled`` (``OTEL_SDK_DISABLED``)
    every provider is a no-op and the Prometheus exposition is empty."""
    if settings.disabled:
        noop_meters = metrics_api.NoOpMeterProvider()
        return Providers(
            meter_provider=noop_meters,
            tracer_provider=trace_api.NoOpTracerProvider(),
            logger_provider=None,
            export_dropped=instruments.create_export_dropped(noop_meters.get_meter(semconv.SCOPE_NAME)),
        )
    resource = build_resource(settings)
    readers: list[MetricReader] = list(extra_metric_readers)
    registry: CollectorRegistry | None = None
    if settings.prometheus:
        registry = CollectorRegistry()
        readers.append(PrometheusMetricReader(registry=registry))
    metrics_target = settings.otlp.get("metrics")
    if metrics_target is not None:
        # The drop counter does not exist yet: route through a late-bound function.
        holder: list[metrics_api.Counter] = []
        temporality = temporality_preference(settings.temporality)

        def on_metric_drop(signal: str, reason: str, count: int) -> None:
            if holder and count:
                holder[0].add(count, {semconv.SIGNAL: signal, semconv.REASON: reason})

        exporter = _metric_exporter(metrics_target, temporality)
        readers.append(
            PeriodicExportingMetricReader(
                CountingMetricExporter(exporter, preferred_temporality=temporality, on_drop=on_metric_drop),
                export_interval_millis=settings.export_interval_s * 1000,
                export_timeout_millis=settings.metric_export_timeout_s * 1000,
            )
        )
    if "metrics" in settings.console:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        readers.append(
            PeriodicExportingMetricReader(
                ConsoleMetricExporter(), export_interval_millis=settings.export_interval_s * 1000
            )
        )
    # Exemplars cost as much as the measurement itself on every per-chunk sample; they are off
    # unless OTEL_METRICS_EXEMPLAR_FILTER asks for them (the SDK then reads the variable).
    exemplars = None if environ.get("OTEL_METRICS_EXEMPLAR_FILTER") else AlwaysOffExemplarFilter()
    meter_provider = MeterProvider(
        metric_readers=readers,
        resource=resource,
        shutdown_on_exit=False,
        exemplar_filter=exemplars,
        views=chunk_histogram.views(sorted(semconv.histogram_bounds().items())),
    )
    dropped = instruments.create_export_dropped(meter_provider.get_meter(semconv.SCOPE_NAME))
    if metrics_target is not None:
        holder.append(dropped)

    def on_drop(signal: str, reason: str, count: int) -> None:
        if count:
            dropped.add(count, {semconv.SIGNAL: signal, semconv.REASON: reason})

    tracer_provider = TracerProvider(
        sampler=build_sampler(environ),
        resource=resource,
        shutdown_on_exit=False,
        span_limits=span_limits(settings, environ),
    )
    for span_exporter in extra_span_exporters:
        tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    traces_target = settings.otlp.get("traces")
    if traces_target is not None:
        tracer_provider.add_span_processor(
            BoundedSpanProcessor(_span_exporter(traces_target), batch=settings.spans, on_drop=on_drop)
        )
    if "traces" in settings.console:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    logger_provider: LoggerProvider | None = None
    logs_target = settings.otlp.get("logs")
    if extra_log_exporters or logs_target is not None or "logs" in settings.console:
        logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        for log_exporter in extra_log_exporters:
            logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
        if logs_target is not None:
            logger_provider.add_log_record_processor(
                BoundedLogProcessor(_log_exporter(logs_target), batch=settings.logs, on_drop=on_drop)
            )
        if "logs" in settings.console:
            from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

            logger_provider.add_log_record_processor(SimpleLogRecordProcessor(ConsoleLogRecordExporter()))
    return Providers(
        meter_provider=meter_provider,
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
        export_dropped=dropped,
        registry=registry,
        metric_batching=bool(readers) and exemplars is not None,
    )
