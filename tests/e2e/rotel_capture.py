"""Processor hook loaded by ``rotel-agent`` (``--otlp-with-metrics-processor`` and
``--otlp-with-trace-processor``): writes every batch the collector receives as one JSON line.

It runs inside rotel's embedded Python interpreter, so it uses the standard library only. The
file prefix comes from the agent's environment (``ROTEL_CAPTURE_PREFIX``): batches go to
``<prefix>metrics.jsonl`` and ``<prefix>spans.jsonl``. Values are written in a plain shape close
to OTLP/JSON: ids in hex, attributes as ``{key: value}``, metric data flattened per type.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

_LOCK = threading.Lock()


def _prefix() -> str:
    return os.environ.get("ROTEL_CAPTURE_PREFIX", "/tmp/rotel-capture-")


def _write(kind: str, record: dict[str, Any]) -> None:
    line = json.dumps(record, separators=(",", ":"))
    with _LOCK, open(_prefix() + kind + ".jsonl", "a", encoding="utf-8") as out:
        out.write(line + "\n")


def _items(seq: Any) -> list[Any]:
    """The SDK's list wrappers support len() and indexing but not always iteration."""
    if seq is None:
        return []
    return [seq[i] for i in range(len(seq))]


def _value(any_value: Any) -> Any:
    """An AnyValue (or a bare value) as plain JSON: arrays as lists, key-value lists as dicts."""
    value = getattr(any_value, "value", any_value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.hex()
    elements = _items(value)
    if elements and all(hasattr(e, "key") for e in elements):
        return {e.key: _value(e.value) for e in elements}
    return [_value(e) for e in elements]


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in _items(key_values)}


def _scope(scope: Any) -> dict[str, Any] | None:
    if scope is None:
        return None
    return {"name": scope.name, "version": scope.version, "attributes": _attributes(scope.attributes)}


def _resource(resource: Any) -> dict[str, Any]:
    return {} if resource is None else _attributes(resource.attributes)


def _temporality(data: Any) -> str | None:
    temporality = getattr(data, "aggregation_temporality", None)
    if temporality is None:
        return None
    name: str = temporality.as_str_name()
    return name.removeprefix("AGGREGATION_TEMPORALITY_").lower()


def _number(point: Any) -> int | float | None:
    value = point.value
    return None if value is None else value[0]


def _histogram_point(point: Any) -> dict[str, Any]:
    return {
        "attributes": _attributes(point.attributes),
        "start_time_unix_nano": point.start_time_unix_nano,
        "time_unix_nano": point.time_unix_nano,
        "count": point.count,
        "sum": point.sum,
        "min": point.min,
        "max": point.max,
        "bucket_counts": list(_items(point.bucket_counts)),
        "explicit_bounds": list(_items(point.explicit_bounds)),
        "exemplars": len(_items(point.exemplars)),
    }


def _number_point(point: Any) -> dict[str, Any]:
    return {
        "attributes": _attributes(point.attributes),
        "start_time_unix_nano": point.start_time_unix_nano,
        "time_unix_nano": point.time_unix_nano,
        "value": _number(point),
    }


def _metric(metric: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": metric.name,
        "description": metric.description,
        "unit": metric.unit,
    }
    data_variant = metric.data
    if data_variant is None:
        out["type"] = None
        return out
    data = data_variant[0]
    kind = type(data).__name__
    out["type"] = {
        "Histogram": "histogram",
        "Sum": "sum",
        "Gauge": "gauge",
        "ExponentialHistogram": "exponential_histogram",
        "Summary": "summary",
    }.get(kind, kind)
    out["temporality"] = _temporality(data)
    if kind == "Sum":
        out["is_monotonic"] = data.is_monotonic
    points = _items(data.data_points)
    if kind == "Histogram":
        out["data_points"] = [_histogram_point(p) for p in points]
    elif kind in ("Sum", "Gauge"):
        out["data_points"] = [_number_point(p) for p in points]
    else:
        out["data_points"] = [{"attributes": _attributes(p.attributes)} for p in points]
    return out


def _span(span: Any) -> dict[str, Any]:
    status = span.status
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex(),
        "trace_state": span.trace_state,
        "name": span.name,
        "kind": span.kind,
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "attributes": _attributes(span.attributes),
        "events": [
            {
                "name": e.name,
                "time_unix_nano": e.time_unix_nano,
                "attributes": _attributes(e.attributes),
            }
            for e in _items(span.events)
        ],
        "links": [
            {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()} for link in _items(span.links)
        ],
        "status": None if status is None else {"code": status.code, "message": status.message},
    }


def process_metrics(resource_metrics: Any) -> None:
    try:
        record = {
            "resource": _resource(resource_metrics.resource),
            "scope_metrics": [
                {"scope": _scope(sm.scope), "metrics": [_metric(m) for m in _items(sm.metrics)]}
                for sm in _items(resource_metrics.scope_metrics)
            ],
        }
    except Exception as exc:  # a capture bug must show up in the file, not vanish in rotel's log
        record = {"capture_error": repr(exc)}
    _write("metrics", record)


def process_spans(resource_spans: Any) -> None:
    try:
        record = {
            "resource": _resource(resource_spans.resource),
            "scope_spans": [
                {"scope": _scope(ss.scope), "spans": [_span(s) for s in _items(ss.spans)]}
                for ss in _items(resource_spans.scope_spans)
            ],
        }
    except Exception as exc:
        record = {"capture_error": repr(exc)}
    _write("spans", record)
