"""Every instrument: exact name, kind, unit and advised buckets, read back from exported data.

The expected values are written out here from the specification text (semantic-conventions
v1.41.0 ``gen-ai-metrics.md``, semantic-conventions-genai ``token-metrics.yaml``, HTTP
``http-metrics.md``), not taken from the code under test.
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader, Sum

from sidecar.telemetry import instruments, semconv

DURATION = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKENS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
TTFT = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
TPOT = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5]
HTTP = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]

# name -> (kind, unit, buckets or None)
EXPECTED: dict[str, tuple[str, str, list[float] | None]] = {
    # v1.41.0
    "gen_ai.client.operation.duration": ("histogram", "s", DURATION),
    "gen_ai.client.operation.time_to_first_chunk": ("histogram", "s", DURATION),
    "gen_ai.client.operation.time_per_output_chunk": ("histogram", "s", DURATION),
    "gen_ai.client.token.usage": ("histogram", "{token}", TOKENS),
    # latest development names
    "gen_ai.client.inference.duration": ("histogram", "s", DURATION),
    "gen_ai.client.inference.time_to_first_chunk": ("histogram", "s", DURATION),
    "gen_ai.client.inference.time_per_output_chunk": ("histogram", "s", DURATION),
    "gen_ai.client.inference.usage.input_tokens": ("counter", "{token}", None),
    "gen_ai.client.inference.usage.output_tokens": ("counter", "{token}", None),
    "gen_ai.client.inference.usage.cache_read.input_tokens": ("counter", "{token}", None),
    "gen_ai.client.inference.usage.cache_write.input_tokens": ("counter", "{token}", None),
    "gen_ai.client.inference.usage.reasoning.output_tokens": ("counter", "{token}", None),
    "gen_ai.client.inference.operation.input_tokens": ("histogram", "{token}", TOKENS),
    "gen_ai.client.inference.operation.output_tokens": ("histogram", "{token}", TOKENS),
    "gen_ai.client.embeddings.duration": ("histogram", "s", DURATION),
    "gen_ai.client.embeddings.operation.input_tokens": ("histogram", "{token}", TOKENS),
    # server metrics (same in both)
    "gen_ai.server.request.duration": ("histogram", "s", DURATION),
    "gen_ai.server.time_to_first_token": ("histogram", "s", TTFT),
    "gen_ai.server.time_per_output_token": ("histogram", "s", TPOT),
    # own namespace + HTTP
    "genai_sidecar.tap.errors": ("counter", "{error}", None),
    "genai_sidecar.finish_reasons": ("counter", "{choice}", None),
    "genai_sidecar.requests.active": ("updowncounter", "{request}", None),
    "genai_sidecar.proxied.bytes": ("counter", "By", None),
    "genai_sidecar.requests.rejected": ("counter", "{request}", None),
    "genai_sidecar.export.dropped": ("counter", "{item}", None),
    "genai_sidecar.cost": ("counter", "{currency_unit}", None),
    "genai_sidecar.usage.missing": ("counter", "{call}", None),
    "genai_sidecar.usage.injection_refused": ("counter", "{request}", None),
    "http.server.request.duration": ("histogram", "s", HTTP),
}

OWN = {
    "genai_sidecar.tap.errors",
    "genai_sidecar.finish_reasons",
    "genai_sidecar.requests.active",
    "genai_sidecar.proxied.bytes",
    "genai_sidecar.requests.rejected",
    "genai_sidecar.usage.injection_refused",
    "genai_sidecar.usage.missing",
    "genai_sidecar.export.dropped",
    "genai_sidecar.cost",
    "http.server.request.duration",
}
SERVER = {
    "gen_ai.server.request.duration",
    "gen_ai.server.time_to_first_token",
    "gen_ai.server.time_per_output_token",
}
V1_41 = {
    "gen_ai.client.operation.duration",
    "gen_ai.client.operation.time_to_first_chunk",
    "gen_ai.client.operation.time_per_output_chunk",
    "gen_ai.client.token.usage",
}
LATEST = {
    name for name in EXPECTED if name.startswith(("gen_ai.client.inference.", "gen_ai.client.embeddings."))
}


def test_one_factory_per_instrument() -> None:
    assert set(instruments.FACTORIES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_instrument_exports_its_name_unit_and_buckets(name: str) -> None:
    kind, unit, buckets = EXPECTED[name]
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    try:
        instrument = instruments.FACTORIES[name](provider.get_meter("test"))
        if kind == "histogram":
            instrument.record(3, {})  # type: ignore[union-attr]
        else:
            instrument.add(3, {})  # type: ignore[union-attr]
        data = reader.get_metrics_data()
        assert data is not None
        (metric,) = data.resource_metrics[0].scope_metrics[0].metrics
        assert metric.name == name
        assert metric.unit == unit
        assert metric.description
        if kind == "histogram":
            assert isinstance(metric.data, Histogram)
            (point,) = metric.data.data_points
            assert list(point.explicit_bounds) == buckets
            assert point.count == 1
        else:
            assert isinstance(metric.data, Sum)
            assert metric.data.is_monotonic is (kind == "counter")
            assert metric.data.data_points[0].value == 3
    finally:
        provider.shutdown()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("v1.41", V1_41 | SERVER | OWN),
        ("latest", LATEST | SERVER | OWN),
        ("both", V1_41 | LATEST | SERVER | OWN),
    ],
)
def test_metric_names_per_mode(mode: str, expected: set[str]) -> None:
    assert semconv.metric_names(mode) == expected


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="semconv mode"):
        semconv.metric_names("v2")


def test_prometheus_names_follow_the_exporter_rules() -> None:
    names = semconv.prometheus_names("both")
    assert "gen_ai_client_operation_duration_seconds" in names
    assert "gen_ai_client_token_usage" in names
    assert "gen_ai_client_inference_usage_cache_read_input_tokens" in names
    assert "gen_ai_server_time_to_first_token_seconds" in names
    assert "genai_sidecar_proxied_bytes" in names
    assert "http_server_request_duration_seconds" in names
    samples = semconv.prometheus_samples("latest")
    assert "gen_ai_client_inference_usage_input_tokens_total" in samples
    assert "gen_ai_client_inference_duration_seconds_bucket" in samples
    assert "genai_sidecar_requests_active" in samples
