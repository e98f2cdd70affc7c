"""StreamRecorder: the telemetry of one proxied request, fed by the proxy as the response streams.

Times are ``time.perf_counter()`` floats taken by the proxy at the moment something happened
(request head complete, chunk arrival, last byte sent); span timestamps are mapped from them to
wall-clock time. A recorder finishes exactly once: the first ``finish``/``fail`` wins, later
calls are no-ops. No method raises into the caller: a failure is logged at debug level and
counted as ``genai_sidecar.tap.errors{reason="telemetry"}``.

``error.type`` (metrics and span): the ``fail`` argument (``timeout``, ``connection_error``,
``client_cancel``...) when the call failed; else the HTTP status code as a string for a response
>= 400; else the provider's error type for an error reported in the body (``upstream_error`` when
it names none); else ``premature_end`` for a stream that stopped before its terminal event.
``http.server.request.duration`` follows the HTTP conventions instead: ``error.type`` only for a
failure or a status >= 500.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace as trace_api
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode

from sidecar.genai.accumulator import CallAccumulator, cap
from sidecar.genai.observations import Operation, RequestInfo, Usage
from sidecar.telemetry import semconv
from sidecar.telemetry.call_log import CallRecord
from sidecar.telemetry.capture import as_span_attributes
from sidecar.telemetry.metrics import CallOutcome
from sidecar.telemetry.semconv import ErrorType, Signal

if TYPE_CHECKING:
    from sidecar.telemetry.pipeline import Telemetry

_log = logging.getLogger(__name__)

#: ``tap.errors`` reason for a failure inside the telemetry layer itself.
TELEMETRY_FAILURE: Final = "telemetry"


class _HeaderGetter(Getter[Mapping[str, str]]):
    """Case-insensitive header access for the W3C propagators (plain dicts and multidicts)."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            lower = key.lower()
            for name, item in carrier.items():
                if name.lower() == lower:
                    value = item
                    break
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier.keys())


_GETTER: Final = _HeaderGetter()
_BREAKDOWN_ATTRIBUTES: Final = (
    semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
)
#: Most stop sequences kept for the span attribute.
MAX_STOP_SEQUENCES: Final = 16


def _capped(request: RequestInfo) -> RequestInfo:
    """The request with every string it took from the body capped for telemetry (see
    :func:`~sidecar.genai.accumulator.cap`); content for opt-in capture has its own limit."""
    stops = request.stop_sequences
    return replace(
        request,
        model=cap(request.model) if request.model is not None else None,
        output_type=cap(request.output_type) if request.output_type is not None else None,
        conversation_id=cap(request.conversation_id) if request.conversation_id is not None else None,
        stop_sequences=tuple(cap(s) for s in stops[:MAX_STOP_SEQUENCES]) if stops is not None else None,
    )


class StreamRecorder:
    """Telemetry of one proxied request, fed by the proxy as the response streams."""

    __slots__ = (
        "_attribution",
        "_attrs_model",
        "_chunk_gaps",
        "_ctx",
        "_done",
        "_first_t",
        "_last_t",
        "_method",
        "_metric_attrs",
        "_request",
        "_responded",
        "_span",
        "_span_attrs",
        "_status",
        "_t0",
        "_tel",
        "_wall0_ns",
        "call",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        *,
        request: RequestInfo | None,
        method: str,
        headers: Mapping[str, str],
        t0: float,
    ) -> None:
        self._tel = telemetry
        self._request = _capped(request) if request is not None else None
        request = self._request
        self._method = method
        self._t0 = t0
        self._wall0_ns = time.time_ns() - int((time.perf_counter() - t0) * 1e9)
        self._done = False
        self._status: int | None = None
        #: The upstream's response head arrived (not the sidecar's own 502/504).
        self._responded = False
        self._first_t: float | None = None
        self._last_t: float | None = None
        self._attrs_model: str | None = None
        self._chunk_gaps = telemetry.genai.chunk_samples()
        self._span: trace_api.Span | None = None
        self._ctx: Context | None = None
        self._span_attrs: dict[str, Any] = {}
        self._metric_attrs: dict[str, str | int] = {}
        self._attribution: Mapping[str, str] = {}
        #: What the response says, written by the dialect's observer and read at the end.
        self.call = CallAccumulator()
        try:
            telemetry.health.request_started()
            if request is not None:
                attribution = telemetry.identity.attributes(headers)
                self._attribution = attribution.span
                self._metric_attrs = self._base_metric_attributes(request)
                self._metric_attrs.update(attribution.metric)
                self._start_span(request, headers, attribution.span)
        except Exception:
            self._internal_error("start")

    # ------------------------------------------------------------------------------ helpers

    def _wall_ns(self, t: float) -> int:
        return self._wall0_ns + int((t - self._t0) * 1e9)

    def _internal_error(self, where: str) -> None:
        _log.debug("telemetry failure in %s", where, exc_info=True)
        try:
            self._tel.health.tap_error(TELEMETRY_FAILURE)
        except Exception:
            _log.debug("telemetry failure count failed", exc_info=True)

    def _base_metric_attributes(self, request: RequestInfo) -> dict[str, str | int]:
        guard = self._tel.guard
        attrs: dict[str, str | int] = {
            semconv.GEN_AI_OPERATION_NAME: guard.value(
                semconv.GEN_AI_OPERATION_NAME, request.operation.value
            ),
            semconv.GEN_AI_PROVIDER_NAME: guard.value(semconv.GEN_AI_PROVIDER_NAME, request.provider),
            semconv.SERVER_ADDRESS: self._tel.server_address,
            semconv.SERVER_PORT: self._tel.server_port,
        }
        if request.model:
            attrs[semconv.GEN_AI_REQUEST_MODEL] = guard.value(semconv.GEN_AI_REQUEST_MODEL, request.model)
        return attrs

    def _request_span_attributes(self, request: RequestInfo) -> dict[str, Any]:
        tel = self._tel
        attrs: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: request.operation.value,
            semconv.GEN_AI_PROVIDER_NAME: request.provider,
            semconv.SERVER_ADDRESS: tel.server_address,
            semconv.SERVER_PORT: tel.server_port,
        }
        optional: tuple[tuple[str, Any], ...] = (
            (semconv.GEN_AI_REQUEST_MODEL, request.model),
            (semconv.GEN_AI_REQUEST_TEMPERATURE, request.temperature),
            (semconv.GEN_AI_REQUEST_TOP_P, request.top_p),
            (semconv.GEN_AI_REQUEST_MAX_TOKENS, request.max_tokens),
            (semconv.GEN_AI_REQUEST_SEED, request.seed),
            (semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY, request.frequency_penalty),
            (semconv.GEN_AI_REQUEST_PRESENCE_PENALTY, request.presence_penalty),
            (semconv.GEN_AI_OUTPUT_TYPE, request.output_type),
            (semconv.GEN_AI_CONVERSATION_ID, request.conversation_id),
        )
        attrs.update((key, value) for key, value in optional if value is not None)
        if request.top_k is not None:
            # v1.41 types top_k as a double, the development branch as an int; in "both" mode
            # the released type wins (the one rule for a key whose type changed).
            attrs[semconv.GEN_AI_REQUEST_TOP_K] = float(request.top_k) if tel.v1_41 else int(request.top_k)
        if request.stop_sequences is not None:
            attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(request.stop_sequences)
        if request.choice_count is not None and request.choice_count != 1:
            attrs[semconv.GEN_AI_REQUEST_CHOICE_COUNT] = request.choice_count
        if request.stream:
            attrs[semconv.GEN_AI_REQUEST_STREAM] = True
        if request.encoding_formats:
            attrs[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] = request.encoding_formats
        if request.dimensions is not None:
            attrs[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = request.dimensions
        if request.openai_api is not None and request.provider == "openai":
            attrs[semconv.OPENAI_API_TYPE] = request.openai_api
        if tel.latest:
            latest: tuple[tuple[str, str | None], ...] = (
                (semconv.GEN_AI_REQUEST_REASONING_LEVEL, request.reasoning_level),
                (semconv.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID, request.previous_response_id),
            )
            attrs.update((key, value) for key, value in latest if value is not None)
        return attrs

    def _start_span(
        self, request: RequestInfo, headers: Mapping[str, str], attribution: Mapping[str, str]
    ) -> None:
        tel = self._tel
        parent = tel.propagator.extract(headers, getter=_GETTER)
        attrs = self._request_span_attributes(request)
        attrs.update(attribution)
        name = request.operation.value
        if request.model:
            name = f"{name} {request.model}"
        span = tel.tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=attrs,
            start_time=self._wall0_ns,
        )
        self._span = span
        self._ctx = trace_api.set_span_in_context(span, parent)
        self._span_attrs = attrs
        if tel.capture.enabled and (span.is_recording() or tel.capture.on_event):
            self.call = CallAccumulator(capture_bytes=tel.capture.output_chars)
            if tel.capture.on_span and span.is_recording():
                span.set_attributes(as_span_attributes(tel.capture.input_content(request)))

    # ----------------------------------------------------------------------------- the API

    def inject(self, carrier: MutableMapping[str, str]) -> None:
        """Write W3C ``traceparent``/``tracestate``/``baggage`` for this call's span into the
        upstream request headers (nothing for a non-GenAI request)."""
        if self._ctx is None:
            return
        try:
            self._tel.propagator.inject(carrier, context=self._ctx)
        except Exception:
            self._internal_error("inject")

    def response_started(self, status: int, t: float) -> None:
        """The upstream response head arrived with ``status``."""
        if self._done:
            return
        self._status = status
        self._responded = True

    def output(self, t: float, count: int = 1) -> None:
        """``count`` output chunks arrived at ``t`` (one decoded event's worth)."""
        if self._done or self._request is None:
            return
        try:
            self._on_output(t, count)
        except Exception:
            self._internal_error("output")

    def _on_output(self, t: float, count: int) -> None:
        assert self._request is not None
        model = self.call.response_model
        if model is not self._attrs_model:
            self._attrs_model = model
            self._metric_attrs = self._with_response_model(model)
        streaming = self._request.stream
        for _ in range(count):
            last = self._last_t
            self._last_t = t
            if last is None:
                self._first_t = t
                if streaming:
                    self._tel.genai.record(
                        Signal.TIME_TO_FIRST_CHUNK, t - self._t0, self._metric_attrs, ctx=self._ctx
                    )
            elif streaming:
                self._chunk_gaps.add(t - last)

    def _with_response_model(self, model: str | None) -> dict[str, str | int]:
        attrs = dict(self._metric_attrs)
        if model is None:
            attrs.pop(semconv.GEN_AI_RESPONSE_MODEL, None)
        else:
            attrs[semconv.GEN_AI_RESPONSE_MODEL] = self._tel.guard.value(semconv.GEN_AI_RESPONSE_MODEL, model)
        return attrs

    def finish(self, t: float, *, status: int, response_bytes: int) -> None:
        """The response body was fully sent to the client."""
        if self._done:
            return
        self._done = True
        try:
            self._status = status
            self._end(t, failure=None, response_bytes=response_bytes)
        except Exception:
            self._internal_error("finish")

    def fail(self, error_type: str, t: float, *, status: int | None = None) -> None:
        """The call failed (``timeout``, ``connection_error``, ``client_cancel``...)."""
        if self._done:
            return
        self._done = True
        try:
            if status is not None:
                self._status = status
            self._end(t, failure=self._tel.error_type(error_type), response_bytes=None)
        except Exception:
            self._internal_error("fail")

    # ------------------------------------------------------------------------------ ending

    def _genai_error_type(self, failure: str | None) -> str | None:
        if failure is not None:
            return failure
        if self._status is not None and self._status >= 400:
            return self._tel.error_type(str(self._status))
        call = self.call
        if call.failed:
            return self._tel.error_type(call.error_type or ErrorType.UPSTREAM_ERROR.value)
        if call.premature:
            return ErrorType.PREMATURE_END.value
        return None

    def _finish_reasons(self, error_type: str | None) -> tuple[str, ...]:
        reasons = self.call.finish_reasons
        if error_type is None:
            return tuple(reasons[i] for i in sorted(reasons))
        seen = self.call.choices | set(reasons)
        count = max(seen) + 1 if seen else 1
        error = semconv.FinishReasonValue.ERROR.value
        return tuple(reasons.get(i, error) for i in range(count))

    def _end(self, t: float, *, failure: str | None, response_bytes: int | None) -> None:
        tel = self._tel
        duration = max(0.0, t - self._t0)
        http_error = failure
        if http_error is None and self._status is not None and self._status >= 500:
            http_error = str(self._status)
        tel.health.request_ended(response_bytes)
        tel.health.http_request(self._method, self._status, http_error, duration)
        request = self._request
        if request is None:
            return
        call = self.call
        if call.response_model is not self._attrs_model:
            self._attrs_model = call.response_model
            self._metric_attrs = self._with_response_model(call.response_model)
        usage = call.usage_report()
        error_type = self._genai_error_type(failure)
        ttfc = None
        if request.stream and self._first_t is not None:
            ttfc = self._first_t - self._t0
        if request.stream:
            tel.genai.record_chunk_samples(self._chunk_gaps, self._metric_attrs, self._ctx)
        derived = tel.genai.record_call(
            CallOutcome(
                duration_s=duration,
                error_type=error_type,
                stream=request.stream,
                ttfc_s=ttfc,
                usage=usage,
                server_timing=call.server_timing_report(),
                server_responded=self._responded,
                embeddings=request.operation is Operation.EMBEDDINGS,
            ),
            self._metric_attrs,
            self._ctx,
        )
        reasons = self._finish_reasons(error_type)
        # The counter's label is the normalised reason: six values whatever the upstream sends.
        tel.genai.record_finish_reasons(reasons, self._metric_attrs, self._ctx)
        if usage is None:
            tel.genai.record_usage_missing(request.operation.value, _missing(request, error_type), self._ctx)
        end_attrs = self._end_span_attributes(error_type, ttfc, reasons, usage)
        if derived:
            end_attrs[semconv.SERVER_TIMING_DERIVED] = True
        cost: Mapping[str, str | float] = {}
        if tel.cost is not None:
            models = (call.response_model, request.model)
            cost = tel.cost.record(usage, models, self._metric_attrs, self._ctx)
            end_attrs.update(cost)
        span = self._span
        content: dict[str, list[Any]] = {}
        if call.capturing:
            content.update(tel.capture.input_content(request) if tel.capture.on_event else {})
            content.update(tel.capture.output_content(call.captured_output(), dict(enumerate(reasons))))
        if span is not None:
            span.set_attributes(end_attrs)
            if tel.capture.on_span and span.is_recording():
                output = {k: v for k, v in content.items() if k == semconv.GEN_AI_OUTPUT_MESSAGES}
                span.set_attributes(as_span_attributes(output))
            if error_type is not None:
                span.set_status(Status(StatusCode.ERROR, semconv.status_message(error_type)))
            span.end(end_time=self._wall_ns(t))
        end_ns = self._wall_ns(t)
        if error_type is not None and tel.logger is not None:
            # The failed call's exception event (v1.41 events.yaml): never content.
            tel.logger.emit(
                timestamp=end_ns,
                context=self._ctx,
                attributes={
                    semconv.EXCEPTION_TYPE: error_type,
                    semconv.EXCEPTION_MESSAGE: semconv.status_message(error_type),
                },
                event_name=semconv.GEN_AI_OPERATION_EXCEPTION_EVENT,
                severity_number=SeverityNumber.WARN,
            )
        if tel.capture.on_event and tel.logger is not None:
            event_attrs: dict[str, Any] = {**self._span_attrs, **end_attrs, **content}
            tel.logger.emit(
                timestamp=end_ns,
                context=self._ctx,
                attributes=event_attrs,
                event_name=semconv.GEN_AI_OPERATION_DETAILS_EVENT,
                severity_number=SeverityNumber.DEBUG,
            )
        if tel.call_log.enabled:
            tel.call_log.emit(
                CallRecord(
                    operation=request.operation.value,
                    provider=request.provider,
                    request_model=request.model,
                    response_model=call.response_model,
                    response_id=call.response_id,
                    stream=request.stream,
                    status=self._status,
                    error_type=error_type,
                    duration_s=duration,
                    ttfc_s=ttfc,
                    usage=usage,
                    finish_reasons=reasons,
                    output_chunks=call.output_chunks,
                    response_bytes=response_bytes,
                    attribution=self._attribution,
                    cost=cost,
                ),
                timestamp_ns=end_ns,
                ctx=self._ctx,
                span=span.get_span_context() if span is not None else None,
            )

    def _end_span_attributes(
        self, error_type: str | None, ttfc: float | None, reasons: tuple[str, ...], usage: Usage | None
    ) -> dict[str, Any]:
        tel = self._tel
        attrs: dict[str, Any] = {}
        if self.call.response_model is not None:
            attrs[semconv.GEN_AI_RESPONSE_MODEL] = self.call.response_model
        if self.call.response_id is not None:
            attrs[semconv.GEN_AI_RESPONSE_ID] = self.call.response_id
        if self._request is not None and self._request.provider == "openai":
            openai: tuple[tuple[str, str | None], ...] = (
                (semconv.OPENAI_RESPONSE_SERVICE_TIER, self.call.service_tier),
                (semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, self.call.system_fingerprint),
            )
            attrs.update((key, value) for key, value in openai if value is not None)
        if reasons:
            attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        if ttfc is not None:
            attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
        if usage is not None:
            attrs[semconv.USAGE_SOURCE] = self.call.usage_source
            cache_write: list[str] = []
            if tel.v1_41:
                cache_write.append(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
            if tel.latest:
                cache_write.append(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS)
            fields: list[tuple[str, int | None]] = [
                (semconv.GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens),
                (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens),
                (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cache_read_tokens),
                (semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning_tokens),
            ]
            fields.extend((name, usage.cache_write_tokens) for name in cache_write)
            attrs.update((key, value) for key, value in fields if value is not None)
            # A breakdown the provider reports as 0 is not emitted (as the usage counters).
            for key in _BREAKDOWN_ATTRIBUTES:
                if attrs.get(key) == 0:
                    del attrs[key]
            if tel.latest:
                attrs.update(_modality_attributes(usage))
        if self._status is not None:
            attrs[semconv.HTTP_RESPONSE_STATUS_CODE] = self._status
        if error_type is not None:
            attrs[semconv.ERROR_TYPE] = error_type
        return attrs


def _modality_attributes(usage: Usage) -> dict[str, int]:
    """``gen_ai.usage.<modality>.*`` of the provider's breakdown (non-zero counts only)."""
    attrs: dict[str, int] = {}
    for position, counts in enumerate(
        (usage.input_modalities, usage.output_modalities, usage.cache_read_modalities)
    ):
        for modality, count in counts:
            attrs[semconv.GEN_AI_USAGE_BY_MODALITY[modality.value][position]] = count
    return attrs


def _missing(request: RequestInfo, error_type: str | None) -> str:
    """Why a call has no usage: it failed, its OpenAI-format stream did not ask, or the server
    sent none."""
    if error_type is not None:
        return "error"
    if not request.usage_requested:
        return "not_requested"
    return "not_reported"
