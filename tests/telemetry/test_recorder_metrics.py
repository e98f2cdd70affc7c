"""Metric arithmetic from scripted observations with explicit timestamps, per semconv mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from sidecar.genai.observations import (
    Operation,
    OutputKind,
    RequestInfo,
    ServerTiming,
    UpstreamError,
    Usage,
)
from sidecar.telemetry.recorder import StreamRecorder
from tests.steps import FinishReason, OutputChunk, PrematureEnd, ResponseInfo, Step, StreamComplete
from tests.telemetry.conftest import SERVER_ADDRESS, SERVER_PORT, MakeSink, Sink, chat, observe

T0 = 1000.0


def text(t: str = "x", choice: int = 0) -> OutputChunk:
    return OutputChunk(kind=OutputKind.TEXT, text=t, choice=choice)


def run(
    sink: Sink,
    script: Sequence[tuple[float, Step]],
    *,
    request: RequestInfo | None = None,
    end: float = T0 + 1.0,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> StreamRecorder:
    recorder = sink.telemetry.start(
        request=request if request is not None else chat(),
        method="POST",
        headers=headers or {},
        t0=T0,
    )
    recorder.response_started(status, T0 + 0.01)
    for t, obs in script:
        observe(recorder, obs, t)
    recorder.finish(end, status=status, response_bytes=321)
    return recorder


#: Four output chunks: TTFC 0.25 s, gaps 0.05, 0.10, 0.30 s; usage 12 in / 4 out.
STREAM: list[tuple[float, Step]] = [
    (T0 + 0.02, ResponseInfo(model="llama3:8b", id="resp-1")),
    (T0 + 0.25, text("Hel")),
    (T0 + 0.30, text("lo")),
    (T0 + 0.40, text(" wor")),
    (T0 + 0.70, text("ld")),
    (T0 + 0.80, Usage(input_tokens=12, output_tokens=4)),
    (T0 + 0.80, FinishReason(reason="stop")),
    (T0 + 0.80, StreamComplete()),
]

BASE_ATTRS = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "ollama",
    "gen_ai.request.model": "llama3",
    "gen_ai.response.model": "llama3:8b",
    "server.address": SERVER_ADDRESS,
    "server.port": SERVER_PORT,
}


def one(sink: Sink, name: str) -> Any:
    points = sink.points(name)
    assert len(points) == 1, (name, points)
    return points[0]


def by_attr(sink: Sink, name: str, key: str) -> dict[str, Any]:
    return {p.attributes[key]: p for p in sink.points(name)}


def test_streaming_call_v1_41(sink: Sink) -> None:
    run(sink, STREAM)

    ttfc = one(sink, "gen_ai.client.operation.time_to_first_chunk")
    assert dict(ttfc.attributes) == BASE_ATTRS
    assert ttfc.count == 1
    assert ttfc.sum == pytest.approx(0.25)

    tpoc = one(sink, "gen_ai.client.operation.time_per_output_chunk")
    assert tpoc.count == 3  # one sample per chunk after the first
    assert tpoc.sum == pytest.approx(0.05 + 0.10 + 0.30)
    # 0.05 -> (0.04, 0.08], 0.10 -> (0.08, 0.16], 0.30 -> (0.16, 0.32]
    assert list(tpoc.bucket_counts[3:6]) == [1, 1, 1]
    assert tpoc.min == pytest.approx(0.05)
    assert tpoc.max == pytest.approx(0.30)

    duration = one(sink, "gen_ai.client.operation.duration")
    assert dict(duration.attributes) == BASE_ATTRS  # no error.type on success
    assert duration.sum == pytest.approx(1.0)

    usage = by_attr(sink, "gen_ai.client.token.usage", "gen_ai.token.type")
    assert set(usage) == {"input", "output"}
    assert usage["input"].sum == 12
    assert usage["output"].sum == 4
    assert dict(usage["input"].attributes) == {**BASE_ATTRS, "gen_ai.token.type": "input"}

    # Derived server metrics: TTFT = TTFC, TPOT = (duration - TTFT) / (output tokens - 1).
    assert one(sink, "gen_ai.server.time_to_first_token").sum == pytest.approx(0.25)
    assert one(sink, "gen_ai.server.time_per_output_token").sum == pytest.approx(0.75 / 3)
    assert one(sink, "gen_ai.server.request.duration").sum == pytest.approx(1.0)

    assert not any(n.startswith("gen_ai.client.inference.") for n in sink.metric_names())


def test_streaming_call_latest(make_sink: MakeSink) -> None:
    sink = make_sink(semconv="latest")
    run(
        sink,
        [
            *STREAM[:-3],
            (T0 + 0.8, Usage(input_tokens=12, output_tokens=4, cache_read_tokens=8, reasoning_tokens=2)),
        ],
    )

    assert one(sink, "gen_ai.client.inference.time_to_first_chunk").sum == pytest.approx(0.25)
    assert one(sink, "gen_ai.client.inference.time_per_output_chunk").count == 3
    assert one(sink, "gen_ai.client.inference.duration").sum == pytest.approx(1.0)
    # No dialect reports usage by modality: "unknown" (token-metrics.yaml).
    unknown_attrs = {**BASE_ATTRS, "gen_ai.token.modality": "unknown"}
    expected = {
        "gen_ai.client.inference.usage.input_tokens": 12,
        "gen_ai.client.inference.usage.output_tokens": 4,
        "gen_ai.client.inference.usage.cache_read.input_tokens": 8,
        "gen_ai.client.inference.usage.reasoning.output_tokens": 2,
    }
    for name, value in expected.items():
        point = one(sink, name)
        assert point.value == value, name
        assert dict(point.attributes) == unknown_attrs, name
    # A breakdown the provider did not report (or reported as 0) is not recorded.
    assert sink.points("gen_ai.client.inference.usage.cache_write.input_tokens") == []
    op_in = one(sink, "gen_ai.client.inference.operation.input_tokens")
    assert (op_in.count, op_in.sum) == (1, 12)
    assert dict(op_in.attributes) == BASE_ATTRS  # deliberately no modality
    assert one(sink, "gen_ai.client.inference.operation.output_tokens").sum == 4
    assert "gen_ai.client.token.usage" not in sink.metric_names()
    assert "gen_ai.client.operation.duration" not in sink.metric_names()


def test_both_modes_emit_both_generations_once(make_sink: MakeSink) -> None:
    sink = make_sink(semconv="both")
    run(sink, STREAM)
    assert one(sink, "gen_ai.client.operation.duration").sum == pytest.approx(1.0)
    assert one(sink, "gen_ai.client.inference.duration").sum == pytest.approx(1.0)
    assert one(sink, "gen_ai.client.operation.time_per_output_chunk").count == 3
    assert one(sink, "gen_ai.client.inference.time_per_output_chunk").count == 3
    assert one(sink, "gen_ai.client.inference.usage.input_tokens").value == 12
    # Server metrics share their name across versions: recorded once, not twice.
    assert one(sink, "gen_ai.server.request.duration").count == 1


def test_no_usage_v1_41_records_no_token_sample(sink: Sink) -> None:
    run(sink, [(T0 + 0.2, text())])
    assert sink.points("gen_ai.client.token.usage") == []
    assert one(sink, "gen_ai.client.operation.duration").count == 1


def test_no_usage_latest_records_zero_with_unknown_modality(make_sink: MakeSink) -> None:
    sink = make_sink(semconv="latest")
    run(sink, [(T0 + 0.2, text())])
    for name in (
        "gen_ai.client.inference.usage.input_tokens",
        "gen_ai.client.inference.usage.output_tokens",
    ):
        point = one(sink, name)
        assert point.value == 0
        assert point.attributes["gen_ai.token.modality"] == "unknown"
    # The per-operation histograms: nothing without usage ("MUST NOT report").
    assert sink.points("gen_ai.client.inference.operation.output_tokens") == []


def test_failed_call_latest_counts_usage_but_no_histogram_sample(make_sink: MakeSink) -> None:
    sink = make_sink(semconv="latest")
    run(sink, [(T0 + 0.1, Usage(input_tokens=9, output_tokens=2))], status=500)
    assert one(sink, "gen_ai.client.inference.usage.input_tokens").value == 9
    assert sink.points("gen_ai.client.inference.operation.input_tokens") == []
    assert sink.points("gen_ai.client.inference.operation.output_tokens") == []


def test_usage_is_replaced_not_added(sink: Sink) -> None:
    run(
        sink,
        [
            (T0 + 0.1, Usage(input_tokens=10, output_tokens=1)),
            (T0 + 0.2, text()),
            (T0 + 0.3, Usage(output_tokens=5)),
            (T0 + 0.4, Usage(output_tokens=7)),
        ],
    )
    usage = by_attr(sink, "gen_ai.client.token.usage", "gen_ai.token.type")
    assert usage["input"].sum == 10
    assert usage["output"].sum == 7


def test_non_streaming_call_has_no_chunk_metrics(sink: Sink) -> None:
    run(
        sink,
        [(T0 + 0.5, text("whole answer")), (T0 + 0.5, Usage(input_tokens=3, output_tokens=9))],
        request=chat(stream=False),
    )
    assert sink.points("gen_ai.client.operation.time_to_first_chunk") == []
    assert sink.points("gen_ai.client.operation.time_per_output_chunk") == []
    assert sink.points("gen_ai.server.time_to_first_token") == []
    assert sink.points("gen_ai.server.time_per_output_token") == []
    assert one(sink, "gen_ai.client.operation.duration").sum == pytest.approx(1.0)
    assert "gen_ai.response.time_to_first_chunk" not in sink.span().attributes


def test_server_timing_wins_over_derivation(sink: Sink) -> None:
    timing = ServerTiming(time_to_first_token_s=0.05, time_per_output_token_s=0.02, request_duration_s=0.9)
    run(sink, [*STREAM, (T0 + 0.8, timing)])
    assert one(sink, "gen_ai.server.time_to_first_token").sum == pytest.approx(0.05)
    assert one(sink, "gen_ai.server.time_per_output_token").sum == pytest.approx(0.02)
    assert one(sink, "gen_ai.server.request.duration").sum == pytest.approx(0.9)


def test_single_output_token_gives_no_derived_tpot(sink: Sink) -> None:
    run(sink, [(T0 + 0.2, text()), (T0 + 0.3, Usage(input_tokens=3, output_tokens=1))])
    assert sink.points("gen_ai.server.time_per_output_token") == []
    assert one(sink, "gen_ai.server.time_to_first_token").sum == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("script", "status", "expected"),
    [
        ([], 500, "500"),
        ([], 429, "429"),
        ([(T0 + 0.2, UpstreamError(type="overloaded_error", message="busy"))], 200, "overloaded_error"),
        ([(T0 + 0.2, UpstreamError(message="boom"))], 200, "upstream_error"),
        ([(T0 + 0.2, text()), (T0 + 0.5, PrematureEnd())], 200, "premature_end"),
    ],
)
def test_error_type_on_duration_only(
    sink: Sink, script: list[tuple[float, Step]], status: int, expected: str
) -> None:
    run(sink, script, status=status)
    duration = one(sink, "gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == expected
    server = one(sink, "gen_ai.server.request.duration")
    assert server.attributes["error.type"] == expected
    for point in sink.points("gen_ai.client.operation.time_to_first_chunk"):
        assert "error.type" not in point.attributes
    # time to first token / per output token: successful responses only
    assert sink.points("gen_ai.server.time_to_first_token") == []


def test_fail_records_the_given_error_type_and_status(sink: Sink) -> None:
    recorder = sink.telemetry.start(request=chat(), method="POST", headers={}, t0=T0)
    recorder.fail("timeout", T0 + 2.0, status=504)
    duration = one(sink, "gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "timeout"
    assert duration.sum == pytest.approx(2.0)
    http = one(sink, "http.server.request.duration")
    assert dict(http.attributes) == {
        "http.request.method": "POST",
        "url.scheme": "http",
        "network.protocol.version": "1.1",
        "http.response.status_code": 504,
        "error.type": "timeout",
    }
    # The sidecar's own 504: no response came from the model server, so no server metric.
    assert not any(n.startswith("gen_ai.server.") for n in sink.metric_names())


def test_server_metrics_for_a_response_from_the_server(sink: Sink) -> None:
    recorder = sink.telemetry.start(request=chat(), method="POST", headers={}, t0=T0)
    recorder.response_started(200, T0 + 0.1)
    recorder.fail("timeout", T0 + 2.0)  # stalled mid-stream: the server did answer
    assert one(sink, "gen_ai.server.request.duration").attributes["error.type"] == "timeout"


def test_finishing_happens_exactly_once(sink: Sink) -> None:
    recorder = run(sink, STREAM)
    recorder.finish(T0 + 5.0, status=200, response_bytes=999)
    recorder.fail("client_cancel", T0 + 6.0)
    observe(recorder, text(), T0 + 7.0)
    assert one(sink, "gen_ai.client.operation.duration").count == 1
    assert one(sink, "gen_ai.client.operation.time_per_output_chunk").count == 3
    assert one(sink, "genai_sidecar.proxied.bytes").value == 321
    assert one(sink, "genai_sidecar.requests.active").value == 0
    assert len(sink.spans.get_finished_spans()) == 1


def test_non_genai_request_gets_http_metrics_only(sink: Sink) -> None:
    recorder = sink.telemetry.start(request=None, method="get", headers={}, t0=T0)
    carrier: dict[str, str] = {}
    recorder.inject(carrier)
    observe(recorder, text(), T0 + 0.1)
    recorder.finish(T0 + 0.5, status=200, response_bytes=10)
    assert carrier == {}
    http = one(sink, "http.server.request.duration")
    assert dict(http.attributes) == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "network.protocol.version": "1.1",
        "http.response.status_code": 200,
    }
    assert http.sum == pytest.approx(0.5)
    assert not any(n.startswith("gen_ai.") for n in sink.metric_names())
    assert sink.spans.get_finished_spans() == ()


def test_http_metric_error_type_for_server_errors_only(sink: Sink) -> None:
    for status in (404, 503):
        recorder = sink.telemetry.start(request=None, method="BREW", headers={}, t0=T0)
        recorder.finish(T0 + 0.1, status=status, response_bytes=0)
    points = by_attr(sink, "http.server.request.duration", "http.response.status_code")
    assert "error.type" not in points[404].attributes
    assert points[503].attributes["error.type"] == "503"
    assert points[503].attributes["http.request.method"] == "_OTHER"


def test_requests_active_counts_in_flight(sink: Sink) -> None:
    first = sink.telemetry.start(request=chat(), method="POST", headers={}, t0=T0)
    sink.telemetry.start(request=None, method="GET", headers={}, t0=T0)
    assert one(sink, "genai_sidecar.requests.active").value == 2
    first.finish(T0 + 1, status=200, response_bytes=0)
    assert one(sink, "genai_sidecar.requests.active").value == 1


def test_tap_errors_counted_by_reason(sink: Sink) -> None:
    sink.telemetry.tap_error("decoder")
    sink.telemetry.tap_error("decoder")
    sink.telemetry.tap_error("dialect")
    points = by_attr(sink, "genai_sidecar.tap.errors", "reason")
    assert {k: p.value for k, p in points.items()} == {"decoder": 2, "dialect": 1}


def test_internal_failure_never_raises_and_is_counted(sink: Sink) -> None:
    recorder = sink.telemetry.start(request=chat(), method="POST", headers={}, t0=T0)
    recorder.output(T0 + 0.1, "one")  # type: ignore[arg-type]
    recorder.finish(T0 + 1.0, status=200, response_bytes=0)
    points = by_attr(sink, "genai_sidecar.tap.errors", "reason")
    assert points["telemetry"].value == 1
    assert one(sink, "gen_ai.client.operation.duration").count == 1


def test_embeddings_call(make_sink: MakeSink) -> None:
    sink = make_sink(semconv="latest")
    request = RequestInfo(operation=Operation.EMBEDDINGS, provider="openai", model="e5", stream=False)
    run(sink, [(T0 + 0.1, Usage(input_tokens=42))], request=request)
    point = one(sink, "gen_ai.client.embeddings.operation.input_tokens")
    assert (point.count, point.sum) == (1, 42)
    assert point.attributes["gen_ai.operation.name"] == "embeddings"
    assert one(sink, "gen_ai.client.embeddings.duration").sum == pytest.approx(1.0)
    # Not an inference: none of the inference metrics (client-embeddings.md).
    assert not any(n.startswith("gen_ai.client.inference.") for n in sink.metric_names())


def test_embeddings_call_v1_41(sink: Sink) -> None:
    request = RequestInfo(operation=Operation.EMBEDDINGS, provider="openai", model="e5", stream=False)
    run(sink, [(T0 + 0.1, Usage(input_tokens=42))], request=request)
    usage = one(sink, "gen_ai.client.token.usage")
    assert (usage.sum, usage.attributes["gen_ai.token.type"]) == (42, "input")
    assert one(sink, "gen_ai.client.operation.duration").count == 1


def test_finish_reasons_counted_per_choice_with_error_for_a_premature_end(sink: Sink) -> None:
    two_choices = [
        (T0 + 0.2, text("a", choice=0)),
        (T0 + 0.2, text("b", choice=1)),
        (T0 + 0.3, FinishReason(reason="length", choice=0)),
        (T0 + 0.3, FinishReason(reason="stop", choice=1)),
        (T0 + 0.3, StreamComplete()),
    ]
    run(sink, two_choices)
    run(sink, [(T0 + 0.2, text("a")), (T0 + 0.5, PrematureEnd())])
    counts = {
        p.attributes["genai_sidecar.finish_reason"]: p.value
        for p in sink.points("genai_sidecar.finish_reasons")
    }
    assert counts == {"length": 1, "stop": 1, "error": 1}
    point = sink.points("genai_sidecar.finish_reasons")[0]
    assert point.attributes["gen_ai.request.model"] == "llama3"
