"""The Grafana dashboard and the Prometheus rules: valid PromQL (checked by promtool and by a
PromQL parser), rules whose behaviour is unit-tested with `promtool test rules`, and no metric
or label name that the sidecar does not emit, in either semconv generation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser as promql
import pytest

from sidecar._json import loads
from sidecar.telemetry import semconv

from .tools import K8S, ROOT, run, tool, yaml

DASHBOARD = K8S / "observability" / "dashboards" / "genai-sidecar.json"
RULES = K8S / "observability" / "rules" / "genai-sidecar.rules.yaml"
RULES_TEST = ROOT / "tests" / "deploy" / "data" / "alert-rules.test.yaml"
MODES = ("v1.41", "latest")
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$namespace": ".*",
    "$model": ".*",
    "$job": "genai-sidecar",
}
JOB = "genai-sidecar"
#: Labels that come from the scrape (target labels set in k8s/collector/config.yaml) or from
#: Prometheus itself, not from the sidecar's attributes.
SCRAPE_LABELS = {"le", "instance", "job", "namespace", "pod", "node", "app"}


def emitted(mode: str) -> frozenset[str]:
    names: frozenset[str] = semconv.prometheus_samples(mode)
    return names


def attribute_labels() -> set[str]:
    """Prometheus label names of every attribute name semconv.py spells."""
    values = [v for k, v in vars(semconv).items() if k.isupper() and isinstance(v, str)]
    return {v.replace(".", "_") for v in values if "." in v} | {semconv.REASON, semconv.SIGNAL}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = loads(DASHBOARD.read_bytes())
    return loaded


def panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])


def substitute(expr: str) -> str:
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def dashboard_exprs() -> dict[str, str]:
    exprs = {}
    for panel in panels():
        for target in panel.get("targets", []):
            exprs[f"{panel['title']} / {target['refId']}"] = substitute(target["expr"])
    return exprs


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def recorded() -> dict[str, str]:
    return {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}


class Names:
    """Metric and label names an expression uses, read from its syntax tree."""

    def __init__(self, expr: str) -> None:
        self.metrics: set[str] = set()
        self.labels: set[str] = set()
        #: Metric names selected without job="genai-sidecar".
        self.unscoped: set[str] = set()
        promql.walk(promql.parse(expr), self._visit)

    def _visit(self, node: Any) -> None:
        if isinstance(node, promql.VectorSelector):
            assert node.name, "select metrics by name, not by a __name__ matcher"
            self.metrics.add(node.name)
            self.labels.update(m.name for m in node.matchers.matchers)
            if not any(m.name == "job" and m.value == JOB for m in node.matchers.matchers):
                self.unscoped.add(node.name)
        elif isinstance(node, promql.AggregateExpr) and node.modifier is not None:
            self.labels.update(node.modifier.labels)
        elif isinstance(node, promql.BinaryExpr) and getattr(node.modifier, "matching", None):
            self.labels.update(node.modifier.matching.labels)


def resolved_metrics(expr: str) -> set[str]:
    """Metric names an expression reads, through the recording rules it uses."""
    out: set[str] = set()
    for name in Names(expr).metrics:
        out |= resolved_metrics(recorded()[name]) if name in recorded() else {name}
    return out


def all_exprs() -> dict[str, str]:
    exprs = dict(dashboard_exprs())
    for rule in rules():
        exprs[rule.get("record") or rule["alert"]] = rule["expr"]
    return exprs


def test_rules_pass_promtool_check() -> None:
    result = run([tool("promtool"), "check", "rules", str(RULES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_behave_as_their_unit_tests_say() -> None:
    result = run([tool("promtool"), "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_pass_promtool_check(tmp_path: Path) -> None:
    """Prometheus' own parser reads every dashboard query (as a recording rule)."""
    group = {
        "name": "dashboard",
        "rules": [
            {"record": f"dashboard:query_{i}", "expr": expr}
            for i, expr in enumerate(dashboard_exprs().values())
        ],
    }
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [group]}))
    result = run([tool("promtool"), "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_structure() -> None:
    board = dashboard()
    assert board["uid"] == "genai-sidecar"
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in panels():
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        targets = panel["targets"]
        assert targets, panel["title"]
        assert len({t["refId"] for t in targets}) == len(targets)


def test_dashboard_covers_what_an_sre_asks_for() -> None:
    used = set()
    for expr in dashboard_exprs().values():
        used |= Names(expr).metrics
    for mode in MODES:
        samples = emitted(mode)
        for signal in (
            semconv.Signal.TIME_TO_FIRST_CHUNK,
            semconv.Signal.TIME_PER_OUTPUT_CHUNK,
            semconv.Signal.OPERATION_DURATION,
            semconv.Signal.INPUT_TOKENS,
            semconv.Signal.OUTPUT_TOKENS,
        ):
            base = semconv.prometheus_name(semconv.SIGNALS[signal][mode])
            assert any(name.startswith(base) and name in samples for name in used), (mode, signal)
    assert semconv.prometheus_name(semconv.REQUESTS_ACTIVE) in used


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_every_metric_name_is_one_the_sidecar_emits(source: str) -> None:
    exprs = (
        dashboard_exprs()
        if source == "dashboard"
        else {r.get("record") or r["alert"]: r["expr"] for r in rules()}
    )
    if source == "dashboard":
        for variable in dashboard()["templating"]["list"]:
            query = variable.get("query")
            if isinstance(query, dict):
                match = re.fullmatch(r"label_values\((\w+)(?:\{[^}]*\})?,\s*\w+\)", query["query"])
                if match:
                    exprs[f"variable {variable['name']}"] = match.group(1)
    # `up` is Prometheus' own series for every scrape target.
    known = emitted("v1.41") | emitted("latest") | set(recorded()) | {"up"}
    for where, expr in exprs.items():
        unknown = Names(expr).metrics - known
        assert not unknown, f"{where}: not emitted by the sidecar: {sorted(unknown)}"


def test_every_query_reads_both_semconv_generations() -> None:
    """Each query that reads a GenAI metric gets data whether the sidecars run "v1.41",
    "latest" or "both"."""
    for where, expr in all_exprs().items():
        metrics = resolved_metrics(expr) - {"up"}
        if not metrics:
            continue
        for mode in MODES:
            assert metrics & emitted(mode), f"{where}: no data in semconv mode {mode!r}"


def test_every_label_is_an_attribute_or_a_scrape_label() -> None:
    allowed = attribute_labels() | SCRAPE_LABELS
    for where, expr in all_exprs().items():
        unknown = Names(expr).labels - allowed
        assert not unknown, f"{where}: unknown labels {sorted(unknown)}"


def test_names_check_sees_a_misspelled_metric() -> None:
    names = Names('sum by (le) (rate(gen_ai_client_operation_duration_second_bucket{a="b"}[5m]))')
    assert names.metrics == {"gen_ai_client_operation_duration_second_bucket"}
    assert names.metrics.isdisjoint(emitted("v1.41") | emitted("latest"))
    assert names.labels == {"le", "a"}


def _series(name: str, per_minute: int, **labels: str) -> dict[str, str]:
    labels.setdefault("job", JOB)
    text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{name}{{{text}}}", "values": f"0+{per_minute}x20"}


def test_dashboard_counts_each_sidecar_once_whatever_its_semconv_mode(tmp_path: Path) -> None:
    """Sidecar a emits v1.41 names, b the latest names, c both: the token and error panels
    add a and b and count c once. Prometheus evaluates the dashboard's own queries. (Rates are
    multiples of 1/4 per second: promtool compares floats exactly.)"""
    exprs = dashboard_exprs()
    model = {"gen_ai_request_model": "m", "namespace": "llm"}
    input_series = [
        _series("gen_ai_client_token_usage_sum", 60, instance="a", gen_ai_token_type="input", **model),
        _series("gen_ai_client_token_usage_sum", 600, instance="a", gen_ai_token_type="output", **model),
        _series("gen_ai_client_inference_usage_input_tokens_total", 120, instance="b", **model),
        _series("gen_ai_client_token_usage_sum", 240, instance="c", gen_ai_token_type="input", **model),
        _series("gen_ai_client_inference_usage_input_tokens_total", 240, instance="c", **model),
        _series("gen_ai_client_operation_duration_seconds_count", 45, instance="a", **model),
        _series(
            "gen_ai_client_operation_duration_seconds_count", 15, instance="a", error_type="500", **model
        ),
        _series("gen_ai_client_inference_duration_seconds_count", 90, instance="b", **model),
        _series(
            "gen_ai_client_inference_duration_seconds_count", 30, instance="b", error_type="timeout", **model
        ),
        _series("gen_ai_client_operation_duration_seconds_count", 60, instance="c", **model),
        _series("gen_ai_client_inference_duration_seconds_count", 60, instance="c", **model),
        # Another app scraped by the same Prometheus, with the same standard names: left out.
        _series(
            "gen_ai_client_operation_duration_seconds_count", 6000, instance="o", job="other-app", **model
        ),
        _series(
            "gen_ai_client_token_usage_sum",
            6000,
            instance="o",
            job="other-app",
            gen_ai_token_type="input",
            **model,
        ),
    ]
    cases = {
        "Input tokens / s by model / A": [('{gen_ai_request_model="m"}', 7.0)],
        "GenAI requests / s / A": [("{}", 4.0)],  # (60 + 120 + 60) per minute
        "Error ratio / A": [("{}", 45 / 240)],
        "Errors by type / A": [('{error_type="500"}', 0.25), ('{error_type="timeout"}', 0.5)],
    }
    tests = [
        {
            "interval": "1m",
            "input_series": input_series,
            "promql_expr_test": [
                {
                    "expr": exprs[title],
                    "eval_time": "10m",
                    "exp_samples": [{"labels": labels, "value": value} for labels, value in samples],
                }
            ],
        }
        for title, samples in cases.items()
    ]
    _promtool_test(tests, tmp_path)


def _promtool_test(tests: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "dashboard.test.yaml"
    path.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": tests}))
    result = run([tool("promtool"), "test", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_error_ratio_is_zero_without_errors_and_leaves_client_cancels_out(tmp_path: Path) -> None:
    expr = dashboard_exprs()["Error ratio / A"]
    model = {"gen_ai_request_model": "m", "namespace": "llm"}
    clean = [_series("gen_ai_client_operation_duration_seconds_count", 60, instance="a", **model)]
    cancelled = [
        *clean,
        _series(
            "gen_ai_client_operation_duration_seconds_count",
            60,
            instance="a",
            error_type="client_cancel",
            **model,
        ),
    ]
    tests = [
        {
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [
                {"expr": expr, "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 0}]}
            ],
        }
        for series in (clean, cancelled)
    ]
    _promtool_test(tests, tmp_path)


def test_every_selector_reads_only_the_sidecar_job() -> None:
    """Another app emitting the standard GenAI or HTTP names is never added in."""
    for where, expr in all_exprs().items():
        unscoped = Names(expr).unscoped - set(recorded())
        assert not unscoped, f"{where}: selects {sorted(unscoped)} without job={JOB!r}"
    assert Names('rate(x{job="other"}[5m])').unscoped == {"x"}


def test_variables_follow_the_job_and_the_namespace() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["job"]["query"] == JOB
    assert 'job="$job"' in variables["namespace"]["query"]["query"]
    model = variables["model"]["query"]["query"]
    assert 'job="$job"' in model
    assert 'namespace=~"$namespace"' in model


def test_stat_panels_have_explicit_thresholds_and_units_fit() -> None:
    for panel in panels():
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        if panel["type"] == "stat":
            steps = defaults["thresholds"]["steps"]
            assert defaults["thresholds"]["mode"] == "absolute", panel["title"]
            assert steps[0]["value"] is None, panel["title"]
        if "Finish reasons" in panel["title"]:
            assert defaults["unit"] != "percentunit"  # a rate of choices, not a share


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULES_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    assert alerts == fires
    assert alerts == quiet
