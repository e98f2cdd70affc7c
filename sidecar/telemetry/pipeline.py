"""Telemetry: built once per process from config and the ``OTEL_*`` environment; it owns the
providers and instruments and makes a :class:`~sidecar.telemetry.recorder.StreamRecorder` per request."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Final

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace.export import SpanExporter

from sidecar import __version__
from sidecar.config import OTLPConfig, PrometheusConfig, TelemetryConfig
from sidecar.genai.observations import RequestInfo
from sidecar.telemetry import instruments, semconv
from sidecar.telemetry.call_log import CallLog
from sidecar.telemetry.capture import ContentCapture
from sidecar.telemetry.cardinality import CardinalityGuard
from sidecar.telemetry.cost import CostMeter, PriceTable
from sidecar.telemetry.export import QUEUE_FULL
from sidecar.telemetry.identity import IdentityExtractor, load_key
from sidecar.telemetry.metric_batch import MetricBatch
from sidecar.telemetry.metrics import GenAIMetrics, HealthMetrics
from sidecar.telemetry.providers import Providers, build_propagator, build_providers
from sidecar.telemetry.recorder import StreamRecorder
from sidecar.telemetry.semconv import ErrorType
from sidecar.telemetry.settings import TelemetrySettings, resolve

_log = logging.getLogger(__name__)

_MAX_ERROR_TYPE_CHARS: Final = 64
#: The observable instrument whose callback flushes the metric batch; it never has a data point.
_BATCH_FLUSH: Final = "genai_sidecar.internal.metric_batch"


class Telemetry:
    """Process-wide telemetry: providers, instruments, and the per-request recorder factory."""

    def __init__(
        self,
        *,
        settings: TelemetrySettings,
        providers: Providers,
        server_address: str,
        server_port: int,
        environ: Mapping[str, str],
    ) -> None:
        self.settings = settings
        self.providers = providers
        config = settings.telemetry
        schema = semconv.schema_url(settings.versions)
        meter = providers.meter_provider.get_meter(semconv.SCOPE_NAME, __version__, schema_url=schema)
        self.tracer = providers.tracer_provider.get_tracer(semconv.SCOPE_NAME, __version__, schema_url=schema)
        logger = (
            providers.logger_provider.get_logger(semconv.SCOPE_NAME, __version__, schema_url=schema)
            if providers.logger_provider is not None
            else None
        )
        self.logger = logger
        self.guard = CardinalityGuard(config.max_attribute_values, config.model_allow_list)
        self.metric_batch = MetricBatch(semconv.histogram_bounds(), enabled=providers.metric_batching)
        if providers.metric_batching:
            # Observes nothing: the SDK calls it as each collection starts, which hands the
            # pending series to the instruments before the readers read their aggregations.
            meter.create_observable_gauge(_BATCH_FLUSH, callbacks=[self.metric_batch.flush])
        self.genai = GenAIMetrics(meter, settings.versions, self.metric_batch)
        self.health = HealthMetrics(meter, self.guard, providers.export_dropped, self.metric_batch)
        self.capture = ContentCapture(settings.capture)
        self.identity = IdentityExtractor(config.identity, load_key(config.identity, environ))
        self.cost: CostMeter | None = None
        if config.cost.prices:
            self.cost = CostMeter(PriceTable.load(config.cost.prices), instruments.create_cost(meter))
        dropped = providers.export_dropped

        def call_log_dropped(count: int) -> None:
            dropped.add(count, {semconv.SIGNAL: "call_log", semconv.REASON: QUEUE_FULL})

        self.call_log = CallLog(logger, stdout=config.call_log == "stdout", on_drop=call_log_dropped)
        self.propagator = build_propagator(environ)  # OTEL_PROPAGATORS
        self.server_address = server_address
        self.server_port = server_port
        self.latest = semconv.LATEST in settings.versions
        self.v1_41 = semconv.V1_41 in settings.versions

    @classmethod
    def build(
        cls,
        config: TelemetryConfig,
        otlp: OTLPConfig,
        prometheus: PrometheusConfig,
        *,
        server_address: str,
        server_port: int,
        environ: Mapping[str, str],
        extra_metric_readers: Sequence[MetricReader] = (),
        extra_span_exporters: Sequence[SpanExporter] = (),
        extra_log_exporters: Sequence[LogRecordExporter] = (),
    ) -> Telemetry:
        """Resolve config + ``OTEL_*`` environment and build the providers. Raises
        :class:`~sidecar.config.ConfigError` on a malformed variable (start-up only)."""
        settings = resolve(config, otlp, prometheus, environ)
        providers = build_providers(
            settings,
            environ=environ,
            extra_metric_readers=extra_metric_readers,
            extra_span_exporters=extra_span_exporters,
            extra_log_exporters=extra_log_exporters,
        )
        return cls(
            settings=settings,
            providers=providers,
            server_address=server_address,
            server_port=server_port,
            environ=environ,
        )

    def start(
        self,
        *,
        request: RequestInfo | None,
        method: str,
        headers: Mapping[str, str],
        t0: float,
    ) -> StreamRecorder:
        """A recorder for one proxied request; ``request`` None = not a GenAI call (HTTP metrics
        only, no span)."""
        return StreamRecorder(self, request=request, method=method, headers=headers, t0=t0)

    def tap_error(self, reason: str) -> None:
        """Count one stream whose tap failed (``genai_sidecar.tap.errors{reason}``)."""
        try:
            self.health.tap_error(reason)
        except Exception:
            _log.debug("tap error count failed", exc_info=True)

    def request_rejected(self, reason: str) -> None:
        """Count one connection or request refused before forwarding
        (``genai_sidecar.requests.rejected{reason}``)."""
        try:
            self.health.request_rejected(reason)
        except Exception:
            _log.debug("rejection count failed", exc_info=True)

    def usage_injection_refused(self) -> None:
        """Count one request resent unmodified after its upstream rejected the added
        ``include_usage`` (``genai_sidecar.usage.injection_refused``)."""
        try:
            self.health.usage_injection_refused.add(1)
        except Exception:
            _log.debug("usage injection count failed", exc_info=True)

    def prometheus_exposition(self) -> tuple[bytes, str]:
        """Prometheus text for the admin port's ``/metrics``: body and content type."""
        return self.providers.prometheus_exposition()

    def force_flush(self, timeout_s: float = 5.0) -> None:
        self.providers.force_flush(timeout_s)

    def shutdown(self, timeout_s: float) -> None:
        """Flush and close every exporter (idempotent)."""
        try:
            self.call_log.close(timeout_s)
            self.providers.shutdown(timeout_s)
        except Exception:
            _log.debug("telemetry shutdown failed", exc_info=True)

    def error_type(self, value: str) -> str:
        """A bounded ``error.type`` value (length and cardinality capped)."""
        value = value.strip() or ErrorType.OTHER.value
        if len(value) > _MAX_ERROR_TYPE_CHARS:
            return ErrorType.OTHER.value
        return self.guard.value(semconv.ERROR_TYPE, value)
