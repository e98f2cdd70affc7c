"""Span attributes and events the conformance work added, read back from in-memory exporters."""

from __future__ import annotations

import pytest

from sidecar.genai.observations import Modality, Operation, RequestInfo, ServerTiming, Usage
from tests.steps import StreamComplete
from tests.telemetry.conftest import MakeSink, Sink, chat
from tests.telemetry.test_recorder_metrics import STREAM, T0, run, text


def _events(sink: Sink, name: str) -> list[object]:
    return [r.log_record for r in sink.logs.get_finished_logs() if r.log_record.event_name == name]


def test_derived_server_timings_are_flagged_on_the_span(sink: Sink) -> None:
    run(sink, STREAM)  # no server timing fields: TTFT and TPOT come from the stream
    assert sink.span().attributes["genai_sidecar.server_timing.derived"] is True


def test_server_timings_from_the_server_are_not_flagged(sink: Sink) -> None:
    timing = ServerTiming(time_to_first_token_s=0.1, time_per_output_token_s=0.02)
    run(sink, [(T0 + 0.2, text()), (T0 + 0.3, timing), (T0 + 0.3, StreamComplete())])
    assert "genai_sidecar.server_timing.derived" not in sink.span().attributes


@pytest.mark.parametrize(("mode", "present"), [("v1.41", False), ("latest", True), ("both", True)])
def test_reasoning_level_and_previous_response_in_latest_only(
    make_sink: MakeSink, mode: str, present: bool
) -> None:
    sink = make_sink(semconv=mode)
    request = chat(
        provider="openai", reasoning_level="high", previous_response_id="resp_1", openai_api="responses"
    )
    run(sink, STREAM, request=request)
    attrs = sink.span().attributes
    assert ("gen_ai.request.reasoning.level" in attrs) is present
    assert ("gen_ai.request.previous_response.id" in attrs) is present
    assert attrs["openai.api.type"] == "responses"


def test_openai_api_type_only_for_the_openai_provider(sink: Sink) -> None:
    run(sink, STREAM, request=chat(provider="vllm", openai_api="chat_completions"))
    assert "openai.api.type" not in sink.span().attributes


def test_embeddings_span_attributes(sink: Sink) -> None:
    request = RequestInfo(
        operation=Operation.EMBEDDINGS,
        provider="openai",
        model="e5",
        encoding_formats=("float",),
        dimensions=8,
    )
    run(sink, [(T0 + 0.1, Usage(input_tokens=3))], request=request)
    attrs = sink.span().attributes
    assert attrs["gen_ai.request.encoding_formats"] == ("float",)
    assert attrs["gen_ai.embeddings.dimension.count"] == 8


def test_zero_breakdowns_are_not_span_attributes(make_sink: MakeSink) -> None:
    sink = make_sink(semconv="both")
    usage = Usage(
        input_tokens=5, output_tokens=2, cache_read_tokens=0, cache_write_tokens=0, reasoning_tokens=1
    )
    run(sink, [(T0 + 0.2, text()), (T0 + 0.3, usage)])
    attrs = sink.span().attributes
    for key in (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
    ):
        assert key not in attrs
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 1


@pytest.mark.parametrize("mode", ["v1.41", "latest", "both"])
def test_a_partial_modality_breakdown(make_sink: MakeSink, mode: str) -> None:
    """A provider that breaks down only part of the usage (OpenAI reports audio tokens, not the
    rest): the counters carry the breakdown and the rest as ``unknown`` (so they add up to the
    total); the span has the non-zero breakdown attributes where the mode's conventions do."""
    sink = make_sink(semconv=mode)
    usage = Usage(
        input_tokens=100,
        output_tokens=30,
        cache_read_tokens=20,
        input_modalities=((Modality.AUDIO, 40),),
        output_modalities=((Modality.TEXT, 10), (Modality.AUDIO, 20)),
        cache_read_modalities=((Modality.TEXT, 20),),
    )
    run(sink, [(T0 + 0.2, text()), (T0 + 0.3, usage)])
    attrs = sink.span().attributes
    breakdown = {k: v for k, v in attrs.items() if k.split(".")[2:3] in (["text"], ["image"], ["audio"])}
    latest = mode != "v1.41"
    assert breakdown == (
        {
            "gen_ai.usage.audio.input_tokens": 40,
            "gen_ai.usage.text.output_tokens": 10,
            "gen_ai.usage.audio.output_tokens": 20,
            "gen_ai.usage.text.cache_read.input_tokens": 20,
        }
        if latest
        else {}
    )
    assert attrs["gen_ai.usage.input_tokens"] == 100
    counters = {
        name: {p.attributes["gen_ai.token.modality"]: p.value for p in sink.points(name)}
        for name in (
            "gen_ai.client.inference.usage.input_tokens",
            "gen_ai.client.inference.usage.output_tokens",
            "gen_ai.client.inference.usage.cache_read.input_tokens",
        )
    }
    assert counters == (
        {
            "gen_ai.client.inference.usage.input_tokens": {"audio": 40, "unknown": 60},
            "gen_ai.client.inference.usage.output_tokens": {"text": 10, "audio": 20},
            "gen_ai.client.inference.usage.cache_read.input_tokens": {"text": 20},
        }
        if latest
        else {name: {} for name in counters}
    )
    if mode != "latest":  # v1.41's one histogram has no modality: the totals
        usage_points = {
            p.attributes["gen_ai.token.type"]: p.sum for p in sink.points("gen_ai.client.token.usage")
        }
        assert usage_points == {"input": 100, "output": 30}


def test_failed_call_emits_the_exception_event_without_content(sink: Sink) -> None:
    run(sink, [(T0 + 0.1, text("secret words"))], status=429)
    (event,) = _events(sink, "gen_ai.client.operation.exception")
    assert event.severity_number is not None
    assert event.severity_number.value == 13  # WARN
    assert dict(event.attributes or {}) == {
        "exception.type": "429",
        "exception.message": "the model server answered HTTP 429",
    }
    assert sink.span().status.description == "the model server answered HTTP 429"


def test_successful_call_emits_no_exception_event(sink: Sink) -> None:
    run(sink, STREAM)
    assert _events(sink, "gen_ai.client.operation.exception") == []


@pytest.mark.parametrize(
    ("mode", "url"),
    [
        ("v1.41", "https://opentelemetry.io/schemas/1.41.0"),
        ("both", "https://opentelemetry.io/schemas/1.41.0"),
        ("latest", None),
    ],
)
def test_schema_url_of_resource_and_scope(make_sink: MakeSink, mode: str, url: str | None) -> None:
    from tests.conformance.table import table

    if url is not None:
        assert url == table()["v1.41"]["schema_url"]
    sink = make_sink(semconv=mode)
    run(sink, STREAM)
    span = sink.span()
    assert (span.resource.schema_url or None) == url
    assert span.instrumentation_scope is not None
    assert (span.instrumentation_scope.schema_url or None) == url
    data = sink.metrics.get_metrics_data()
    assert data is not None
    for rm in data.resource_metrics:
        assert (rm.resource.schema_url or None) == url
        for sm in rm.scope_metrics:
            assert (sm.scope.schema_url or None) == url
