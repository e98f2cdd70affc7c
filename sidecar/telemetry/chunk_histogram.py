"""Per-chunk samples aggregated per stream, merged into the exported histogram once per stream.

The time per output chunk is one sample per chunk. Recording each through the OpenTelemetry SDK
costs one attribute hash and one aggregation per metric reader (Prometheus and OTLP: twice) per
chunk. Instead the recorder keeps a :class:`ChunkSamples` per stream: bucket counts against the
instrument's advised boundaries (the SDK's own placement, ``bisect_left``), sum, min, max, in
plain arithmetic. At the end of the stream it records the summary once: a :class:`SampleSummary`
(a ``float`` equal to the samples' sum, carrying the rest) through the ordinary
``Histogram.record``. The SDK then does everything it always does (attributes, cardinality
limit, one aggregation per reader, temporality, start times, collection); only the aggregation
of these instruments, installed by :func:`views` for their names, merges a summary instead of
adding one value. A plain ``float`` recorded on them is aggregated as the SDK would.

What is exported is what the SDK would export for the same samples: the same names, units,
descriptions, boundaries, bucket counts, counts, min, max and attributes, exemplars off (a
merged summary has no single sample to keep); the sum is the same up to float rounding (it is
added per stream first). Samples become visible when their stream ends, so a delta export can
place an in-flight stream's samples in the interval where it ended; totals are exact.

The aggregation subclasses the SDK's explicit-bucket aggregation (``_create_aggregation`` of
:class:`~opentelemetry.sdk.metrics.view.ExplicitBucketHistogramAggregation`, the SDK's hook for
aggregations): ``tests/telemetry/test_chunk_histogram.py`` compares its export with the SDK's
own per-sample path, so an SDK change that breaks it fails there.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics._internal.aggregation import (
    _Aggregation,
    _ExplicitBucketHistogramAggregation,
)
from opentelemetry.sdk.metrics._internal.measurement import Measurement
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View


class SampleSummary(float):
    """The samples of one stream: the float value is their sum; ``counts`` (one per bucket,
    ``len(bounds) + 1``), ``count``, ``min`` and ``max`` ride along."""

    __slots__ = ("bounds", "count", "counts", "max", "min")

    bounds: tuple[float, ...]
    counts: list[int]
    count: int
    min: float
    max: float


class ChunkSamples:
    """Per-stream samples against fixed bucket boundaries, in plain arithmetic."""

    __slots__ = ("bounds", "count", "counts", "max", "min", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def merge(self, other: ChunkSamples) -> None:
        """Fold in another aggregate against the same boundaries."""
        if other.bounds != self.bounds:
            raise ValueError("samples against other bucket boundaries")
        counts = self.counts
        for index, count in enumerate(other.counts):
            counts[index] += count
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def summary(self) -> SampleSummary | None:
        """What to record once at the end of the stream (``None`` when there were no samples)."""
        if not self.count:
            return None
        found = SampleSummary(self.total)
        found.bounds = self.bounds
        found.counts = self.counts
        found.count = self.count
        found.min = self.min
        found.max = self.max
        return found


class _SummaryBucketAggregation(_ExplicitBucketHistogramAggregation):
    """The SDK's explicit-bucket aggregation, which also merges a :class:`SampleSummary`."""

    def aggregate(self, measurement: Measurement, should_sample_exemplar: bool = True) -> None:
        value = measurement.value
        if not isinstance(value, SampleSummary):
            super().aggregate(measurement, should_sample_exemplar)
            return
        if value.bounds != self._boundaries:
            raise ValueError("a sample summary against other bucket boundaries")
        with self._lock:
            counts: list[int] | None = self._value
            if counts is None:
                counts = self._get_empty_bucket_counts()
                self._value = counts  # type: ignore[assignment]  # the SDK annotates it as None
            for index, count in enumerate(value.counts):
                counts[index] += count
            self._sum += float(value)  # type: ignore[assignment]  # the SDK annotates it as int
            if self._record_min_max:
                self._min = min(self._min, value.min)
                self._max = max(self._max, value.max)


class SummaryHistogramAggregation(ExplicitBucketHistogramAggregation):
    """An explicit-bucket histogram aggregation that accepts per-stream summaries."""

    def _create_aggregation(self, *args: Any, **kwargs: Any) -> _Aggregation[Any]:
        plain = super()._create_aggregation(*args, **kwargs)
        assert isinstance(plain, _ExplicitBucketHistogramAggregation)
        plain.__class__ = _SummaryBucketAggregation
        return plain


def views(instruments: Sequence[tuple[str, Sequence[float]]]) -> list[View]:
    """One view per ``(instrument name, advised boundaries)`` fed with per-stream summaries."""
    return [
        View(instrument_name=name, aggregation=SummaryHistogramAggregation(boundaries=tuple(bounds)))
        for name, bounds in instruments
    ]
