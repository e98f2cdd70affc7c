"""The metric batch exports what per-measurement recording exports.

The same calls (models, streams, chunk gaps, usage, finish reasons, failures, in all three naming
modes) go through two telemetry pipelines: one with the batch (the default), one that records
every measurement straight into the SDK (exemplars asked for switch the batch off). Both have an
in-memory reader and the Prometheus reader. Every exported data point, and the Prometheus
exposition, must be the same: counts, buckets, bounds, min, max, attributes, temporality; sums
to float rounding (the batch adds per series first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics.export import Metric
from prometheus_client.parser import text_string_to_metric_families

from sidecar.genai.observations import OutputKind
from sidecar.telemetry.pipeline import Telemetry
from tests.telemetry.conftest import MakeSink, Sink, chat

T0 = 1000.0
#: Exemplars asked for: every measurement goes straight to the SDK (always_off keeps none).
UNBATCHED = {"OTEL_METRICS_EXEMPLAR_FILTER": "always_off"}


@dataclass(frozen=True)
class Call:
    model: str
    stream: bool
    gaps: tuple[float, ...]
    usage: tuple[int, int] | None
    reason: str | None
    failure: str | None
    status: int


calls = st.lists(
    st.builds(
        Call,
        model=st.sampled_from(["llama3", "qwen"]),
        stream=st.booleans(),
        gaps=st.lists(st.floats(0.0, 3.0, allow_nan=False), max_size=6).map(tuple),
        usage=st.none() | st.tuples(st.integers(0, 5000), st.integers(0, 5000)),
        reason=st.sampled_from([None, "stop", "length", "max_tokens"]),
        failure=st.sampled_from([None, None, "timeout", "client_cancel"]),
        status=st.sampled_from([200, 200, 429, 500]),
    ),
    min_size=1,
    max_size=8,
)


def _drive(telemetry: Telemetry, call: Call, start: float) -> None:
    recorder = telemetry.start(
        request=chat(model=call.model, stream=call.stream), method="POST", headers={}, t0=start
    )
    recorder.response_started(call.status, start + 0.01)
    t = start + 0.2
    for gap in call.gaps:
        t += gap
        recorder.call.output(OutputKind.TEXT, "x")
        recorder.output(t, 1)
    if call.usage is not None:
        recorder.call.usage(input_tokens=call.usage[0], output_tokens=call.usage[1])
    if call.reason is not None:
        recorder.call.finish_reason(call.reason, 0)
    if call.failure is not None:
        recorder.fail(call.failure, t + 0.5)
    else:
        recorder.finish(t + 0.5, status=call.status, response_bytes=100 + len(call.gaps))


def _points(sink: Sink) -> list[dict[str, Any]]:
    data = sink.metrics.get_metrics_data()
    metrics: list[Metric] = (
        [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics] if data else []
    )
    found = []
    for metric in metrics:
        for point in metric.data.data_points:
            entry: dict[str, Any] = {
                "metric": (metric.name, metric.unit, type(metric.data).__name__),
                "temporality": getattr(metric.data, "aggregation_temporality", None),
                "attributes": dict(point.attributes or {}),
            }
            for name in ("count", "min", "max", "bucket_counts", "explicit_bounds", "sum", "value"):
                if hasattr(point, name):
                    value = getattr(point, name)
                    entry[name] = tuple(value) if isinstance(value, list | tuple) else value
            found.append(entry)
    return sorted(found, key=lambda p: (p["metric"], sorted(p["attributes"].items())))


def _same_points(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert [(p["metric"], p["attributes"]) for p in a] == [(p["metric"], p["attributes"]) for p in b]
    for x, y in zip(a, b, strict=True):
        for key in ("sum", "value"):
            if key in x:
                assert math.isclose(x.pop(key), y.pop(key), rel_tol=1e-12, abs_tol=1e-9), x["metric"]
        assert x == y


def _exposition(sink: Sink) -> list[tuple[str, dict[str, str], float]]:
    text = sink.telemetry.providers.prometheus_exposition()[0].decode()
    samples = [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.startswith("target_info")
    ]
    return sorted(samples, key=lambda s: (s[0], sorted(s[1].items())))


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls, st.sampled_from(["v1.41", "latest", "both"]))
def test_batched_calls_export_what_direct_recording_exports(
    make_sink: MakeSink, script: list[Call], mode: str
) -> None:
    batched, direct = make_sink(semconv=mode), make_sink(semconv=mode, environ=UNBATCHED)
    assert batched.telemetry.metric_batch.enabled
    assert not direct.telemetry.metric_batch.enabled
    for i, call in enumerate(script):
        for sink in (batched, direct):
            _drive(sink.telemetry, call, T0 + 10.0 * i)
    _same_points(_points(batched), _points(direct))
    mine, theirs = _exposition(batched), _exposition(direct)
    assert [s[:2] for s in mine] == [s[:2] for s in theirs]
    for (name, _, x), (_, _, y) in zip(mine, theirs, strict=True):
        assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9), name


def test_an_in_flight_call_is_counted_at_every_collection(make_sink: MakeSink) -> None:
    """Pending measurements reach every reader at its collection, not at the next call's end."""
    sink = make_sink()
    recorder = sink.telemetry.start(request=chat(), method="POST", headers={}, t0=T0)
    (active,) = sink.points("genai_sidecar.requests.active")
    assert active.value == 1
    assert _prometheus_value(sink, "genai_sidecar_requests_active") == 1
    recorder.finish(T0 + 1.0, status=200, response_bytes=5)
    assert _prometheus_value(sink, "genai_sidecar_requests_active") == 0
    (active,) = sink.points("genai_sidecar.requests.active")
    assert active.value == 0
    assert sink.points("gen_ai.client.operation.duration")[0].count == 1


def _prometheus_value(sink: Sink, name: str) -> float:
    (value,) = [s[2] for s in _exposition(sink) if s[0] == name]
    return value
