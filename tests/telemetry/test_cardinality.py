"""Cardinality guard: capped distinct values per attribute, model allow-list."""

from __future__ import annotations

from sidecar.telemetry.cardinality import CardinalityGuard
from tests.telemetry.conftest import MakeSink, chat
from tests.telemetry.test_recorder_metrics import run


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
