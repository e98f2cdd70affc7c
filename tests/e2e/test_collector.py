"""The sidecar pushing OTLP/gRPC to a real collector (rotel), with llama-server behind it.

The client sends a W3C ``traceparent``; the collector must receive the sidecar's CLIENT span as
a child of the client's span, carrying llama-server's token counts, and the GenAI histograms
with their semconv names, units, advised buckets and attributes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import LlamaServer, Rotel, SideBySide, Sidecar, otlp_env, wait_for

pytestmark = pytest.mark.e2e

SPAN_KIND_CLIENT = 3
TOKEN_BUCKETS = [4.0**i for i in range(14)]  # 1, 4, 16, ... 67108864
DURATION_BUCKETS = [0.01 * 2**i for i in range(14)]  # 0.01 ... 81.92
SERVER_TTFT_BUCKETS = [
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
]
SERVER_TPOT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5]

#: name -> (unit, advised bucket boundaries)
HISTOGRAMS = {
    "gen_ai.client.token.usage": ("{token}", TOKEN_BUCKETS),
    "gen_ai.client.operation.duration": ("s", DURATION_BUCKETS),
    "gen_ai.client.operation.time_to_first_chunk": ("s", DURATION_BUCKETS),
    "gen_ai.client.operation.time_per_output_chunk": ("s", DURATION_BUCKETS),
    "gen_ai.server.request.duration": ("s", DURATION_BUCKETS),
    "gen_ai.server.time_to_first_token": ("s", SERVER_TTFT_BUCKETS),
    "gen_ai.server.time_per_output_token": ("s", SERVER_TPOT_BUCKETS),
}


def _points(metric: dict[str, Any], **attrs: Any) -> list[dict[str, Any]]:
    return [p for p in metric["data_points"] if all(p["attributes"].get(k) == v for k, v in attrs.items())]


def test_collector_receives_metrics_and_span_tree(
    llama_server: LlamaServer,
    rotel: Rotel,
    sidecar_for: Callable[..., Sidecar],
    side_by_side: SideBySide,
) -> None:
    env = {**otlp_env(rotel), "SIDECAR_GENAI__PROVIDER": "llama_cpp"}
    sidecar = sidecar_for(llama_server.base_url, env=env)
    llama_port = int(llama_server.base_url.rsplit(":", 1)[1])

    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    with openai.OpenAI(base_url=f"{sidecar.base_url}/v1", api_key="unused", max_retries=0) as client:
        usage = None
        finish = None
        stream = client.chat.completions.create(
            model=llama_server.model_id,
            messages=[{"role": "user", "content": "Name one colour."}],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=12,
            temperature=0,
            seed=42,
            extra_headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
        )
        for chunk in stream:
            usage = chunk.usage or usage
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
    assert usage is not None
    assert finish is not None
    with httpx.Client(timeout=60) as http:
        native = http.post(
            f"{sidecar.base_url}/completion",
            json={"prompt": "The sky is", "n_predict": 6, "temperature": 0, "seed": 42},
        ).json()

    # SIGTERM: the sidecar drains and flushes its telemetry before it exits.
    assert sidecar.stop() == 0

    def received() -> dict[str, dict[str, Any]] | None:
        latest = rotel.latest_metrics(sidecar.run_id)
        usage_metric = latest.get("gen_ai.client.token.usage")
        if usage_metric is None or sum(p["count"] for p in usage_metric["data_points"]) < 4:
            return None
        return latest

    latest = wait_for(received, 30, "rotel to receive the sidecar's token usage")

    # ---- metrics: names, units, advised buckets, bucket counts, attributes
    for name, (unit, bounds) in HISTOGRAMS.items():
        assert name in latest, f"{name} not received (got {sorted(latest)})"
        metric = latest[name]
        assert (metric["type"], metric["unit"], metric["temporality"]) == ("histogram", unit, "cumulative")
        for point in metric["data_points"]:
            assert point["explicit_bounds"] == pytest.approx(bounds)
            assert len(point["bucket_counts"]) == len(bounds) + 1
            assert sum(point["bucket_counts"]) == point["count"] > 0

    common = {
        "gen_ai.provider.name": "llama_cpp",
        "gen_ai.request.model": llama_server.model_id,
        "gen_ai.response.model": llama_server.model_id,
        "server.address": "127.0.0.1",
        "server.port": llama_port,
    }
    tokens = latest["gen_ai.client.token.usage"]
    expected_tokens = {
        ("chat", "input"): usage.prompt_tokens,
        ("chat", "output"): usage.completion_tokens,
        ("text_completion", "input"): native["tokens_evaluated"],
        ("text_completion", "output"): native["tokens_predicted"],
    }
    for (operation, token_type), value in expected_tokens.items():
        attrs = {**common, "gen_ai.operation.name": operation, "gen_ai.token.type": token_type}
        if operation == "text_completion":
            # The native request names no model: no request model is invented.
            del attrs["gen_ai.request.model"]
        points = [p for p in _points(tokens, **attrs) if p["attributes"].keys() == attrs.keys()]
        assert len(points) == 1, (attrs, tokens["data_points"])
        point = points[0]
        assert (point["count"], point["sum"]) == (1, value)
        # The one sample sits in the bucket whose bounds enclose it.
        index = next(i for i, bound in enumerate(TOKEN_BUCKETS) if value <= bound)
        assert point["bucket_counts"][index] == 1
        side_by_side.add(f"collector {operation}", f"{token_type} tokens", value, point["sum"])

    ttfc = latest["gen_ai.client.operation.time_to_first_chunk"]
    assert [p["attributes"]["gen_ai.operation.name"] for p in ttfc["data_points"]] == ["chat"]
    duration = latest["gen_ai.client.operation.duration"]
    assert sorted(p["attributes"]["gen_ai.operation.name"] for p in duration["data_points"]) == [
        "chat",
        "text_completion",
    ]
    assert all("error.type" not in p["attributes"] for p in duration["data_points"])
    server_ttft = _points(
        latest["gen_ai.server.time_to_first_token"], **{"gen_ai.operation.name": "text_completion"}
    )
    assert server_ttft[0]["sum"] == pytest.approx(native["timings"]["prompt_ms"] / 1000.0, rel=1e-9)
    assert rotel.resource_metrics()[-1]["resource"]["service.name"] == "genai-sidecar-e2e"

    # ---- spans: the sidecar's CLIENT span is a child of the client's span
    spans = wait_for(lambda: rotel.spans(sidecar.run_id), 30, "rotel to receive the sidecar's spans")
    traced = [s for s in spans if s["trace_id"] == trace_id]
    chat = [s for s in traced if s["name"] == f"chat {llama_server.model_id}"]
    assert len(chat) == 1, [s["name"] for s in spans]
    span = chat[0]
    assert span["parent_span_id"] == parent_id
    assert span["kind"] == SPAN_KIND_CLIENT
    ids = {s["span_id"] for s in traced} | {parent_id}
    assert all(s["parent_span_id"] in ids for s in traced), "every span of the trace hangs off the tree"
    attrs = span["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "llama_cpp"
    assert attrs["gen_ai.request.model"] == llama_server.model_id
    assert attrs["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert attrs["gen_ai.response.finish_reasons"] == [finish]
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert span["status"]["code"] != 2  # not ERROR

    # The native request names no model, so the span name is the operation alone.
    untraced = [s for s in spans if s["name"] == "text_completion"]
    assert len(untraced) == 1
    assert untraced[0]["parent_span_id"] == ""  # no traceparent: a new trace
    assert untraced[0]["trace_id"] != trace_id
    assert untraced[0]["attributes"]["gen_ai.usage.output_tokens"] == native["tokens_predicted"]
    side_by_side.add("collector span", "trace id", trace_id[:12], span["trace_id"][:12])
