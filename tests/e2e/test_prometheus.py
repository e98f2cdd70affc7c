"""Debian's Prometheus scraping the sidecar's admin ``/metrics`` while the openai SDK streams
chat completions from llama-server through the sidecar; the assertions go through
Prometheus's own query API (PromQL), as a dashboard would."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import (
    LlamaServer,
    Prometheus,
    SideBySide,
    Sidecar,
    http_get,
    wait_for,
)

pytestmark = pytest.mark.e2e

REQUESTS = 6
TTFC_BUCKET = "gen_ai_client_operation_time_to_first_chunk_seconds_bucket"
PROMPTS = [
    "Name one colour.",
    "Name one animal.",
    "Say hello.",
    "Count to three.",
    "Name a fruit.",
    "What is two plus two?",
]


def _llama_counters(server: LlamaServer) -> dict[str, float]:
    """llama-server's own Prometheus counters (``--metrics``)."""
    status, body = http_get(f"{server.base_url}/metrics")
    assert status == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's ``histogram_quantile`` over cumulative ``(le, count)`` buckets (its
    ``bucketQuantile``: linear interpolation inside the bucket holding rank ``q * count``)."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    rank = q * total
    index = next(i for i, (_, count) in enumerate(buckets) if count >= rank)
    if index == len(buckets) - 1:
        return buckets[-2][0]
    if index == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, below = (0.0, 0.0) if index == 0 else buckets[index - 1]
    end, count = buckets[index]
    return start + (end - start) * ((rank - below) / (count - below))


def test_prometheus_queries_match_llama_server(
    llama_server: LlamaServer,
    sidecar_for: Callable[..., Sidecar],
    prometheus: Callable[[str], Prometheus],
    side_by_side: SideBySide,
) -> None:
    sidecar = sidecar_for(llama_server.base_url, env={"SIDECAR_GENAI__PROVIDER": "llama_cpp"})
    prom = prometheus(sidecar.admin_url.removeprefix("http://"))
    wait_for(lambda: prom.target_health() == "up", 30, "Prometheus to scrape the sidecar")

    before = _llama_counters(llama_server)
    input_tokens = output_tokens = 0
    client_ttfcs: list[float] = []
    with openai.OpenAI(base_url=f"{sidecar.base_url}/v1", api_key="unused", max_retries=0) as client:
        for prompt in PROMPTS[:REQUESTS]:
            started = time.monotonic()
            first: float | None = None
            stream = client.chat.completions.create(
                model=llama_server.model_id,
                messages=[{"role": "user", "content": prompt}],
                stream=True,
                stream_options={"include_usage": True},
                max_tokens=12,
                temperature=0,
                seed=42,
            )
            for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.monotonic() - started
                if chunk.usage is not None:
                    input_tokens += chunk.usage.prompt_tokens
                    output_tokens += chunk.usage.completion_tokens
            assert first is not None
            client_ttfcs.append(first)
    after = _llama_counters(llama_server)

    # llama-server's own counters agree with what its responses said.
    predicted = after["llamacpp:tokens_predicted_total"] - before["llamacpp:tokens_predicted_total"]
    prompt_total = sum(
        after[name] - before[name]
        for name in ("llamacpp:prompt_tokens_total", "llamacpp:prompt_tokens_cached_total")
    )
    assert (predicted, prompt_total) == (output_tokens, input_tokens)

    # Wait until Prometheus has scraped every request.
    count_expr = 'sum(gen_ai_client_token_usage_count{gen_ai_token_type="output"})'
    wait_for(lambda: prom.scalar(count_expr) == REQUESTS, 30, f"{count_expr} == {REQUESTS}")

    prom_output = prom.scalar('sum(gen_ai_client_token_usage_sum{gen_ai_token_type="output"})')
    prom_input = prom.scalar('sum(gen_ai_client_token_usage_sum{gen_ai_token_type="input"})')
    assert prom_output == output_tokens
    assert prom_input == input_tokens
    by_model = prom.query(
        "sum by (gen_ai_request_model, gen_ai_provider_name) (gen_ai_client_token_usage_sum)"
    )
    assert [r["metric"] for r in by_model] == [
        {"gen_ai_request_model": llama_server.model_id, "gen_ai_provider_name": "llama_cpp"}
    ]

    # histogram_quantile over the TTFC buckets: what Prometheus computes from the scraped
    # buckets equals the same computation over the sidecar's own exposition, and no sidecar
    # TTFC can exceed the slowest first chunk the client saw.
    exposition = [(float(s.labels["le"]), s.value) for s in sidecar.samples() if s.name == TTFC_BUCKET]
    assert exposition[-1] == (math.inf, float(REQUESTS))
    for q in (0.5, 0.9, 0.99):
        got = prom.scalar(f"histogram_quantile({q}, sum by (le) ({TTFC_BUCKET}))")
        assert got is not None
        assert got == pytest.approx(histogram_quantile(q, exposition), rel=1e-9)
        upper = min(le for le, _ in exposition if le >= max(client_ttfcs))
        assert 0 < got <= upper
        side_by_side.add(
            "prometheus", f"TTFC p{int(q * 100)} s (client max | promql)", max(client_ttfcs), got
        )

    side_by_side.add("prometheus", "output tokens (llama counters | promql)", predicted, prom_output)
    side_by_side.add("prometheus", "input tokens (llama counters | promql)", prompt_total, prom_input)
