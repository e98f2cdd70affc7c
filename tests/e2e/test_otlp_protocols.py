"""OTLP export as the OpenTelemetry variables select it, against a real collector (rotel) that
listens for both OTLP/gRPC and OTLP/HTTP: the protocol, per-signal exporter choice (``none``),
the batch processor's delay, and the start-up line naming each exporter's target."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import Rotel, Sidecar, wait_for

pytestmark = pytest.mark.e2e


def _one_chat(sidecar: Sidecar) -> None:
    body = {"model": "otlp-e2e", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.Client(timeout=60) as http:
        response = http.post(
            f"{sidecar.base_url}/v1/chat/completions", json=body, headers={"x-sim-tokens": "5"}
        )
    assert response.status_code == 200


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_and_metrics_reach_the_collector_over_the_chosen_protocol(
    protocol: str, rotel: Rotel, simulator_url: str, sidecar_for: Callable[..., Sidecar]
) -> None:
    endpoint = rotel.endpoint if protocol == "grpc" else rotel.http_endpoint
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "OTEL_LOGS_EXPORTER": "none",
        "SIDECAR_LOGGING__LEVEL": "info",
    }
    sidecar = sidecar_for(simulator_url, env=env)
    _one_chat(sidecar)
    spans = wait_for(lambda: sidecar_spans(rotel, sidecar), 60, f"a span over {protocol}")
    assert spans[0]["name"] == "chat otlp-e2e"
    wait_for(
        lambda: rotel.latest_metrics(sidecar.run_id).get("gen_ai.client.operation.duration"), 60, "metrics"
    )
    log = sidecar.proc.log_tail(400)
    kind = "gRPC" if protocol == "grpc" else "HTTP/protobuf"
    traces_target = endpoint if protocol == "grpc" else f"{endpoint}/v1/traces"
    assert f"traces: OTLP/{kind} to {traces_target}" in log
    assert "metrics: Prometheus text on the admin port's /metrics" in log
    assert "logs: OTLP" not in log


def sidecar_spans(rotel: Rotel, sidecar: Sidecar) -> list[dict[str, object]] | None:
    return rotel.spans(sidecar.run_id) or None


def test_metrics_exporter_none_keeps_spans_and_prometheus(
    rotel: Rotel, simulator_url: str, sidecar_for: Callable[..., Sidecar]
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": rotel.endpoint,
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        # The span goes out within a second only because the variable is honoured (default 5 s);
        # the test waits far longer, so it checks where the span went, not how fast.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
    }
    sidecar = sidecar_for(simulator_url, env=env)
    _one_chat(sidecar)
    with httpx.Client(timeout=30) as http:
        exposition = http.get(f"{sidecar.admin_url}/metrics").text
    assert 'gen_ai_request_model="otlp-e2e"' in exposition
    assert sidecar.stop() == 0  # flushes everything that is exported
    assert wait_for(lambda: sidecar_spans(rotel, sidecar), 30, "the span")
    assert rotel.metrics(sidecar.run_id) == []
