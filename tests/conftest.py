"""Shared fixtures: the shipped simulator, an in-memory telemetry pipeline, a sidecar on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sidecar.config import Config, ExportersConfig, OTLPConfig, load_config, upstream_origin
from sidecar.proxy.server import Sidecar
from sidecar.simulator.server import RunningSimulator, start_simulator
from sidecar.telemetry.pipeline import Telemetry


@dataclass
class InMemoryTelemetry:
    telemetry: Telemetry
    metrics: InMemoryMetricReader
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter


@dataclass
class RunningSidecar:
    sidecar: Sidecar
    sink: InMemoryTelemetry

    @property
    def url(self) -> str:
        return self.sidecar.proxy_url

    @property
    def admin_url(self) -> str:
        return self.sidecar.admin_url

    def points(self, name: str) -> list[Any]:
        """Data points of the metric ``name`` read from the in-memory reader (empty if none)."""
        data = self.sink.metrics.get_metrics_data()
        if data is None:
            return []
        return [
            p
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == name
            for p in m.data.data_points
        ]


def make_config(upstream_url: str, **tables: dict[str, Any]) -> Config:
    """A config on loopback with free ports, OTLP off, and the given tables' keys overridden."""
    overrides: dict[str, Any] = {
        "upstream.url": upstream_url,
        "listener.address": "127.0.0.1:0",
        "listener.admin_address": "127.0.0.1:0",
    }
    for table, values in tables.items():
        for key, value in values.items():
            overrides[f"{table}.{key}"] = value
    config = load_config(None, environ={}, overrides=overrides)
    return replace(config, exporters=ExportersConfig(otlp=OTLPConfig(enabled=False)))


def make_in_memory_telemetry(config: Config) -> InMemoryTelemetry:
    metrics = InMemoryMetricReader()
    spans = InMemorySpanExporter()
    logs = InMemoryLogRecordExporter()
    _, host, port = upstream_origin(config.upstream.url)
    telemetry = Telemetry.build(
        config.telemetry,
        config.exporters.otlp,
        config.exporters.prometheus,
        server_address=host,
        server_port=port,
        environ={},
        extra_metric_readers=(metrics,),
        extra_span_exporters=(spans,),
        extra_log_exporters=(logs,),
    )
    return InMemoryTelemetry(telemetry, metrics, spans, logs)


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    sim = await start_simulator()
    yield sim
    await sim.close()


StartSidecar = Callable[..., Awaitable[RunningSidecar]]


@pytest.fixture
async def start_sidecar() -> AsyncIterator[StartSidecar]:
    """Start sidecars in front of any upstream URL; all are shut down at the end of the test."""
    running: list[RunningSidecar] = []

    async def start(upstream_url: str, /, **tables: dict[str, Any]) -> RunningSidecar:
        config = make_config(upstream_url, **tables)
        sink = make_in_memory_telemetry(config)
        sidecar = Sidecar(config, sink.telemetry)
        await sidecar.start()
        handle = RunningSidecar(sidecar, sink)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        await handle.sidecar.shutdown()
