"""The README's PromQL cookbook evaluated by a real Prometheus scraping a real sidecar, with the
simulator as the model server told exactly what to do; each answer is checked against that.

Prometheus sees no increase in a series' first sample, so one warm-up call of each kind comes first
and is scraped before the measured calls. rate() and increase() extrapolate at the edges of a young
series (towards its zero), so a count lies between what the measured calls alone made and what
all calls made, warm-up included, give or take 10%; ratios of series whose values agree are exact.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.cookbook import cookbook
from tests.e2e.conftest import Prometheus, Sidecar, wait_for

pytestmark = pytest.mark.e2e

TOKENS, ITL_MS, TTFC_MS = 10, 20, 200
MEASURED_OK, MEASURED_ERRORS, MEASURED_NO_USAGE = 6, 2, 3


def _call(http: httpx.Client, sidecar: Sidecar, model: str, *, usage: bool, fault: str | None = None) -> None:
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": "one two three"}]}
    body["stream"] = True
    if usage:
        body["stream_options"] = {"include_usage": True}
    headers = {"x-sim-tokens": str(TOKENS), "x-sim-itl-ms": str(ITL_MS), "x-sim-ttfc-ms": str(TTFC_MS)}
    if fault:
        headers["x-sim-fault"] = fault
    response = http.post(f"{sidecar.base_url}/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == (int(fault) if fault else 200)


def _between(value: float, measured: float, everything: float) -> bool:
    return 0.9 * measured <= value <= 1.1 * everything


def _by(results: list[dict[str, object]], **labels: str) -> float:
    matching = [r for r in results if all(r["metric"].get(k) == v for k, v in labels.items())]  # type: ignore[attr-defined]
    assert len(matching) == 1, (labels, results)
    return float(matching[0]["value"][1])  # type: ignore[index]


def test_every_cookbook_query_answers_what_the_simulator_was_told(
    simulator_url: str, sidecar_for: Callable[..., Sidecar], prometheus: Callable[[str], Prometheus]
) -> None:
    sidecar = sidecar_for(simulator_url, extra_args=["--inject-include-usage", "false"])
    prom = prometheus(sidecar.admin_url.removeprefix("http://"))
    wait_for(lambda: prom.target_health() == "up", 30, "Prometheus to scrape the sidecar")
    calls = 'sum(gen_ai_client_operation_duration_seconds_count{gen_ai_request_model=~"cook-.*"})'
    with httpx.Client(timeout=60) as http:
        _call(http, sidecar, "cook-a", usage=True)
        _call(http, sidecar, "cook-a", usage=True, fault="500")
        _call(http, sidecar, "cook-b", usage=False)
        wait_for(lambda: prom.scalar(calls) == 3, 30, "the warm-up calls to be scraped")
        for _ in range(MEASURED_OK):
            _call(http, sidecar, "cook-a", usage=True)
        for _ in range(MEASURED_ERRORS):
            _call(http, sidecar, "cook-a", usage=True, fault="500")
        for _ in range(MEASURED_NO_USAGE):
            _call(http, sidecar, "cook-b", usage=False)
    total = 3 + MEASURED_OK + MEASURED_ERRORS + MEASURED_NO_USAGE
    wait_for(lambda: prom.scalar(calls) == total, 30, "every call to be scraped")

    queries = {record: expr for _, record, expr in cookbook()}
    answers = {record: prom.query(expr) for record, expr in queries.items()}

    p95 = _by(answers["model:genai_ttfc_seconds:p95_5m"], gen_ai_request_model="cook-a")
    assert 0.16 < p95 <= 0.32  # the bucket holding the configured 200 ms
    assert _by(answers["model:genai_output_tokens:rate5m"], gen_ai_request_model="cook-a") > 0
    per_request = answers["model:genai_output_tokens_per_request:5m"]
    assert _by(per_request, gen_ai_request_model="cook-a") == pytest.approx(TOKENS)
    assert not [r for r in per_request if r["metric"].get("gen_ai_request_model") == "cook-b"]
    decode = _by(answers["model:genai_decode_tokens_per_second:5m"], gen_ai_request_model="cook-a")
    assert 0 < decode <= 1.1 * 1000 / ITL_MS  # never faster than the simulator's pace
    daily = answers["model_type:genai_tokens:increase1d"]
    output = _by(daily, gen_ai_request_model="cook-a", gen_ai_token_type="output")
    assert _between(output, MEASURED_OK * TOKENS, (MEASURED_OK + 1) * TOKENS), output
    inputs = _by(daily, gen_ai_request_model="cook-a", gen_ai_token_type="input")
    assert _between(inputs, MEASURED_OK * 3, (MEASURED_OK + 1) * 3), inputs
    finish = answers["model_reason:genai_finish_reasons:increase1h"]
    stops = _by(finish, gen_ai_request_model="cook-a", genai_sidecar_finish_reason="stop")
    assert _between(stops, MEASURED_OK, MEASURED_OK + 1), stops
    ratio = _by(answers["model_error:genai_error_ratio:5m"], gen_ai_request_model="cook-a", error_type="500")
    measured_ratio = MEASURED_ERRORS / (MEASURED_OK + MEASURED_ERRORS)
    assert _between(ratio, measured_ratio, (MEASURED_ERRORS + 1) / (MEASURED_OK + MEASURED_ERRORS + 2)), ratio
    without = answers["model:genai_calls_without_usage:increase1h"]
    cook_b = _by(without, gen_ai_request_model="cook-b")
    assert _between(cook_b, MEASURED_NO_USAGE, MEASURED_NO_USAGE + 1), cook_b
    assert _by(without, gen_ai_request_model="cook-a") == pytest.approx(0, abs=0.5)
