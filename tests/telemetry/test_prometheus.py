"""The Prometheus exposition parses and carries the names semconv.prometheus_names promises."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.config import CostConfig
from sidecar.genai.observations import (
    Operation,
    OutputKind,
    ServerTiming,
    Usage,
)
from sidecar.telemetry import semconv
from tests.steps import OutputChunk
from tests.telemetry.conftest import MakeSink, Sink, chat, observe
from tests.telemetry.test_recorder_metrics import STREAM, run


def exercise_everything(sink: Sink) -> None:
    # first, a call without usage (genai_sidecar.usage.missing), of another operation than the
    # samples the tests read (the exposition lists its series first)
    no_usage = [s for s in STREAM if not isinstance(s[1], Usage)]
    run(sink, no_usage, request=chat(operation=Operation.TEXT_COMPLETION))
    usage = Usage(
        input_tokens=12, output_tokens=4, cache_read_tokens=1, cache_write_tokens=2, reasoning_tokens=3
    )
    run(sink, [*STREAM, (1000.9, usage), (1000.9, ServerTiming(time_to_first_token_s=0.1))])
    run(sink, [(1000.2, Usage(input_tokens=3))], request=chat(operation=Operation.EMBEDDINGS, stream=False))
    sink.telemetry.tap_error("decoder")
    sink.telemetry.request_rejected("malformed_request")
    sink.telemetry.usage_injection_refused()
    sink.telemetry.providers.export_dropped.add(0, {"signal": "traces", "reason": "queue_full"})


def priced(tmp_path: Path) -> CostConfig:
    """A price table for every model, so that the opt-in cost counter is exercised too."""
    prices = tmp_path / "prices.toml"
    prices.write_text('[[model]]\nmatch = "*"\ninput = 1\noutput = 2\n')
    return CostConfig(prices=str(prices))


def families(sink: Sink) -> dict[str, object]:
    body, content_type = sink.telemetry.prometheus_exposition()
    assert content_type.startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


@pytest.mark.parametrize("mode", ["v1.41", "latest", "both"])
def test_exposition_names_match_the_table(make_sink: MakeSink, mode: str, tmp_path: Path) -> None:
    sink = make_sink(semconv=mode, cost=priced(tmp_path))
    exercise_everything(sink)
    names = set(families(sink)) - {"target_info"}
    assert names == semconv.prometheus_names(mode)


def test_exposition_samples_and_labels(make_sink: MakeSink, tmp_path: Path) -> None:
    sink = make_sink(semconv="latest", cost=priced(tmp_path))
    exercise_everything(sink)
    body, _ = sink.telemetry.prometheus_exposition()
    samples = {
        sample.name: sample
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }
    assert set(samples) >= semconv.prometheus_samples("latest")
    total = samples["gen_ai_client_inference_usage_input_tokens_total"]
    assert total.value == 12
    assert total.labels["gen_ai_token_modality"] == "unknown"  # no dialect reports modalities
    assert total.labels["gen_ai_request_model"] == "llama3"
    count = samples["gen_ai_client_inference_duration_seconds_count"]
    assert count.value == 1


def test_histogram_buckets_in_exposition(sink: Sink) -> None:
    recorder = sink.telemetry.start(request=chat(), method="POST", headers={}, t0=0.0)
    observe(recorder, OutputChunk(kind=OutputKind.TEXT, text="x"), 0.03)
    recorder.finish(0.5, status=200, response_bytes=1)
    body, _ = sink.telemetry.prometheus_exposition()
    bounds = [
        sample.labels["le"]
        for family in text_string_to_metric_families(body.decode())
        if family.name == "gen_ai_client_operation_time_to_first_chunk_seconds"
        for sample in family.samples
        if sample.name.endswith("_bucket")
    ]
    assert bounds[:3] == ["0.01", "0.02", "0.04"]
    assert bounds[-1] == "+Inf"
    assert len(bounds) == 15


def test_disabled_prometheus_renders_nothing(make_sink: MakeSink) -> None:
    sink = make_sink(prometheus=False)
    run(sink, STREAM)
    body, _ = sink.telemetry.prometheus_exposition()
    assert body == b""
