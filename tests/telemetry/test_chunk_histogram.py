"""Per-stream aggregation of time-per-output-chunk samples exports what the SDK would.

The same samples go once through the OpenTelemetry SDK as it is (one ``Histogram.record`` per
sample, advised boundaries) and once through the sidecar's path (a :class:`ChunkSamples` per
stream, one summary recorded at the end of each stream, the summary views installed), each with
a cumulative reader, a delta reader and a Prometheus reader. The exported data points and the
Prometheus exposition must be the same (the sum to float rounding: it is added per stream first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, Metric
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.telemetry.chunk_histogram import ChunkSamples, views
from sidecar.telemetry.semconv import SIGNALS, V1_41, Signal

SPEC = SIGNALS[Signal.TIME_PER_OUTPUT_CHUNK][V1_41]
BOUNDS = SPEC.buckets or ()
ATTRIBUTES = ({"gen_ai.request.model": "a"}, {"gen_ai.request.model": "b", "server.port": 1})

#: One stream: which attribute set, and its samples (gaps in seconds, bucket edges included).
streams = st.lists(
    st.tuples(
        st.sampled_from(range(len(ATTRIBUTES))),
        st.lists(
            st.sampled_from(BOUNDS) | st.floats(min_value=0.0, max_value=200.0, allow_nan=False),
            max_size=30,
        ),
    ),
    min_size=1,
    max_size=12,
)


class Pipeline:
    def __init__(self, *, summaries: bool) -> None:
        self.cumulative = InMemoryMetricReader()
        self.delta = InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})
        self.registry = CollectorRegistry()
        readers = [self.cumulative, self.delta, PrometheusMetricReader(registry=self.registry)]
        self.provider = MeterProvider(
            metric_readers=readers,
            exemplar_filter=AlwaysOffExemplarFilter(),
            views=views([(SPEC.name, BOUNDS)]) if summaries else (),
        )
        self.histogram = self.provider.get_meter("genai-sidecar").create_histogram(
            SPEC.name,
            unit=SPEC.unit,
            description=SPEC.description,
            explicit_bucket_boundaries_advisory=BOUNDS,
        )

    def metrics(self, reader: InMemoryMetricReader) -> list[Metric]:
        data = reader.get_metrics_data()
        if data is None:
            return []
        return [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]


def _sdk(streams: Sequence[tuple[int, list[float]]]) -> Pipeline:
    pipeline = Pipeline(summaries=False)
    for index, samples in streams:
        for sample in samples:
            pipeline.histogram.record(sample, ATTRIBUTES[index])
    return pipeline


def _per_stream(streams: Sequence[tuple[int, list[float]]]) -> Pipeline:
    pipeline = Pipeline(summaries=True)
    for index, samples in streams:
        aggregate = ChunkSamples(BOUNDS)
        for sample in samples:
            aggregate.add(sample)
        summary = aggregate.summary()
        if summary is not None:
            pipeline.histogram.record(summary, ATTRIBUTES[index])
    return pipeline


def _points(metrics: list[Metric]) -> list[dict[str, Any]]:
    found = []
    for metric in metrics:
        for point in metric.data.data_points:  # type: ignore[union-attr]
            found.append(
                {
                    "metric": (metric.name, metric.unit, metric.description, type(metric.data).__name__),
                    "temporality": metric.data.aggregation_temporality,  # type: ignore[union-attr]
                    "attributes": dict(point.attributes or {}),
                    "count": point.count,  # type: ignore[union-attr]
                    "buckets": tuple(point.bucket_counts),  # type: ignore[union-attr]
                    "bounds": tuple(point.explicit_bounds),  # type: ignore[union-attr]
                    "min": point.min,  # type: ignore[union-attr]
                    "max": point.max,  # type: ignore[union-attr]
                    "exemplars": list(point.exemplars),
                    "sum": point.sum,  # type: ignore[union-attr]
                }
            )
    return sorted(found, key=lambda p: sorted(p["attributes"].items()))


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert math.isclose(x.pop("sum"), y.pop("sum"), rel_tol=1e-12, abs_tol=1e-12)
        assert x == y


def _exposition(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    samples = [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    ]
    return sorted(samples, key=lambda s: (s[0], sorted(s[1].items())))


@settings(deadline=None, max_examples=60)
@given(streams)
def test_per_stream_summaries_export_what_the_sdk_exports(streams: list[tuple[int, list[float]]]) -> None:
    sdk, ours = _sdk(streams), _per_stream(streams)
    for reader in ("cumulative", "delta"):
        _same(_points(ours.metrics(getattr(ours, reader))), _points(sdk.metrics(getattr(sdk, reader))))
    mine, theirs = _exposition(ours.registry), _exposition(sdk.registry)
    assert [s[:2] for s in mine] == [s[:2] for s in theirs]
    for (name, _, x), (_, _, y) in zip(mine, theirs, strict=True):
        assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12), name
    ours.provider.shutdown()
    sdk.provider.shutdown()


def test_a_plain_value_on_the_summary_view_is_aggregated_as_usual() -> None:
    ours, sdk = Pipeline(summaries=True), Pipeline(summaries=False)
    for pipeline in (ours, sdk):
        pipeline.histogram.record(0.05, ATTRIBUTES[0])
        pipeline.histogram.record(3.0, ATTRIBUTES[0])
    _same(_points(ours.metrics(ours.cumulative)), _points(sdk.metrics(sdk.cumulative)))


def test_a_stream_without_samples_records_nothing() -> None:
    assert ChunkSamples(BOUNDS).summary() is None
