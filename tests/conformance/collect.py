"""Turn emitted telemetry into the checker's plain shape: from in-memory readers, from what a real
OTLP receiver (rotel) got, and from a Prometheus exposition."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import Gauge, Histogram, MetricsData, Sum
from opentelemetry.sdk.trace import ReadableSpan
from prometheus_client.parser import text_string_to_metric_families

from tests.conformance.table import MetricPoint, SpanRecord, table, versions


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def sdk_metric_points(data: MetricsData | None) -> list[MetricPoint]:
    out: list[MetricPoint] = []
    if data is None:
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                series = metric.data
                if isinstance(series, Histogram):
                    kind = "histogram"
                elif isinstance(series, Sum):
                    kind = "counter" if series.is_monotonic else "updowncounter"
                elif isinstance(series, Gauge):
                    kind = "updowncounter"
                else:
                    kind = type(series).__name__
                for point in series.data_points:
                    bounds = list(point.explicit_bounds) if isinstance(series, Histogram) else None
                    attrs = {k: _plain(v) for k, v in (point.attributes or {}).items()}
                    out.append(MetricPoint(metric.name, kind, metric.unit, attrs, bounds))
    return out


def sdk_spans(spans: Iterable[ReadableSpan]) -> list[SpanRecord]:
    return [
        SpanRecord(
            name=span.name,
            attributes={k: _plain(v) for k, v in (span.attributes or {}).items()},
            status_code=span.status.status_code.name,
            status_description=span.status.description,
            events=[{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        )
        for span in spans
    ]


# ------------------------------------------------------------------------------- OTLP

_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def otlp_metric_points(metrics: Iterable[Mapping[str, Any]]) -> list[MetricPoint]:
    """Metrics as ``tests/e2e/rotel_capture.py`` writes what rotel received."""
    out = []
    for metric in metrics:
        kind = {"histogram": "histogram", "gauge": "updowncounter"}.get(metric["type"])
        if metric["type"] == "sum":
            kind = "counter" if metric.get("is_monotonic") else "updowncounter"
        for point in metric.get("data_points", []):
            out.append(
                MetricPoint(
                    metric["name"],
                    kind or str(metric["type"]),
                    metric["unit"],
                    dict(point["attributes"]),
                    point.get("explicit_bounds") if metric["type"] == "histogram" else None,
                )
            )
    return out


def otlp_spans(spans: Iterable[Mapping[str, Any]]) -> list[SpanRecord]:
    out = []
    for span in spans:
        status = span.get("status") or {}
        out.append(
            SpanRecord(
                name=span["name"],
                attributes=dict(span["attributes"]),
                status_code=_STATUS.get(status.get("code", 0), "UNSET"),
                status_description=status.get("message") or None,
                events=list(span.get("events", [])),
            )
        )
    return out


# ------------------------------------------------------------------------- Prometheus

_UNIT_SUFFIX = {"s": "_seconds", "By": "_bytes"}


def _prometheus_base(name: str, unit: str) -> str:
    base = re.sub(r"[^a-zA-Z0-9:]", "_", name)
    suffix = _UNIT_SUFFIX.get(unit, "")
    return base if not suffix or base.endswith(suffix) else base + suffix


def prometheus_problems(mode: str, exposition: str) -> list[str]:
    """Every family on ``/metrics`` is a table metric (under the exporter's name mapping: dots to
    underscores, the unit as a suffix) or an own-namespace one, of the table's type, and every
    label maps back to an attribute the metric may carry."""
    expected: dict[str, tuple[str, dict[str, Any]]] = {}
    for version in versions(mode):
        for name, spec in table()[version]["metrics"].items():
            expected[_prometheus_base(name, spec["unit"])] = (name, spec)
    prom_types = {"histogram": "histogram", "counter": "counter", "updowncounter": "gauge"}
    problems = []
    for family in text_string_to_metric_families(exposition):
        if family.name in ("target_info",) or family.name.startswith("genai_sidecar_"):
            continue
        found = expected.get(family.name)
        if found is None:
            problems.append(f"{mode}: /metrics family {family.name} is no metric of {versions(mode)}")
            continue
        name, spec = found
        if family.type != prom_types[spec["instrument"]]:
            problems.append(
                f"{mode}: /metrics {family.name} is a {family.type}, table says {spec['instrument']}"
            )
        allowed = {**spec["attributes"], **(spec.get("openai_attributes") or {})}
        labels = {re.sub(r"[^a-zA-Z0-9_]", "_", key): key for key in allowed}
        for sample in family.samples:
            for label in sample.labels:
                if label == "le" or label.startswith("otel_scope_"):  # added by the exporter
                    continue
                if label not in labels:
                    problems.append(f"{mode}: /metrics {name} label {label!r} maps to no allowed attribute")
            for key, level in spec["attributes"].items():
                if level == "required" and re.sub(r"[^a-zA-Z0-9_]", "_", key) not in sample.labels:
                    problems.append(f"{mode}: /metrics {sample.name} lacks Required {key}")
    return sorted(set(problems))
