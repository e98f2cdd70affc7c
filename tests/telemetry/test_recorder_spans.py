"""The inference span: name, kind, parent, timing, attributes, status, propagation."""

from __future__ import annotations

import time

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from sidecar.config import ConfigError
from sidecar.genai.observations import (
    Operation,
    OutputKind,
    RequestInfo,
    Usage,
)
from tests.steps import FinishReason, OutputChunk, PrematureEnd, ResponseInfo, StreamComplete
from tests.telemetry.conftest import SERVER_ADDRESS, SERVER_PORT, MakeSink, Sink, chat, observe
from tests.telemetry.test_recorder_metrics import STREAM, run

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def test_span_name_kind_and_parent(sink: Sink) -> None:
    run(sink, STREAM, headers={"traceparent": TRACEPARENT, "tracestate": "vendor=1"})
    span = sink.span()
    assert span.name == "chat llama3"
    assert span.kind is SpanKind.CLIENT
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.context.trace_state.get("vendor") == "1"
    assert span.status.status_code is StatusCode.UNSET


def test_span_without_model_is_named_by_operation(sink: Sink) -> None:
    run(sink, [], request=chat(model=None))
    assert sink.span().name == "chat"
    assert "gen_ai.request.model" not in sink.span().attributes


def test_parent_header_lookup_is_case_insensitive(sink: Sink) -> None:
    run(sink, [], headers={"TraceParent": TRACEPARENT})
    assert format(sink.span().context.trace_id, "032x") == TRACE_ID


def test_span_timing_maps_perf_counter_to_wall_clock(sink: Sink) -> None:
    t0 = time.perf_counter()
    before = time.time_ns()
    recorder = sink.telemetry.start(request=chat(), method="POST", headers={}, t0=t0)
    recorder.finish(t0 + 1.5, status=200, response_bytes=0)
    span = sink.span()
    assert span.start_time is not None
    assert span.end_time is not None
    assert span.end_time - span.start_time == pytest.approx(1.5e9, abs=1e3)
    # started at t0 (not later), so never after the moment we called start()
    assert span.start_time <= time.time_ns()
    assert abs(span.start_time - before) < 1e9


def test_span_attributes_v1_41(sink: Sink) -> None:
    request = chat(
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        max_tokens=100,
        stop_sequences=("###",),
        seed=7,
        choice_count=2,
        frequency_penalty=0.1,
        presence_penalty=0.3,
        output_type="json",
        conversation_id="conv-1",
    )
    script = [
        *STREAM[:-3],
        (
            1000.8,
            Usage(
                input_tokens=12,
                output_tokens=4,
                cache_read_tokens=5,
                cache_write_tokens=3,
                reasoning_tokens=1,
            ),
        ),
        (1000.8, FinishReason(reason="stop")),
        (1000.8, FinishReason(reason="length", choice=1)),
        (1000.8, StreamComplete()),
    ]
    run(sink, script, request=request)
    attrs = dict(sink.span().attributes)
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.model": "llama3",
        "server.address": SERVER_ADDRESS,
        "server.port": SERVER_PORT,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40.0,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.stop_sequences": ("###",),
        "gen_ai.request.seed": 7,
        "gen_ai.request.choice.count": 2,
        "gen_ai.request.frequency_penalty": 0.1,
        "gen_ai.request.presence_penalty": 0.3,
        "gen_ai.output.type": "json",
        "gen_ai.conversation.id": "conv-1",
        "gen_ai.request.stream": True,
        "gen_ai.response.model": "llama3:8b",
        "gen_ai.response.id": "resp-1",
        "gen_ai.response.finish_reasons": ("stop", "length"),
        "gen_ai.response.time_to_first_chunk": pytest.approx(0.25),
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.usage.cache_read.input_tokens": 5,
        "gen_ai.usage.cache_creation.input_tokens": 3,
        "gen_ai.usage.reasoning.output_tokens": 1,
        "genai_sidecar.usage.source": "usage",
        "http.response.status_code": 200,
        # no server timing fields in the script: gen_ai.server.* came from the stream
        "genai_sidecar.server_timing.derived": True,
    }
    assert isinstance(attrs["gen_ai.request.top_k"], float)


def test_span_attributes_latest_renames(make_sink: MakeSink) -> None:
    sink = make_sink(semconv="latest")
    run(sink, [(1000.5, Usage(input_tokens=1, cache_write_tokens=3))], request=chat(top_k=5))
    attrs = sink.span().attributes
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 3
    assert "gen_ai.usage.cache_creation.input_tokens" not in attrs
    assert attrs["gen_ai.request.top_k"] == 5
    assert isinstance(attrs["gen_ai.request.top_k"], int)


def test_both_modes_set_both_cache_write_spellings(make_sink: MakeSink) -> None:
    sink = make_sink(semconv="both")
    run(sink, [(1000.5, Usage(cache_write_tokens=3))])
    attrs = sink.span().attributes
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 3
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 3


def test_non_streaming_span_has_no_stream_flag(sink: Sink) -> None:
    run(sink, [], request=chat(stream=False))
    assert "gen_ai.request.stream" not in sink.span().attributes


def test_premature_end_reports_error_finish_reason(sink: Sink) -> None:
    chunk = OutputChunk(kind=OutputKind.TEXT, text="partial")
    run(sink, [(1000.2, chunk), (1000.4, PrematureEnd())])
    span = sink.span()
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert span.attributes["error.type"] == "premature_end"
    assert span.status.status_code is StatusCode.ERROR


def test_failure_fills_missing_finish_reasons_with_error(sink: Sink) -> None:
    recorder = sink.telemetry.start(request=chat(choice_count=2), method="POST", headers={}, t0=0.0)
    observe(recorder, OutputChunk(kind=OutputKind.TEXT, text="a", choice=0), 0.1)
    observe(recorder, OutputChunk(kind=OutputKind.TEXT, text="b", choice=1), 0.1)
    observe(recorder, FinishReason(reason="stop", choice=0), 0.2)
    recorder.fail("client_cancel", 0.3)
    span = sink.span()
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop", "error")
    assert span.attributes["error.type"] == "client_cancel"
    assert span.status.status_code is StatusCode.ERROR


def test_http_error_response_marks_span(sink: Sink) -> None:
    run(sink, [], status=503)
    span = sink.span()
    assert span.attributes["error.type"] == "503"
    assert span.attributes["http.response.status_code"] == 503
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert span.status.status_code is StatusCode.ERROR


def test_inject_continues_the_trace_with_baggage(sink: Sink) -> None:
    headers = {"traceparent": TRACEPARENT, "tracestate": "vendor=1", "baggage": "tenant=acme"}
    recorder = sink.telemetry.start(request=chat(), method="POST", headers=headers, t0=0.0)
    carrier: dict[str, str] = {}
    recorder.inject(carrier)
    recorder.finish(0.1, status=200, response_bytes=0)
    span = sink.span()
    version, trace_id, span_id, flags = carrier["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert span_id == format(span.context.span_id, "016x")  # upstream's parent is our span
    assert carrier["tracestate"] == "vendor=1"
    assert carrier["baggage"] == "tenant=acme"


def test_unsampled_parent_records_metrics_but_exports_no_span(sink: Sink) -> None:
    headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"}
    recorder = sink.telemetry.start(request=chat(), method="POST", headers=headers, t0=0.0)
    carrier: dict[str, str] = {}
    recorder.inject(carrier)
    recorder.finish(0.1, status=200, response_bytes=0)
    assert sink.spans.get_finished_spans() == ()
    assert carrier["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert carrier["traceparent"].endswith("-00")
    assert len(sink.points("gen_ai.client.operation.duration")) == 1


def test_new_trace_without_incoming_context(sink: Sink) -> None:
    run(sink, [])
    span = sink.span()
    assert span.parent is None
    assert span.context.is_valid


def test_span_for_other_operations(sink: Sink) -> None:
    request = RequestInfo(operation=Operation.EMBEDDINGS, provider="openai", model="e5")
    run(sink, [(0.1, ResponseInfo(model="e5-large"))], request=request)
    span = sink.span()
    assert span.name == "embeddings e5"
    assert span.attributes["gen_ai.response.model"] == "e5-large"


def test_sampler_from_environment(make_sink: MakeSink) -> None:
    sink = make_sink(environ={"OTEL_TRACES_SAMPLER": "always_off"})
    run(sink, [])
    assert sink.spans.get_finished_spans() == ()
    assert len(sink.points("gen_ai.client.operation.duration")) == 1


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_SAMPLER": "sometimes"},
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"},
    ],
)
def test_bad_sampler_fails_fast(make_sink: MakeSink, environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER"):
        make_sink(environ=environ)
