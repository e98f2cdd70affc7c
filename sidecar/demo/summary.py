"""Per-scenario summary computed from the sidecar's Prometheus exposition (its own telemetry).

Pure functions: exposition text in, rows out, so the summary is testable without a terminal.
Each figure is what the matching query of :mod:`sidecar.demo.queries` gives over the whole run;
quantiles are estimated from the histogram buckets the way PromQL's ``histogram_quantile`` does.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from sidecar.demo import queries as q
from sidecar.telemetry import semconv


@dataclass(slots=True)
class ScenarioRow:
    requests: int = 0
    failed: int = 0
    ttfc_p50_s: float | None = None
    ttfc_p95_s: float | None = None
    #: Cumulative (upper bound, count) pairs of the time-to-first-chunk histogram.
    ttfc_buckets: tuple[tuple[float, float], ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0
    #: Calls with an output token count recorded.
    usage_calls: int = 0
    input_usage_calls: int = 0
    ok_duration_s: float = 0.0
    finish_reasons: Counter[str] = field(default_factory=Counter)
    error_types: Counter[str] = field(default_factory=Counter)

    @property
    def decode_tokens_per_s(self) -> float | None:
        return self.output_tokens / self.ok_duration_s if self.ok_duration_s > 0 else None


def quantile(q_: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """``histogram_quantile``: ``buckets`` are cumulative (upper bound, count) pairs."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] == 0:
        return None
    total = ordered[-1][1]
    rank = q_ * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def _add_sample(row: ScenarioRow, name: str, labels: Mapping[str, str], value: float) -> None:
    if name == f"{q.DURATION}_count":
        row.requests += int(value)
        error = labels.get(q.ERROR)
        if error:
            row.failed += int(value)
            row.error_types[error] += int(value)
    elif name == f"{q.DURATION}_sum" and not labels.get(q.ERROR):
        row.ok_duration_s += value
    elif name in (f"{q.TOKENS}_sum", f"{q.TOKENS}_count"):
        is_input = labels.get(q.TOKEN_TYPE) == semconv.TokenType.INPUT
        if name.endswith("_sum"):
            if is_input:
                row.input_tokens += int(value)
            else:
                row.output_tokens += int(value)
        elif is_input:
            row.input_usage_calls += int(value)
        else:
            row.usage_calls += int(value)
    elif name == f"{q.FINISH_REASONS}_total":
        row.finish_reasons[labels.get(q.FINISH, "?")] += int(value)


def summarise(exposition: str, models: Mapping[str, str]) -> dict[str, ScenarioRow]:
    """Rows per scenario name; ``models`` maps a scenario's request model to its name."""
    rows = {name: ScenarioRow() for name in models.values()}
    ttfc: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            scenario = models.get(sample.labels.get(q.MODEL, ""))
            if scenario is None:
                continue
            if sample.name == f"{q.TTFC}_bucket":
                ttfc[scenario][float(sample.labels["le"])] += sample.value
            else:
                _add_sample(rows[scenario], sample.name, sample.labels, sample.value)
    for scenario, row in rows.items():
        row.ttfc_buckets = tuple(sorted(ttfc[scenario].items()))
        row.ttfc_p50_s = quantile(0.5, row.ttfc_buckets)
        row.ttfc_p95_s = quantile(0.95, row.ttfc_buckets)
    return rows
