"""Cardinality guard: capped distinct values per attribute, model allow-list; length caps on every
value a request or response gives to telemetry."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from sidecar.genai.accumulator import MAX_VALUE_CHARS
from sidecar.genai.observations import OutputKind, UpstreamError
from sidecar.telemetry import semconv
from sidecar.telemetry.cardinality import CardinalityGuard
from tests.steps import FinishReason, OutputChunk, ResponseInfo, StreamComplete
from tests.telemetry.conftest import MakeSink, chat
from tests.telemetry.test_recorder_metrics import T0, run

FINISH_REASONS = "genai_sidecar.finish_reasons"


def test_values_past_the_cap_become_other() -> None:
    guard = CardinalityGuard(2)
    assert guard.value("k", "a") == "a"
    assert guard.value("k", "b") == "b"
    assert guard.value("k", "c") == "_OTHER"
    assert guard.value("k", "a") == "a"  # admitted values keep their name
    assert guard.value("other", "c") == "c"  # caps are per attribute
    assert guard.distinct("k") == 2


def test_allow_list_pins_model_names() -> None:
    guard = CardinalityGuard(100, model_allow_list=("llama3",))
    assert guard.value("gen_ai.request.model", "llama3") == "llama3"
    assert guard.value("gen_ai.request.model", "mistral") == "_OTHER"
    assert guard.value("gen_ai.response.model", "mistral") == "_OTHER"
    assert guard.value("gen_ai.provider.name", "mistral") == "mistral"


def test_overlong_values_are_never_admitted() -> None:
    assert CardinalityGuard(100).value("k", "x" * 1000) == "_OTHER"


def test_request_models_capped_on_metrics_not_on_spans(make_sink: MakeSink) -> None:
    sink = make_sink(max_attribute_values=2)
    for model in ("m1", "m2", "m3", "m4"):
        run(sink, [], request=chat(model=model))
    models = sorted(
        p.attributes["gen_ai.request.model"] for p in sink.points("gen_ai.client.operation.duration")
    )
    assert models == ["_OTHER", "m1", "m2"]
    other = next(
        p
        for p in sink.points("gen_ai.client.operation.duration")
        if p.attributes["gen_ai.request.model"] == "_OTHER"
    )
    assert other.count == 2
    span_models = {s.attributes["gen_ai.request.model"] for s in sink.spans.get_finished_spans()}
    assert span_models == {"m1", "m2", "m3", "m4"}


def test_error_types_are_capped(make_sink: MakeSink) -> None:
    sink = make_sink(max_attribute_values=1)
    for reason in ("timeout", "weird_1", "weird_2"):
        recorder = sink.telemetry.start(request=chat(), method="POST", headers={}, t0=0.0)
        recorder.fail(reason, 1.0)
    values = sorted(p.attributes["error.type"] for p in sink.points("gen_ai.client.operation.duration"))
    assert values == ["_OTHER", "timeout"]


def test_finish_reason_labels_are_a_closed_set(make_sink: MakeSink) -> None:
    """The counter's label is the normalised reason, whatever the upstream sends (and however
    many distinct values): a hostile upstream cannot grow it, nor push real reasons out."""
    sink = make_sink(max_attribute_values=2)
    for reason in ("odd_1", "x" * 300, "end_turn", "max_tokens", "stop", "length", "tool_use"):
        run(sink, [(T0 + 0.5, FinishReason(reason=reason)), (T0 + 0.6, StreamComplete())], request=chat())
    counts = {p.attributes[semconv.FINISH_REASON]: p.value for p in sink.points(FINISH_REASONS)}
    assert counts == {"other": 2, "stop": 2, "length": 2, "tool_call": 1}


#: A client-chosen string far past any sane length (the hostile case of issue #10).
HUGE = "m" * (1 << 20)


def test_megabyte_request_and_response_values_are_capped_everywhere(make_sink: MakeSink) -> None:
    sink = make_sink(call_log="stdout")
    request = chat(model=HUGE, conversation_id=HUGE, stop_sequences=(HUGE,) * 100)
    script = [
        (T0 + 0.1, ResponseInfo(model=HUGE, id=HUGE)),
        (T0 + 0.2, OutputChunk(kind=OutputKind.TEXT, text="hi")),
        (T0 + 0.3, FinishReason(reason=HUGE)),
        (T0 + 0.4, UpstreamError(type=HUGE, message=HUGE)),
    ]
    run(sink, script, request=request)
    span = sink.span()
    limit = MAX_VALUE_CHARS + 1
    assert len(span.name) <= len("chat ") + limit
    for key, value in (span.attributes or {}).items():
        values = value if isinstance(value, tuple) else (value,)
        assert all(len(str(v)) <= limit for v in values), key
    assert len(span.attributes["gen_ai.request.stop_sequences"]) <= 16  # type: ignore[arg-type, index]
    for point in sink.points("gen_ai.client.operation.duration"):
        assert point.attributes["gen_ai.request.model"] == "_OTHER"
        assert point.attributes["gen_ai.response.model"] == "_OTHER"
    # What a collector receives stays far below a 4 MiB gRPC message limit.
    assert encode_spans([span]).ByteSize() < 16 * 1024
    logs = [record.log_record for record in sink.logs.get_finished_logs()]
    assert logs
    for log in logs:
        for key, value in (log.body or {}).items():  # type: ignore[union-attr]
            values = value if isinstance(value, (list, tuple)) else (value,)
            assert all(len(str(v)) <= limit for v in values), key
    assert encode_logs(sink.logs.get_finished_logs()).ByteSize() < 16 * 1024
