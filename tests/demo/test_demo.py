"""The demo runs headless and its summary, read from the sidecar's /metrics, tells the scenarios apart."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from sidecar.demo.render import render
from sidecar.demo.runner import run_demo
from sidecar.demo.summary import quantile, summarise


async def test_demo_headless_shows_four_distinct_scenarios() -> None:
    out = io.StringIO()
    rows = await run_demo(
        out=out, duration_s=6, rate=6, listen="127.0.0.1:0", admin_listen="127.0.0.1:0", refresh_s=0.5, seed=7
    )
    text = out.getvalue()
    assert "/metrics" in text
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in text
    assert set(rows) == {"normal", "expensive", "low_quality", "errors"}
    for name, row in rows.items():
        assert row.requests > 0, name
        assert name in text.split("final summary")[1]
    normal, expensive, low, errors = rows["normal"], rows["expensive"], rows["low_quality"], rows["errors"]
    # expensive: long prompts and long answers stand out per request
    assert expensive.input_tokens / expensive.requests > 10 * normal.input_tokens / max(normal.requests, 1)
    assert expensive.output_tokens / expensive.requests > 5 * normal.output_tokens / max(normal.requests, 1)
    # low quality: cut by length or content filter
    assert {"length", "content_filter"} & set(low.finish_reasons)
    assert set(normal.finish_reasons) == {"stop"}
    # errors: what the scenario injected, as the sidecar classified it
    assert {"429", "500"} & set(errors.error_types)
    assert {"upstream_disconnected", "client_cancel"} & set(errors.error_types)
    assert not normal.error_types


def test_quantile_interpolates_like_histogram_quantile() -> None:
    buckets = [(0.1, 10.0), (0.2, 30.0), (0.4, 40.0), (float("inf"), 40.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.15)  # rank 20: halfway through (0.1, 0.2]
    assert quantile(0.25, buckets) == pytest.approx(0.1 + 0.1 * (10 - 10) / 20)
    assert quantile(0.5, []) is None


def _sample(name: str, value: float, **labels: str) -> str:
    text = ",".join(f'{k}="{v}"' for k, v in {"gen_ai_request_model": "a", **labels}.items())
    return f"{name}{{{text}}} {value}"


def test_summarise_reads_the_exposition_by_request_model() -> None:
    duration, usage = "gen_ai_client_operation_duration_seconds", "gen_ai_client_token_usage"
    finish = "genai_sidecar_finish_reasons"
    exposition = "\n".join(
        [
            f"# TYPE {duration} histogram",
            _sample(f"{duration}_bucket", 3, le="+Inf"),
            _sample(f"{duration}_count", 3),
            _sample(f"{duration}_sum", 1.5),
            _sample(f"{duration}_bucket", 2, error_type="429", le="+Inf"),
            _sample(f"{duration}_count", 2, error_type="429"),
            _sample(f"{duration}_sum", 0.1, error_type="429"),
            f"# TYPE {usage} histogram",
            _sample(f"{usage}_sum", 40, gen_ai_token_type="input"),
            _sample(f"{usage}_count", 3, gen_ai_token_type="input"),
            _sample(f"{usage}_sum", 9, gen_ai_token_type="output"),
            _sample(f"{usage}_count", 3, gen_ai_token_type="output"),
            f"# TYPE {finish} counter",
            _sample(f"{finish}_total", 2, gen_ai_response_finish_reasons="length"),
            _sample(f"{finish}_total", 5, gen_ai_request_model="zzz", gen_ai_response_finish_reasons="stop"),
            "",
        ]
    )
    rows = summarise(exposition, {"a": "scenario-a"})
    row = rows["scenario-a"]
    assert (row.requests, row.input_tokens, row.output_tokens) == (5, 40, 9)
    assert dict(row.error_types) == {"429": 2}
    assert dict(row.finish_reasons) == {"length": 2}
    assert "scenario-a" in render(rows)


def test_demo_rejects_an_unknown_scenario_with_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "demo", "--scenario", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown scenario 'nope'" in result.stderr
