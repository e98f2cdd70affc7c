"""Recording GenAI and sidecar-health metrics for the active semconv versions.

:class:`GenAIMetrics` owns one instrument per name for the versions in use and records each
logical signal on all of them, adding the per-instrument attributes (``error.type`` where the
convention has it, ``gen_ai.token.type`` / ``gen_ai.token.modality`` for token counts).
:class:`HealthMetrics` holds the own-namespace instruments and ``http.server.request.duration``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from opentelemetry.context import Context
from opentelemetry.metrics import Counter, Histogram, Meter, UpDownCounter

from sidecar.genai import finish
from sidecar.genai.observations import ModalityCounts, ServerTiming, Usage
from sidecar.telemetry import instruments, semconv
from sidecar.telemetry.cardinality import CardinalityGuard
from sidecar.telemetry.chunk_histogram import ChunkSamples
from sidecar.telemetry.metric_batch import MetricBatch
from sidecar.telemetry.semconv import MetricSpec, SemconvVersion, Signal, TokenModality

Attributes: TypeAlias = Mapping[str, str | int]
_NO_ATTRIBUTES: Attributes = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOutcome:
    """What one finished GenAI call contributes to the end-of-call metrics."""

    duration_s: float
    error_type: str | None
    stream: bool
    #: Time to first output chunk (streaming calls that produced output), else None.
    ttfc_s: float | None
    usage: Usage | None
    server_timing: ServerTiming | None
    #: The model server answered (a status line arrived). False for the sidecar's own 502/504
    #: and a connection error: then no ``gen_ai.server.*`` metric is recorded.
    server_responded: bool = True
    #: The operation (``gen_ai.operation.name``): embeddings have metrics of their own (latest).
    embeddings: bool = False


def by_modality(total: float, modalities: ModalityCounts) -> list[tuple[str, float]]:
    """``total`` as ``(gen_ai.token.modality, count)`` parts: the provider's breakdown, and what
    it leaves over as ``unknown``, so the parts add up to ``total`` (a breakdown larger than the
    total is taken as it is). Without a breakdown: all of it ``unknown``."""
    parts: list[tuple[str, float]] = [(modality.value, count) for modality, count in modalities]
    rest = total - sum(count for _, count in modalities)
    if rest > 0 or not parts:
        parts.append((TokenModality.UNKNOWN.value, rest if parts else total))
    return parts


class GenAIMetrics:
    """The GenAI instruments of the active semconv versions, recorded through ``batch``."""

    def __init__(self, meter: Meter, versions: tuple[SemconvVersion, ...], batch: MetricBatch) -> None:
        self._batch = batch
        by_name: dict[str, instruments.Instrument] = {}
        self._signals: dict[Signal, tuple[tuple[MetricSpec, instruments.Instrument], ...]] = {}
        for signal, per_version in semconv.SIGNALS.items():
            entries: dict[str, tuple[MetricSpec, instruments.Instrument]] = {}
            for version in versions:
                spec = per_version.get(version)
                if spec is None or spec.name in entries:
                    continue
                if spec.name not in by_name:
                    by_name[spec.name] = instruments.create(meter, spec)
                entries[spec.name] = (spec, by_name[spec.name])
            self._signals[signal] = tuple(entries.values())
        self._finish_reasons: Counter = instruments.create_finish_reasons(meter)
        self._usage_missing: Counter = instruments.create_usage_missing(meter)
        # The time-per-output-chunk instruments of every version share one set of boundaries.
        (self.chunk_bounds,) = {spec.buckets or () for spec, _ in self._signals[Signal.TIME_PER_OUTPUT_CHUNK]}

    def chunk_samples(self) -> ChunkSamples:
        """A fresh per-stream aggregate of time-per-output-chunk samples."""
        return ChunkSamples(self.chunk_bounds)

    def record_chunk_samples(
        self, samples: ChunkSamples, attributes: Attributes, ctx: Context | None
    ) -> None:
        """A stream's time-per-output-chunk samples, merged into the exported histogram at once."""
        if samples.count:
            for _, instrument in self._signals[Signal.TIME_PER_OUTPUT_CHUNK]:
                assert isinstance(instrument, Histogram)
                self._batch.merge(instrument, samples, attributes, ctx)

    def record_finish_reasons(
        self, reasons: tuple[str, ...], attributes: Attributes, ctx: Context | None
    ) -> None:
        """One count per choice's finish reason, with the call's metric attributes; the label is
        the normalised reason (:mod:`sidecar.genai.finish`), the same across providers."""
        for reason in reasons:
            attrs = {**attributes, semconv.FINISH_REASON: finish.normalised(reason)}
            self._batch.add(self._finish_reasons, 1, attrs, ctx)

    def record_usage_missing(self, operation: str, reason: str, ctx: Context | None) -> None:
        """One GenAI call that ended without any token usage, and why (``reason``)."""
        attrs = {semconv.GEN_AI_OPERATION_NAME: operation, semconv.REASON: reason}
        self._batch.add(self._usage_missing, 1, attrs, ctx)

    def record(
        self,
        signal: Signal,
        value: float | None,
        attributes: Attributes,
        *,
        ctx: Context | None = None,
        error_type: str | None = None,
        modalities: ModalityCounts = (),
    ) -> None:
        """Record ``value`` on every instrument of ``signal``. ``None`` records nothing, except
        on instruments that record ``0`` when the value is absent (latest token counts); a
        breakdown instrument records nothing for ``0``. An instrument with
        ``gen_ai.token.modality`` records ``value`` split by ``modalities`` (the provider's
        breakdown), the rest as ``unknown``."""
        for spec, instrument in self._signals[signal]:
            amount = value
            if amount is None:
                if not spec.zero_when_absent:
                    continue
                amount = 0
            elif spec.skip_zero and amount == 0:
                continue
            if not (spec.error_type or spec.token_type or spec.modality):
                self._emit(instrument, amount, attributes, ctx)
                continue
            attrs = dict(attributes)
            if spec.error_type and error_type:
                attrs[semconv.ERROR_TYPE] = error_type
            if spec.token_type is not None:
                attrs[semconv.GEN_AI_TOKEN_TYPE] = spec.token_type.value
            if not spec.modality:
                self._emit(instrument, amount, attrs, ctx)
                continue
            for modality, part in by_modality(amount, modalities):
                self._emit(instrument, part, {**attrs, semconv.GEN_AI_TOKEN_MODALITY: modality}, ctx)

    def _emit(
        self, instrument: instruments.Instrument, value: float, attributes: Attributes, ctx: Context | None
    ) -> None:
        if isinstance(instrument, Histogram):
            self._batch.record(instrument, value, attributes, ctx)
        else:
            self._batch.add(instrument, value, attributes, ctx)

    def record_call(self, outcome: CallOutcome, attributes: Attributes, ctx: Context | None) -> bool:
        """End-of-call metrics: duration, token usage, server-side timings. True when a server
        timing was derived from the stream rather than taken from the server's own fields."""
        err = outcome.error_type
        u = outcome.usage or Usage()
        if outcome.embeddings:
            self.record(Signal.EMBEDDINGS_DURATION, outcome.duration_s, attributes, ctx=ctx, error_type=err)
            if err is None:
                self.record(Signal.EMBEDDINGS_INPUT_TOKENS, u.input_tokens, attributes, ctx=ctx)
        else:
            self.record(Signal.OPERATION_DURATION, outcome.duration_s, attributes, ctx=ctx, error_type=err)
            # The counters are split by the provider's modality breakdown; what it does not break
            # down is "unknown" (token-metrics.yaml: "When the provider does not break usage down
            # by modality ..., instrumentations SHOULD report the tokens under `unknown`").
            for signal, value, modalities in (
                (Signal.INPUT_TOKENS, u.input_tokens, u.input_modalities),
                (Signal.OUTPUT_TOKENS, u.output_tokens, u.output_modalities),
                (Signal.CACHE_READ_TOKENS, u.cache_read_tokens, u.cache_read_modalities),
                (Signal.CACHE_WRITE_TOKENS, u.cache_write_tokens, ()),
                (Signal.REASONING_TOKENS, u.reasoning_tokens, ()),
            ):
                self.record(signal, value, attributes, ctx=ctx, modalities=modalities)
            if err is None:  # the per-operation histograms: not for failed operations
                self.record(Signal.OPERATION_INPUT_TOKENS, u.input_tokens, attributes, ctx=ctx)
                self.record(Signal.OPERATION_OUTPUT_TOKENS, u.output_tokens, attributes, ctx=ctx)
        if not outcome.server_responded:
            return False  # gen_ai.server.*: only for a response that came from the model server
        timing = outcome.server_timing or ServerTiming()
        server_duration = timing.request_duration_s
        if server_duration is None:
            server_duration = outcome.duration_s
        self.record(Signal.SERVER_REQUEST_DURATION, server_duration, attributes, ctx=ctx, error_type=err)
        if err is not None:
            return False  # time to first token / per output token: successful responses only
        derived = False
        ttft = timing.time_to_first_token_s
        if ttft is None and outcome.stream:
            ttft = outcome.ttfc_s
            derived = ttft is not None
        self.record(Signal.SERVER_TIME_TO_FIRST_TOKEN, ttft, attributes, ctx=ctx)
        tpot = timing.time_per_output_token_s
        output_tokens = u.output_tokens
        if (
            tpot is None
            and outcome.stream
            and outcome.ttfc_s is not None
            and output_tokens is not None
            and output_tokens > 1
        ):
            tpot = max(0.0, outcome.duration_s - outcome.ttfc_s) / (output_tokens - 1)
            derived = True
        self.record(Signal.SERVER_TIME_PER_OUTPUT_TOKEN, tpot, attributes, ctx=ctx)
        return derived


class HealthMetrics:
    """Own-namespace sidecar health metrics and the HTTP server duration."""

    def __init__(
        self, meter: Meter, guard: CardinalityGuard, export_dropped: Counter, batch: MetricBatch
    ) -> None:
        self._guard = guard
        self._batch = batch
        self.tap_errors: Counter = instruments.create_tap_errors(meter)
        self.requests_active: UpDownCounter = instruments.create_requests_active(meter)
        self.proxied_bytes: Counter = instruments.create_proxied_bytes(meter)
        self.requests_rejected: Counter = instruments.create_requests_rejected(meter)
        self.http_duration: Histogram = instruments.create_http_server_request_duration(meter)
        self.usage_injection_refused: Counter = instruments.create_usage_injection_refused(meter)
        self.export_dropped = export_dropped

    def tap_error(self, reason: str) -> None:
        self.tap_errors.add(1, {semconv.REASON: self._guard.value(semconv.REASON, reason)})

    def request_rejected(self, reason: str) -> None:
        self.requests_rejected.add(1, {semconv.REASON: self._guard.value(semconv.REASON, reason)})

    def http_request(
        self, method: str, status: int | None, error_type: str | None, duration_s: float
    ) -> None:
        upper = method.upper()
        attrs: dict[str, str | int] = {
            semconv.HTTP_REQUEST_METHOD: upper if upper in semconv.HTTP_METHODS else semconv.OTHER,
            # The proxy listener speaks plain HTTP/1.1 (aiohttp; no TLS, no HTTP/2).
            semconv.URL_SCHEME: "http",
            semconv.NETWORK_PROTOCOL_VERSION: "1.1",
        }
        if status is not None:
            attrs[semconv.HTTP_RESPONSE_STATUS_CODE] = status
        if error_type is not None:
            attrs[semconv.ERROR_TYPE] = error_type
        self._batch.record(self.http_duration, duration_s, attrs)

    def request_started(self) -> None:
        """One more request in flight (``genai_sidecar.requests.active``)."""
        self._batch.add(self.requests_active, 1, _NO_ATTRIBUTES)

    def request_ended(self, response_bytes: int | None) -> None:
        """One request less in flight, and the response bytes it sent."""
        self._batch.add(self.requests_active, -1, _NO_ATTRIBUTES)
        if response_bytes is not None:
            self._batch.add(self.proxied_bytes, max(0, response_bytes), _NO_ATTRIBUTES)
