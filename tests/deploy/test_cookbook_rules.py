"""The README's PromQL cookbook shipped as recording rules: the same expressions, accepted by
promtool, reading only metric names the sidecar emits."""

from __future__ import annotations

from typing import Any

from sidecar.telemetry import semconv
from tests.cookbook import RULES, cookbook

from .test_observability import Names
from .tools import run, tool, yaml


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_cookbook_rules_pass_promtool_check() -> None:
    result = run([tool("promtool"), "check", "rules", str(RULES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_readme_query_is_a_recording_rule_with_the_same_expression() -> None:
    recorded = {rule["record"]: " ".join(rule["expr"].split()) for rule in _rules()}
    expected = {record: " ".join(expr.split()) for _, record, expr in cookbook()}
    assert len(expected) == 8
    assert recorded == expected


def test_cookbook_reads_only_metrics_the_sidecar_emits() -> None:
    emitted = semconv.prometheus_samples("v1.41")
    for _, record, expr in cookbook():
        unknown = Names(expr).metrics - emitted
        assert not unknown, f"{record}: {sorted(unknown)}"
