"""Bounded, drop-counting export pipelines around the SDK's batch processors and OTLP exporters.

Exports run on SDK background threads, so a dead or slow collector never blocks the proxy; what
it can do is fill the queue. A :class:`_Gate` in front of each batch processor admits at most
``max_queue_size`` items that the exporter has not yet taken, and refuses the rest, counting each
refusal as ``genai_sidecar.export.dropped{signal, reason="queue_full"}``. A batch the exporter
fails to deliver is counted with ``reason="export_failed"``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Final, Protocol

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from sidecar.telemetry.settings import BatchSettings

_log = logging.getLogger(__name__)

QUEUE_FULL: Final = "queue_full"
EXPORT_FAILED: Final = "export_failed"


class DropCounter(Protocol):
    """Receives ``count`` items of ``signal`` lost for ``reason``."""

    def __call__(self, signal: str, reason: str, count: int) -> None: ...


class _Gate:
    """Items admitted to a batch processor minus items handed to its exporter, capped."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._pending = 0
        self._lock = threading.Lock()

    def admit(self) -> bool:
        with self._lock:
            if self._pending >= self._capacity:
                return False
            self._pending += 1
            return True

    def taken(self, count: int) -> None:
        with self._lock:
            self._pending = max(0, self._pending - count)


# --------------------------------------------------------------------------------------- spans


class _CountingSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, gate: _Gate, on_drop: DropCounter) -> None:
        self._inner = inner
        self._gate = gate
        self._on_drop = on_drop

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._gate.taken(len(spans))
        try:
            result = self._inner.export(spans)
        except Exception:
            _log.debug("span export raised", exc_info=True)
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self._on_drop("traces", EXPORT_FAILED, len(spans))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class BoundedSpanProcessor(SpanProcessor):
    """A :class:`BatchSpanProcessor` that refuses (and counts) spans beyond its queue size."""

    def __init__(self, exporter: SpanExporter, *, batch: BatchSettings, on_drop: DropCounter) -> None:
        self._gate = _Gate(batch.max_queue_size)
        self._on_drop = on_drop
        self._inner = BatchSpanProcessor(
            _CountingSpanExporter(exporter, self._gate, on_drop),
            max_queue_size=batch.max_queue_size,
            schedule_delay_millis=batch.schedule_delay_s * 1000,
            max_export_batch_size=batch.max_export_batch_size,
            export_timeout_millis=batch.export_timeout_s * 1000,
        )

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is None or not span.context.trace_flags.sampled:
            return
        if self._gate.admit():
            self._inner.on_end(span)
        else:
            self._on_drop("traces", QUEUE_FULL, 1)

    def shutdown(self) -> None:
        self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


# ---------------------------------------------------------------------------------------- logs


class _CountingLogExporter(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, gate: _Gate, on_drop: DropCounter) -> None:
        self._inner = inner
        self._gate = gate
        self._on_drop = on_drop

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self._gate.taken(len(batch))
        try:
            result = self._inner.export(batch)
        except Exception:
            _log.debug("log export raised", exc_info=True)
            result = LogRecordExportResult.FAILURE
        if result is not LogRecordExportResult.SUCCESS:
            self._on_drop("logs", EXPORT_FAILED, len(batch))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class BoundedLogProcessor(LogRecordProcessor):
    """A :class:`BatchLogRecordProcessor` that refuses (and counts) records beyond its queue."""

    def __init__(self, exporter: LogRecordExporter, *, batch: BatchSettings, on_drop: DropCounter) -> None:
        self._gate = _Gate(batch.max_queue_size)
        self._on_drop = on_drop
        self._inner = BatchLogRecordProcessor(
            _CountingLogExporter(exporter, self._gate, on_drop),
            max_queue_size=batch.max_queue_size,
            schedule_delay_millis=batch.schedule_delay_s * 1000,
            max_export_batch_size=batch.max_export_batch_size,
            export_timeout_millis=batch.export_timeout_s * 1000,
        )

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if self._gate.admit():
            self._inner.on_emit(log_record)
        else:
            self._on_drop("logs", QUEUE_FULL, 1)

    def shutdown(self) -> None:
        self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


# ------------------------------------------------------------------------------------- metrics


def temporality_preference(preference: str) -> dict[type, AggregationTemporality]:
    """``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` as the SDK's per-instrument map."""
    cumulative = AggregationTemporality.CUMULATIVE
    delta = AggregationTemporality.DELTA
    counters = delta if preference in ("delta", "lowmemory") else cumulative
    observable_counter = delta if preference == "delta" else cumulative
    return {
        Counter: counters,
        Histogram: counters,
        ObservableCounter: observable_counter,
        UpDownCounter: cumulative,
        ObservableUpDownCounter: cumulative,
        ObservableGauge: cumulative,
    }


def _count_points(data: MetricsData) -> int:
    count = 0
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points: Sequence[NumberDataPoint | HistogramDataPoint | object]
                points = getattr(metric.data, "data_points", ())
                count += len(points)
    return count


class CountingMetricExporter(MetricExporter):
    """Counts the data points of every metric export that failed."""

    def __init__(
        self,
        inner: MetricExporter,
        *,
        preferred_temporality: dict[type, AggregationTemporality],
        on_drop: DropCounter,
    ) -> None:
        super().__init__(preferred_temporality=preferred_temporality)
        self._inner = inner
        self._on_drop = on_drop

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
    ) -> MetricExportResult:
        try:
            result = self._inner.export(metrics_data, timeout_millis=timeout_millis)
        except Exception:
            _log.debug("metric export raised", exc_info=True)
            result = MetricExportResult.FAILURE
        if result is not MetricExportResult.SUCCESS:
            self._on_drop("metrics", EXPORT_FAILED, _count_points(metrics_data))
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis)
