"""The conformance table over the wire: a sidecar process in each naming mode, in front of the
shipped simulator, pushes OTLP/gRPC to a real collector (rotel); every metric and span rotel
received, and every family on the sidecar's own ``/metrics``, must pass the table's checks
(tests/conformance/table.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conformance.collect import otlp_metric_points, otlp_spans, prometheus_problems
from tests.conformance.table import MODES, check_metric, check_span
from tests.conformance.test_recorded import CALLS
from tests.e2e.conftest import Rotel, Sidecar, otlp_env, wait_for

pytestmark = pytest.mark.e2e


def _traffic(base: str) -> int:
    """The conformance traffic; returns the number of GenAI calls sent."""
    with httpx.Client(timeout=30) as client:
        for path, body, headers in CALLS:
            try:
                client.post(base + path, json=body, headers=headers)
            except httpx.HTTPError:
                assert headers.get("x-sim-fault") == "crash"  # the body was cut, as asked
        client.get(base + "/api/tags")
    return len(CALLS)


@pytest.mark.parametrize("mode", MODES)
def test_what_the_collector_and_metrics_endpoint_receive_conforms(
    mode: str, simulator_url: str, rotel: Rotel, sidecar_for: Callable[..., Sidecar]
) -> None:
    env = {**otlp_env(rotel), "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"}
    sidecar = sidecar_for(simulator_url, env=env, extra_args=["--semconv", mode])
    calls = _traffic(sidecar.base_url)
    exposition = sidecar.metrics_text()
    assert sidecar.stop() == 0  # drains and flushes its telemetry

    def received() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]] | None:
        spans = rotel.spans(sidecar.run_id)
        latest = rotel.latest_metrics(sidecar.run_id)
        if len(spans) < calls or "http.server.request.duration" not in latest:
            return None
        return spans, latest

    spans, latest = wait_for(received, 30, f"rotel to receive {calls} spans and the metrics")
    problems = [p for point in otlp_metric_points(latest.values()) for p in check_metric(mode, point)]
    problems += [p for span in otlp_spans(spans) for p in check_span(mode, span)]
    problems += prometheus_problems(mode, exposition)
    assert not problems, "\n".join(sorted(set(problems)))
    genai = {name for name in latest if name.startswith("gen_ai.")}
    assert genai, sorted(latest)
