"""Telemetry: OpenTelemetry GenAI metrics, spans and call records (the only OpenTelemetry user)."""

from __future__ import annotations

from sidecar.telemetry.pipeline import Telemetry
from sidecar.telemetry.recorder import StreamRecorder
from sidecar.telemetry.semconv import metric_names, prometheus_names, prometheus_samples

__all__ = ["StreamRecorder", "Telemetry", "metric_names", "prometheus_names", "prometheus_samples"]
