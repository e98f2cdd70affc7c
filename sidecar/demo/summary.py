"""Per-scenario summary computed from the sidecar's Prometheus exposition (its own telemetry).

Pure functions: exposition text in, rows out, so the summary is testable without a terminal.
Quantiles are estimated from the histogram buckets the way PromQL's ``histogram_quantile`` does.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from sidecar.telemetry import semconv
from sidecar.telemetry.semconv import Signal

MODEL_LABEL = semconv.GEN_AI_REQUEST_MODEL.replace(".", "_")
ERROR_LABEL = semconv.ERROR_TYPE.replace(".", "_")
TOKEN_TYPE_LABEL = semconv.GEN_AI_TOKEN_TYPE.replace(".", "_")
FINISH_LABEL = semconv.GEN_AI_RESPONSE_FINISH_REASONS.replace(".", "_")


@dataclass(slots=True)
class ScenarioRow:
    requests: int = 0
    ttfc_p50_s: float | None = None
    ttfc_p95_s: float | None = None
    tpoc_p50_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reasons: Counter[str] = field(default_factory=Counter)
    error_types: Counter[str] = field(default_factory=Counter)


def _name(signal: Signal) -> str:
    return semconv.prometheus_name(semconv.SIGNALS[signal][semconv.V1_41])


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """``histogram_quantile``: ``buckets`` are cumulative (upper bound, count) pairs."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] == 0:
        return None
    total = ordered[-1][1]
    rank = q * total
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


def summarise(exposition: str, models: Mapping[str, str]) -> dict[str, ScenarioRow]:
    """Rows per scenario name; ``models`` maps a scenario's request model to its name."""
    rows = {name: ScenarioRow() for name in models.values()}
    ttfc: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    tpoc: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    duration, ttfc_name, tpoc_name = (
        _name(Signal.OPERATION_DURATION),
        _name(Signal.TIME_TO_FIRST_CHUNK),
        _name(Signal.TIME_PER_OUTPUT_CHUNK),
    )
    usage = _name(Signal.INPUT_TOKENS)
    finish = semconv.prometheus_name(semconv.FINISH_REASONS)
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            scenario = models.get(sample.labels.get(MODEL_LABEL, ""))
            if scenario is None:
                continue
            row = rows[scenario]
            if sample.name == f"{duration}_count":
                row.requests += int(sample.value)
                error = sample.labels.get(ERROR_LABEL)
                if error:
                    row.error_types[error] += int(sample.value)
            elif sample.name == f"{ttfc_name}_bucket":
                ttfc[scenario][float(sample.labels["le"])] += sample.value
            elif sample.name == f"{tpoc_name}_bucket":
                tpoc[scenario][float(sample.labels["le"])] += sample.value
            elif sample.name == f"{usage}_sum":
                if sample.labels.get(TOKEN_TYPE_LABEL) == semconv.TokenType.INPUT:
                    row.input_tokens += int(sample.value)
                else:
                    row.output_tokens += int(sample.value)
            elif sample.name == f"{finish}_total":
                row.finish_reasons[sample.labels.get(FINISH_LABEL, "?")] += int(sample.value)
    for scenario, row in rows.items():
        row.ttfc_p50_s = quantile(0.5, ttfc[scenario].items())
        row.ttfc_p95_s = quantile(0.95, ttfc[scenario].items())
        row.tpoc_p50_s = quantile(0.5, tpoc[scenario].items())
    return rows
