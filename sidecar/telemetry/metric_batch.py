"""MetricBatch: the calls' measurements folded per series, handed to the SDK once per collection.

Each GenAI call records about a dozen measurements (durations, token counts, finish reasons, the
HTTP duration, the in-flight count). Through the SDK each one costs attribute cleaning, hashing
and one aggregation per metric reader (Prometheus and OTLP: twice), about as much CPU as all of the
call's per-chunk work. Here a measurement is added, in plain arithmetic, to the pending total of
its series (instrument + attribute set): bucket counts, sum, count, min and max for a histogram
(:class:`~sidecar.telemetry.chunk_histogram.ChunkSamples`), the sum for a counter. The SDK gets
each pending series once, as one summary (histograms, merged by the summary view) or one ``add``
(counters), when a reader collects: an observable instrument's callback, which the SDK calls at
the start of every collection, before it reads its aggregations, hands everything pending to the
instruments, and so to every reader's aggregation.

So what a collection exports is exactly what per-measurement recording would have exported:
the same names, units, buckets, counts, min, max, attributes and temporality; sums agree to
floating-point rounding (added per series first). What differs: a series' start time is the
collection that first carried it, not its first measurement. Memory is bounded by the number of
series (the cardinality guard bounds the attributes), never by the number of calls.

Batching is off, and every measurement goes straight to the SDK, when nothing collects (no
metric reader, or the SDK disabled) or when exemplars are asked for (``OTEL_METRICS_EXEMPLAR_FILTER``:
an exemplar needs the measurement's own trace context).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation, UpDownCounter

from sidecar.telemetry.chunk_histogram import ChunkSamples

Attributes: TypeAlias = Mapping[str, str | int]
_Key: TypeAlias = tuple[object, frozenset[tuple[str, str | int]]]


class _Samples:
    __slots__ = ("attributes", "instrument", "samples")

    def __init__(self, instrument: Histogram, attributes: Attributes, bounds: Sequence[float]) -> None:
        self.instrument = instrument
        self.attributes = dict(attributes)
        self.samples = ChunkSamples(bounds)

    def emit(self) -> None:
        summary = self.samples.summary()
        if summary is not None:
            self.instrument.record(summary, self.attributes)


class _Sum:
    __slots__ = ("attributes", "instrument", "total")

    def __init__(self, instrument: Counter | UpDownCounter, attributes: Attributes) -> None:
        self.instrument = instrument
        self.attributes = dict(attributes)
        self.total: float = 0

    def emit(self) -> None:
        self.instrument.add(self.total, self.attributes)


class MetricBatch:
    """Pending measurements per series; :meth:`flush` is the collection-time callback."""

    __slots__ = ("_bounds", "_lock", "_pending", "enabled")

    def __init__(self, bounds: Mapping[str, Sequence[float]], *, enabled: bool) -> None:
        #: Bucket boundaries per histogram name: those of the summary view the SDK aggregates with.
        self._bounds = {name: tuple(b) for name, b in bounds.items()}
        self.enabled = enabled
        self._lock = threading.Lock()
        self._pending: dict[_Key, _Samples | _Sum] = {}

    def record(
        self, instrument: Histogram, value: float, attributes: Attributes, ctx: Context | None = None
    ) -> None:
        """One histogram measurement (``ctx`` matters only unbatched, for exemplars)."""
        if not self.enabled:
            instrument.record(value, attributes, context=ctx)
            return
        with self._lock:
            self._samples(instrument, attributes).add(value)

    def merge(
        self, instrument: Histogram, samples: ChunkSamples, attributes: Attributes, ctx: Context | None = None
    ) -> None:
        """A stream's own per-stream samples (time per output chunk), folded in at once."""
        if not self.enabled:
            summary = samples.summary()
            if summary is not None:
                instrument.record(summary, attributes, context=ctx)
            return
        with self._lock:
            self._samples(instrument, attributes).merge(samples)

    def add(
        self,
        instrument: Counter | UpDownCounter,
        value: float,
        attributes: Attributes,
        ctx: Context | None = None,
    ) -> None:
        """One counter (or up-down counter) measurement."""
        if not self.enabled:
            instrument.add(value, attributes, context=ctx)
            return
        key = (instrument, frozenset(attributes.items()))
        with self._lock:
            entry = self._pending.get(key)
            if entry is None:
                entry = self._pending[key] = _Sum(instrument, attributes)
            assert isinstance(entry, _Sum)
            entry.total += value

    def _samples(self, instrument: Histogram, attributes: Attributes) -> ChunkSamples:
        """The pending samples of a histogram series (called with the lock held)."""
        key = (instrument, frozenset(attributes.items()))
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = _Samples(
                instrument, attributes, self._bounds[getattr(instrument, "name", "")]
            )
        assert isinstance(entry, _Samples)
        return entry.samples

    def flush(self, options: CallbackOptions | None = None) -> Iterable[Observation]:
        """Hand every pending series to the SDK (called by the SDK as a collection starts, on the
        collecting thread). Observes nothing itself."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for entry in pending.values():
            entry.emit()
        return ()
