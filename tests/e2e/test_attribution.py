"""Attribution and cost end to end: ``genai-sidecar run`` with tenant headers, hashed user ids and
API keys and a price file, between the openai SDK and the shipped simulator, pushing OTLP to a
real collector (rotel) and scraped by a real Prometheus.

Nothing identifying leaves the process unhashed: the raw user id and API key appear in no byte
the collector received, on ``/metrics``, or in the sidecar's own output (call log on stdout and
debug logging). The README's "which tenant spent most yesterday" query, run by Prometheus, names
the tenant that sent more calls.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from tests.e2e.conftest import (
    REPO,
    Prometheus,
    Rotel,
    Sidecar,
    otlp_env,
    wait_for,
)

pytestmark = pytest.mark.e2e

KEY = b"e2e-hmac-key-0123456789"
USER = "carol.secret-user@example.com"
TOKEN = "sk-e2e-RAWTOKEN-5150"
CALLS = {"acme": 3, "small": 1}
PRICES = '[[model]]\nmatch = "sim-*"\ninput = 2.0\noutput = 8.0\ncurrency = "USD"\n'


def _hash(role: bytes, value: str) -> str:
    return hmac.new(KEY, role + value.encode(), hashlib.sha256).hexdigest()[:16]


def _readme_query() -> str:
    from tests.deploy.test_cost_observability import readme_query

    return readme_query(REPO / "README.md")


def test_attribution_and_cost_reach_collector_and_prometheus_with_nothing_raw(
    simulator_url: str,
    rotel: Rotel,
    prometheus: Callable[[str], Prometheus],
    sidecar_for: Callable[..., Sidecar],
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "hmac.key"
    key_file.write_bytes(KEY)
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    config = tmp_path / "sidecar.toml"
    config.write_text(
        '[logging]\nlevel = "debug"\n'
        '[telemetry]\ncall_log = "stdout"\n'
        "[telemetry.identity]\n"
        'metric_headers = { "x-tenant" = "tenant" }\n'
        'user_id_header = "x-user-id"\nuser_id_max_values = 10\napi_key_hash = true\n'
        f'hmac_key_file = "{key_file}"\n'
        f'[telemetry.cost]\nprices = "{prices}"\n'
    )
    sidecar = sidecar_for(simulator_url, env=otlp_env(rotel), extra_args=["--config", str(config)])
    for tenant, calls in CALLS.items():
        client = openai.OpenAI(
            base_url=f"{sidecar.base_url}/v1",
            api_key=TOKEN,
            max_retries=0,
            default_headers={"x-tenant": tenant, "x-user-id": USER},
        )
        for _ in range(calls):
            chunks = client.chat.completions.create(
                model="sim-chat",
                messages=[{"role": "user", "content": "one two three"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    user_hash, key_hash = _hash(b"enduser.id\x00", USER), _hash(b"api_key\x00", TOKEN)
    sidecar.wait_value("gen_ai_client_operation_duration_seconds_count", float(sum(CALLS.values())))
    for tenant in CALLS:
        labels = {"genai_sidecar_tenant": tenant}
        cost = sidecar.value("genai_sidecar_cost_total", **labels, enduser_id=user_hash)
        tokens_in = sidecar.value("gen_ai_client_token_usage_sum", **labels, gen_ai_token_type="input")
        tokens_out = sidecar.value("gen_ai_client_token_usage_sum", **labels, gen_ai_token_type="output")
        assert tokens_in, tenant
        assert tokens_out, tenant
        assert cost == pytest.approx((tokens_in * 2.0 + tokens_out * 8.0) / 1e6), tenant

    # the collector: spans and cost metric carry the hashes
    def collected() -> tuple[list[dict[str, object]], dict[str, dict[str, object]]] | None:
        spans = [s for s in rotel.spans(sidecar.run_id) if "gen_ai.usage.cost.amount" in s["attributes"]]
        metrics = rotel.latest_metrics(sidecar.run_id)
        if len(spans) < sum(CALLS.values()) or "genai_sidecar.cost" not in metrics:
            return None
        return spans, metrics

    spans, metrics = wait_for(collected, 30, "spans and genai_sidecar.cost at the collector")
    for span in spans:
        attrs = span["attributes"]
        assert isinstance(attrs, dict)
        assert attrs["enduser.id"] == user_hash
        assert attrs["genai_sidecar.api_key.hash"] == key_hash
        assert attrs["gen_ai.usage.cost.currency"] == "USD"
        assert attrs["gen_ai.usage.cost.source"] == "local"
    cost_points = metrics["genai_sidecar.cost"]["data_points"]
    assert isinstance(cost_points, list)
    assert {p["attributes"]["genai_sidecar.tenant"] for p in cost_points} == set(CALLS)

    # Prometheus, with the README's query (the last day, evaluated now)
    prom = prometheus(sidecar.admin_url.removeprefix("http://"))
    wait_for(
        lambda: prom.query('genai_sidecar_cost_total{genai_sidecar_tenant="small"}') or None,
        30,
        "Prometheus to scrape the cost counter",
    )
    rows = wait_for(lambda: prom.query(_readme_query()) or None, 30, "the README query to answer")
    top = {(r["metric"]["measure"], r["metric"]["gen_ai_request_model"]): r["metric"] for r in rows}
    assert top[("cost", "sim-chat")]["genai_sidecar_tenant"] == "acme"
    assert top[("cost", "sim-chat")]["gen_ai_usage_cost_currency"] == "USD"
    assert top[("tokens", "sim-chat")]["genai_sidecar_tenant"] == "acme"

    # no raw user id or key in any exported byte, nor in the sidecar's own output
    metrics_text = sidecar.metrics_text()
    assert f'enduser_id="{user_hash}"' in metrics_text
    sidecar.stop()
    exported = {
        "collector metrics": Path(rotel.capture_prefix + "metrics.jsonl").read_bytes(),
        "collector spans": Path(rotel.capture_prefix + "spans.jsonl").read_bytes(),
        "/metrics": metrics_text.encode(),
        "sidecar output": sidecar.proc.log.read_bytes(),
    }
    # the call log and the logging (at debug level) did run, so the check below reads real output
    assert exported["sidecar output"].count(b'"event":"genai_sidecar.call"') == sum(CALLS.values())
    assert b" INFO sidecar." in exported["sidecar output"]
    for where, blob in exported.items():
        for secret in (USER, TOKEN, "RAWTOKEN", "carol.secret"):
            assert secret.encode() not in blob, f"{secret!r} found in {where}"
