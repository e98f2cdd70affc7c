"""In-memory telemetry sinks and helpers to read back what was exported."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sidecar.config import (
    CaptureConfig,
    CostConfig,
    IdentityConfig,
    OTLPConfig,
    PrometheusConfig,
    TelemetryConfig,
)
from sidecar.genai.observations import Operation, RequestInfo
from sidecar.telemetry.pipeline import Telemetry
from sidecar.telemetry.recorder import StreamRecorder
from tests.steps import Step, apply

SERVER_ADDRESS = "model-server.local"
SERVER_PORT = 11434


@dataclass
class Sink:
    telemetry: Telemetry
    metrics: InMemoryMetricReader
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter

    def metric(self, name: str) -> Metric | None:
        data = self.metrics.get_metrics_data()
        if data is None:
            return None
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        return metric
        return None

    def metric_names(self) -> set[str]:
        data = self.metrics.get_metrics_data()
        if data is None:
            return set()
        return {
            metric.name for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
        }

    def points(self, name: str) -> list[Any]:
        """Data points of ``name`` (empty when the instrument recorded nothing)."""
        metric = self.metric(name)
        if metric is None:
            return []
        return list(metric.data.data_points)

    def span(self) -> ReadableSpan:
        spans = self.spans.get_finished_spans()
        assert len(spans) == 1, spans
        return spans[0]


class MakeSink(Protocol):
    def __call__(
        self,
        *,
        semconv: str = "v1.41",
        environ: Mapping[str, str] | None = None,
        capture: CaptureConfig | None = None,
        identity: IdentityConfig | None = None,
        cost: CostConfig | None = None,
        max_attribute_values: int = 100,
        model_allow_list: tuple[str, ...] = (),
        call_log: str = "off",
        prometheus: bool = True,
    ) -> Sink: ...


@pytest.fixture
def make_sink() -> Iterator[MakeSink]:
    made: list[Sink] = []

    def make(
        *,
        semconv: str = "v1.41",
        environ: Mapping[str, str] | None = None,
        capture: CaptureConfig | None = None,
        identity: IdentityConfig | None = None,
        cost: CostConfig | None = None,
        max_attribute_values: int = 100,
        model_allow_list: tuple[str, ...] = (),
        call_log: str = "off",
        prometheus: bool = True,
    ) -> Sink:
        config = TelemetryConfig(
            semconv=semconv,  # type: ignore[arg-type]
            max_attribute_values=max_attribute_values,
            model_allow_list=model_allow_list,
            call_log=call_log,  # type: ignore[arg-type]
            capture=capture or CaptureConfig(),
            identity=identity or IdentityConfig(),
            cost=cost or CostConfig(),
        )
        metrics = InMemoryMetricReader()
        spans = InMemorySpanExporter()
        logs = InMemoryLogRecordExporter()
        telemetry = Telemetry.build(
            config,
            OTLPConfig(enabled=False),
            PrometheusConfig(enabled=prometheus),
            server_address=SERVER_ADDRESS,
            server_port=SERVER_PORT,
            environ=dict(environ or {}),
            extra_metric_readers=(metrics,),
            extra_span_exporters=(spans,),
            extra_log_exporters=(logs,),
        )
        sink = Sink(telemetry, metrics, spans, logs)
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.telemetry.shutdown(1.0)


@pytest.fixture
def sink(make_sink: MakeSink) -> Sink:
    return make_sink()


def chat(**fields: Any) -> RequestInfo:
    """A streaming chat request to ``llama3`` unless overridden."""
    base: dict[str, Any] = {
        "operation": Operation.CHAT,
        "provider": "ollama",
        "model": "llama3",
        "stream": True,
    }
    base.update(fields)
    return RequestInfo(**base)


def observe(recorder: StreamRecorder, step: Step, t: float) -> None:
    """One response fact, as the tap hands it over: written into the call's accumulator, and an
    output chunk also timed at ``t``."""
    if apply(recorder.call, step):
        recorder.output(t, 1)
