"""The cost dashboard row, the budget alert and the README's "who spent most yesterday" query:
valid PromQL, names the sidecar emits, and behaviour checked by `promtool test rules`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sidecar._json import loads

from .test_observability import JOB, SCRAPE_LABELS, Names, attribute_labels, emitted
from .tools import K8S, ROOT, run, tool, yaml

DASHBOARD = K8S / "observability" / "dashboards" / "genai-sidecar-cost.json"
RULES = K8S / "observability" / "rules" / "genai-sidecar-cost.rules.yaml"
RULES_TEST = ROOT / "tests" / "deploy" / "data" / "cost-rules.test.yaml"
#: The attribution label the dashboard, the alert and the README use (x-tenant -> tenant).
TENANT = "genai_sidecar_tenant"
VARIABLES = {
    "$job": JOB,
    "$__rate_interval": "5m",
    "$__range": "1d",
    "$namespace": ".*",
    "$model": ".*",
    "$tenant": ".*",
}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = loads(DASHBOARD.read_bytes())
    return loaded


def dashboard_exprs() -> dict[str, str]:
    exprs = {}
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in sorted(VARIABLES.items(), key=lambda kv: -len(kv[0])):
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"unknown Grafana variable in {expr}"
            exprs[f"{panel['title']} / {target['refId']}"] = expr
    return exprs


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def readme_query(path: Path) -> str:
    """The PromQL block that follows the 'Which tenant spent most ...' line."""
    text = path.read_text()
    match = re.search(r"Which tenant spent most tokens and money yesterday.*?```promql\n(.*?)```", text, re.S)
    assert match, f"no 'Which tenant spent most' query in {path}"
    return match.group(1).strip()


def test_rules_pass_promtool_check() -> None:
    result = run([tool("promtool"), "check", "rules", str(RULES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_budget_alert_fires_and_stays_quiet_as_its_unit_tests_say() -> None:
    result = run([tool("promtool"), "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_pass_promtool_check(tmp_path: Path) -> None:
    queries = [*dashboard_exprs().values(), readme_query(ROOT / "README.md")]
    group = {"name": "q", "rules": [{"record": f"q:query_{i}", "expr": e} for i, e in enumerate(queries)]}
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [group]}))
    result = run([tool("promtool"), "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_is_one_row_with_the_asked_for_panels() -> None:
    board = dashboard()
    assert board["uid"] == "genai-sidecar-cost"
    rows = [p for p in board["panels"] if p["type"] == "row"]
    assert len(rows) == 1
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    used: dict[str, set[str]] = {}
    for where, expr in dashboard_exprs().items():
        names = Names(expr)
        used[where] = names.metrics | names.labels
    everything = set().union(*used.values())
    assert {"genai_sidecar_cost_total", TENANT, "gen_ai_request_model", "enduser_id"} <= everything
    assert "gen_ai_client_token_usage_sum" in everything
    assert "gen_ai_client_inference_usage_input_tokens_total" in everything
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


def test_every_name_is_one_the_sidecar_emits() -> None:
    exprs = dashboard_exprs()
    exprs.update({r.get("record") or r["alert"]: r["expr"] for r in rules()})
    exprs["README"] = readme_query(ROOT / "README.md")
    recorded = {r["record"] for r in rules() if "record" in r}
    known = emitted("v1.41") | emitted("latest") | recorded
    labels = attribute_labels() | SCRAPE_LABELS | {TENANT, "measure"}  # measure: the README's own
    for where, expr in exprs.items():
        names = Names(expr)
        assert not names.metrics - known, f"{where}: not emitted: {sorted(names.metrics - known)}"
        assert not names.labels - labels, f"{where}: unknown labels {sorted(names.labels - labels)}"


def test_dashboard_and_rules_read_only_the_sidecar_job() -> None:
    """As the main dashboard: another app's series with the same names are never added in (the
    README's query is for any Prometheus and names no job)."""
    recorded = {r["record"] for r in rules() if "record" in r}
    exprs = dashboard_exprs()
    exprs.update({r.get("record") or r["alert"]: r["expr"] for r in rules()})
    for where, expr in exprs.items():
        assert not Names(expr).unscoped - recorded, f"{where}: not scoped to job={JOB!r}"
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            assert 'job="$job"' in variable["query"]["query"], variable["name"]


def test_docs_carry_the_same_query_as_the_readme() -> None:
    assert readme_query(ROOT / "docs" / "attribution.md") == readme_query(ROOT / "README.md")


def _series(name: str, per_minute: float, **labels: str) -> dict[str, str]:
    text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{name}{{{text}}}", "values": f"0+{per_minute}x1440"}


def test_readme_query_names_the_top_tenant_per_model_for_cost_and_tokens(tmp_path: Path) -> None:
    """Prometheus evaluates the README's query over a day of counters: per model, the tenant
    with the highest cost and the one with the most tokens (not the same one for m1: small's
    tokens are mostly cheap), with an unpriced model left out of the cost rows, and tokens from
    sidecars in every semconv mode (a: v1.41, b: latest, c: both, counted once). Rates are
    multiples of 1/16 per minute so that promtool's exact comparison holds."""
    cost, tokens = "genai_sidecar_cost_total", "gen_ai_client_token_usage_sum"
    usd = {"gen_ai_usage_cost_currency": "USD", "instance": "a:9464"}
    series = [
        _series(cost, 0.25, genai_sidecar_tenant="acme", gen_ai_request_model="m1", **usd),
        _series(cost, 0.0625, genai_sidecar_tenant="small", gen_ai_request_model="m1", **usd),
        _series(cost, 0.125, genai_sidecar_tenant="acme", gen_ai_request_model="m2", **usd),
        _series(cost, 0.5, genai_sidecar_tenant="small", gen_ai_request_model="m2", **usd),
        _series(
            cost,
            0,
            genai_sidecar_tenant="acme",
            gen_ai_request_model="m3",
            gen_ai_usage_cost_currency="_UNPRICED",
            instance="a:9464",
        ),
    ]
    for tenant, model, kind, per_minute in [
        ("acme", "m1", "input", 10),
        ("acme", "m1", "output", 5),
        ("small", "m1", "input", 30),
        ("acme", "m2", "input", 1),
        ("small", "m2", "output", 2),
    ]:
        labels = {"genai_sidecar_tenant": tenant, "gen_ai_request_model": model, "gen_ai_token_type": kind}
        series.append(_series(tokens, per_minute, instance="a:9464", **labels))
    # b emits the latest names only; c emits both generations (counted once).
    latest_in = "gen_ai_client_inference_usage_input_tokens_total"
    latest_out = "gen_ai_client_inference_usage_output_tokens_total"
    acme_m2 = {"genai_sidecar_tenant": "acme", "gen_ai_request_model": "m2", "instance": "b:9464"}
    small_m1 = {"genai_sidecar_tenant": "small", "gen_ai_request_model": "m1", "instance": "c:9464"}
    series += [
        _series(latest_in, 3, **acme_m2),
        _series(latest_out, 1, **acme_m2),
        _series(tokens, 20, gen_ai_token_type="input", **small_m1),
        _series(latest_in, 20, **small_m1),
        _series(latest_out, 0, **small_m1),
    ]
    day = 1440

    def row(measure: str, model: str, tenant: str, value: float, **extra: str) -> dict[str, Any]:
        labels = {"measure": measure, "gen_ai_request_model": model, TENANT: tenant, **extra}
        text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return {"labels": f"{{{text}}}", "value": value}

    expected = [
        row("cost", "m1", "acme", 0.25 * day, gen_ai_usage_cost_currency="USD"),
        row("cost", "m2", "small", 0.5 * day, gen_ai_usage_cost_currency="USD"),
        row("tokens", "m1", "small", (30 + 20) * day),  # a + c, c once
        row("tokens", "m2", "acme", (1 + 3 + 1) * day),  # a + b: acme passes small's 2 a minute
    ]
    test = {
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {"expr": readme_query(ROOT / "README.md"), "eval_time": "1d", "exp_samples": expected}
                ],
            }
        ],
    }
    path = tmp_path / "readme-query.test.yaml"
    path.write_text(yaml.safe_dump(test))
    result = run([tool("promtool"), "test", "rules", path.name], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
