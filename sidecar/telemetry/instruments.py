"""One factory per instrument: semconv name, unit, description and advised bucket boundaries.

The sidecar sits between the client and the model server. It is a *client* of the model server,
so the ``gen_ai.client.*`` metrics are measured at the sidecar (what a client next to the server
would see, without the client's own network path). The ``gen_ai.server.*`` metrics describe the
model server itself: taken from its own timing fields when it reports them, else derived from the
stream as seen by the sidecar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from opentelemetry.metrics import Counter, Histogram, Meter, UpDownCounter

from sidecar.telemetry import semconv
from sidecar.telemetry.semconv import MetricSpec, Signal

Instrument: TypeAlias = Histogram | Counter | UpDownCounter


def _histogram(meter: Meter, spec: MetricSpec) -> Histogram:
    return meter.create_histogram(
        name=spec.name,
        unit=spec.unit,
        description=spec.description,
        explicit_bucket_boundaries_advisory=list(spec.buckets) if spec.buckets else None,
    )


def _counter(meter: Meter, spec: MetricSpec) -> Counter:
    return meter.create_counter(name=spec.name, unit=spec.unit, description=spec.description)


def _v141(signal: Signal) -> MetricSpec:
    return semconv.SIGNALS[signal][semconv.V1_41]


def _latest(signal: Signal) -> MetricSpec:
    return semconv.SIGNALS[signal][semconv.LATEST]


# ------------------------------------------------------------------------ v1.41.0 client metrics


def create_client_operation_duration(meter: Meter) -> Histogram:
    """Client side, at the sidecar: complete request head received -> last response byte sent
    to the client (or the failure). One sample per GenAI call."""
    return _histogram(meter, _v141(Signal.OPERATION_DURATION))


def create_client_operation_time_to_first_chunk(meter: Meter) -> Histogram:
    """Client side, at the sidecar: request head -> arrival of the first output-carrying chunk.
    Streaming calls only."""
    return _histogram(meter, _v141(Signal.TIME_TO_FIRST_CHUNK))


def create_client_operation_time_per_output_chunk(meter: Meter) -> Histogram:
    """Client side, at the sidecar: one sample per output chunk after the first, the time since
    the previous output chunk arrived. Streaming calls only."""
    return _histogram(meter, _v141(Signal.TIME_PER_OUTPUT_CHUNK))


def create_client_token_usage(meter: Meter) -> Histogram:
    """Model server's own usage report, one sample per token type (input, output) per call;
    nothing when the server reported no usage."""
    return _histogram(meter, _v141(Signal.INPUT_TOKENS))


# ------------------------------------------------------------------------- latest client metrics


def create_client_inference_duration(meter: Meter) -> Histogram:
    """Client side, at the sidecar: as ``gen_ai.client.operation.duration`` under its new name."""
    return _histogram(meter, _latest(Signal.OPERATION_DURATION))


def create_client_inference_time_to_first_chunk(meter: Meter) -> Histogram:
    """Client side, at the sidecar: request head -> first output chunk. Streaming calls only."""
    return _histogram(meter, _latest(Signal.TIME_TO_FIRST_CHUNK))


def create_client_inference_time_per_output_chunk(meter: Meter) -> Histogram:
    """Client side, at the sidecar: gap between consecutive output chunks, one sample per chunk
    after the first. Streaming calls only."""
    return _histogram(meter, _latest(Signal.TIME_PER_OUTPUT_CHUNK))


def create_client_inference_usage_input_tokens(meter: Meter) -> Counter:
    """Model server's usage report: input tokens (cached included); 0 with modality ``unknown``
    when no usage arrived."""
    return _counter(meter, _latest(Signal.INPUT_TOKENS))


def create_client_inference_usage_output_tokens(meter: Meter) -> Counter:
    """Model server's usage report: output tokens (reasoning included); 0 when absent."""
    return _counter(meter, _latest(Signal.OUTPUT_TOKENS))


def create_client_inference_usage_cache_read_input_tokens(meter: Meter) -> Counter:
    """Model server's usage report: input tokens served from its prompt cache."""
    return _counter(meter, _latest(Signal.CACHE_READ_TOKENS))


def create_client_inference_usage_cache_write_input_tokens(meter: Meter) -> Counter:
    """Model server's usage report: input tokens written to its prompt cache."""
    return _counter(meter, _latest(Signal.CACHE_WRITE_TOKENS))


def create_client_inference_usage_reasoning_output_tokens(meter: Meter) -> Counter:
    """Model server's usage report: output tokens spent on reasoning."""
    return _counter(meter, _latest(Signal.REASONING_TOKENS))


def create_client_inference_operation_input_tokens(meter: Meter) -> Histogram:
    """Model server's usage report: input tokens per call (distribution), 0 when absent."""
    return _histogram(meter, _latest(Signal.OPERATION_INPUT_TOKENS))


def create_client_inference_operation_output_tokens(meter: Meter) -> Histogram:
    """Model server's usage report: output tokens per call (distribution), 0 when absent."""
    return _histogram(meter, _latest(Signal.OPERATION_OUTPUT_TOKENS))


# ---------------------------------------------------------------- server metrics (both versions)


def create_server_request_duration(meter: Meter) -> Histogram:
    """Model server side: its own total request time when it reports one (Ollama
    ``total_duration``), else the duration the sidecar observed."""
    return _histogram(meter, _v141(Signal.SERVER_REQUEST_DURATION))


def create_server_time_to_first_token(meter: Meter) -> Histogram:
    """Model server side: queue + prefill time from its timing fields (Ollama
    ``load_duration + prompt_eval_duration``, llama.cpp ``prompt_ms``), else the sidecar's TTFC.
    Successful responses only."""
    return _histogram(meter, _v141(Signal.SERVER_TIME_TO_FIRST_TOKEN))


def create_server_time_per_output_token(meter: Meter) -> Histogram:
    """Model server side: decode time per output token after the first, from its timing fields
    (Ollama ``eval_duration / eval_count``, llama.cpp ``predicted_per_token_ms``), else
    (duration - TTFT) / (output tokens - 1). Successful responses only."""
    return _histogram(meter, _v141(Signal.SERVER_TIME_PER_OUTPUT_TOKEN))


# ------------------------------------------------------------------------ own-namespace metrics


def create_client_embeddings_duration(meter: Meter) -> Histogram:
    """Client side, at the sidecar (latest): the duration of an embeddings call, which the
    development branch no longer records on the inference or generic operation metric."""
    return _histogram(meter, _latest(Signal.EMBEDDINGS_DURATION))


def create_client_embeddings_operation_input_tokens(meter: Meter) -> Histogram:
    """Model server's usage report (latest): input tokens per successful embeddings call."""
    return _histogram(meter, _latest(Signal.EMBEDDINGS_INPUT_TOKENS))


def create_finish_reasons(meter: Meter) -> Counter:
    """Response side, one count per choice's finish reason (``length``, ``content_filter``,
    ``error``...): the mix that dashboards and alerts need, which semconv keeps on spans only."""
    return _counter(meter, semconv.FINISH_REASONS)


def create_tap_errors(meter: Meter) -> Counter:
    """Sidecar itself: streams whose decoding/telemetry tap failed and was switched off."""
    return _counter(meter, semconv.TAP_ERRORS)


def create_requests_active(meter: Meter) -> UpDownCounter:
    """Sidecar itself: requests in flight (request head received, response not yet finished)."""
    spec = semconv.REQUESTS_ACTIVE
    return meter.create_up_down_counter(name=spec.name, unit=spec.unit, description=spec.description)


def create_requests_rejected(meter: Meter) -> Counter:
    """Sidecar itself: connections or requests refused before anything was forwarded, by ``reason``."""
    return _counter(meter, semconv.REQUESTS_REJECTED)


def create_proxied_bytes(meter: Meter) -> Counter:
    """Sidecar itself: response body bytes written to clients."""
    return _counter(meter, semconv.PROXIED_BYTES)


def create_export_dropped(meter: Meter) -> Counter:
    """Sidecar itself: telemetry items lost on the way to the collector (queue full, export
    failed), by ``signal`` and ``reason``."""
    return _counter(meter, semconv.EXPORT_DROPPED)


def create_cost(meter: Meter) -> Counter:
    """Per call, its token usage priced by the operator's price table (opt-in), by currency,
    model and the attribution attributes; an unpriced model adds 0 under ``_UNPRICED``."""
    return _counter(meter, semconv.COST)


def create_usage_missing(meter: Meter) -> Counter:
    """Response side, one count per GenAI call that ended without any token usage, by operation
    and reason: the share of calls whose tokens are unknown, for a coverage panel."""
    return _counter(meter, semconv.USAGE_MISSING)


def create_usage_injection_refused(meter: Meter) -> Counter:
    """Sidecar itself: requests whose upstream rejected the added ``stream_options.include_usage``
    and that were resent as the client wrote them."""
    return _counter(meter, semconv.USAGE_INJECTION_REFUSED)


def create_http_server_request_duration(meter: Meter) -> Histogram:
    """Sidecar as an HTTP server: request head -> response finished, for every proxied request,
    GenAI or not."""
    return _histogram(meter, semconv.HTTP_SERVER_REQUEST_DURATION)


_ALL: tuple[tuple[MetricSpec, Callable[[Meter], Instrument]], ...] = (
    (_v141(Signal.OPERATION_DURATION), create_client_operation_duration),
    (_v141(Signal.TIME_TO_FIRST_CHUNK), create_client_operation_time_to_first_chunk),
    (_v141(Signal.TIME_PER_OUTPUT_CHUNK), create_client_operation_time_per_output_chunk),
    (_v141(Signal.INPUT_TOKENS), create_client_token_usage),
    (_latest(Signal.OPERATION_DURATION), create_client_inference_duration),
    (_latest(Signal.TIME_TO_FIRST_CHUNK), create_client_inference_time_to_first_chunk),
    (_latest(Signal.TIME_PER_OUTPUT_CHUNK), create_client_inference_time_per_output_chunk),
    (_latest(Signal.INPUT_TOKENS), create_client_inference_usage_input_tokens),
    (_latest(Signal.OUTPUT_TOKENS), create_client_inference_usage_output_tokens),
    (_latest(Signal.CACHE_READ_TOKENS), create_client_inference_usage_cache_read_input_tokens),
    (_latest(Signal.CACHE_WRITE_TOKENS), create_client_inference_usage_cache_write_input_tokens),
    (_latest(Signal.REASONING_TOKENS), create_client_inference_usage_reasoning_output_tokens),
    (_latest(Signal.OPERATION_INPUT_TOKENS), create_client_inference_operation_input_tokens),
    (_latest(Signal.OPERATION_OUTPUT_TOKENS), create_client_inference_operation_output_tokens),
    (_latest(Signal.EMBEDDINGS_DURATION), create_client_embeddings_duration),
    (_latest(Signal.EMBEDDINGS_INPUT_TOKENS), create_client_embeddings_operation_input_tokens),
    (_v141(Signal.SERVER_REQUEST_DURATION), create_server_request_duration),
    (_v141(Signal.SERVER_TIME_TO_FIRST_TOKEN), create_server_time_to_first_token),
    (_v141(Signal.SERVER_TIME_PER_OUTPUT_TOKEN), create_server_time_per_output_token),
    (semconv.FINISH_REASONS, create_finish_reasons),
    (semconv.TAP_ERRORS, create_tap_errors),
    (semconv.REQUESTS_ACTIVE, create_requests_active),
    (semconv.REQUESTS_REJECTED, create_requests_rejected),
    (semconv.PROXIED_BYTES, create_proxied_bytes),
    (semconv.EXPORT_DROPPED, create_export_dropped),
    (semconv.COST, create_cost),
    (semconv.USAGE_MISSING, create_usage_missing),
    (semconv.USAGE_INJECTION_REFUSED, create_usage_injection_refused),
    (semconv.HTTP_SERVER_REQUEST_DURATION, create_http_server_request_duration),
)

#: Instrument name -> its factory.
FACTORIES: dict[str, Callable[[Meter], Instrument]] = {spec.name: make for spec, make in _ALL}


def create(meter: Meter, spec: MetricSpec) -> Instrument:
    """The instrument for ``spec``, built by its factory."""
    return FACTORIES[spec.name](meter)
