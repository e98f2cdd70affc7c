"""The demo's screen as plain text, at most :data:`WIDTH` columns: what each scenario does, the
per-scenario table (time to first chunk p50 first), a histogram of time to first chunk per
scenario drawn from the sidecar's own buckets, finish reasons and errors, and a legend with the
PromQL behind each column."""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence

from sidecar.demo import queries
from sidecar.demo.scenarios import Scenario
from sidecar.demo.summary import ScenarioRow

WIDTH = 100
_NAME = 12
_BLOCKS = " ▁▂▃▄▅▆▇█"
#: Histogram columns: the sidecar's bucket bounds up to this many seconds, then one overflow column.
_HISTOGRAM_UNTIL_S = 5.12


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cells(row: ScenarioRow) -> tuple[str, ...]:
    calls = row.requests
    return (
        _ms(row.ttfc_p50_s),
        _ms(row.ttfc_p95_s),
        str(calls),
        _num(100 * row.failed / calls if calls else None),
        _num(row.input_tokens / row.input_usage_calls if row.input_usage_calls else None),
        _num(row.output_tokens / row.usage_calls if row.usage_calls else None),
        _num(row.decode_tokens_per_s),
        f"{row.usage_calls}/{calls}",
    )


def table(rows: Mapping[str, ScenarioRow]) -> str:
    headers = tuple(c.header for c in queries.COLUMNS)
    body = [(name, *_cells(row)) for name, row in rows.items()]
    widths = [max(len(h), *(len(r[i + 1]) for r in body)) for i, h in enumerate(headers)]
    lines = ["scenario".ljust(_NAME) + "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("-" * len(lines[0]))
    for r in body:
        lines.append(
            r[0][: _NAME - 1].ljust(_NAME) + "  ".join(c.rjust(w) for c, w in zip(r[1:], widths, strict=True))
        )
    return "\n".join(lines)


def _bound_label(bound: float) -> str:
    return f"{bound * 1000:.0f}" if bound < 1 else f"{bound:.1f}s"


def _histogram_counts(buckets: Sequence[tuple[float, float]]) -> list[float]:
    """Per-column counts (not cumulative) for the bounds up to the limit, then the rest."""
    counts: list[float] = []
    previous = 0.0
    for bound, cumulative in buckets:
        if bound > _HISTOGRAM_UNTIL_S + 1e-9:
            break
        counts.append(cumulative - previous)
        previous = cumulative
    total = buckets[-1][1] if buckets else 0.0
    counts.append(total - previous)
    return counts


def histogram(rows: Mapping[str, ScenarioRow]) -> str:
    """One bar line per scenario: how many calls fell in each time-to-first-chunk bucket, scaled
    to that scenario's fullest bucket."""
    any_row = next((r for r in rows.values() if r.ttfc_buckets), None)
    if any_row is None:
        return "time to first chunk per bucket: no streamed calls yet"
    bounds = [b for b, _ in any_row.ttfc_buckets if b <= _HISTOGRAM_UNTIL_S + 1e-9]
    labels = [f"≤{_bound_label(b)}" for b in bounds] + [f">{_bound_label(bounds[-1])}"]
    cell = max(len(label) for label in labels) + 1
    lines = [
        "time to first chunk: calls per bucket (ms), each row scaled to its own fullest bucket",
        " " * _NAME + "".join(label.ljust(cell) for label in labels).rstrip(),
    ]
    for name, row in rows.items():
        counts = _histogram_counts(row.ttfc_buckets) if row.ttfc_buckets else []
        peak = max(counts, default=0.0)
        bar = ""
        for count in counts:
            level = 0 if peak <= 0 or count <= 0 else max(1, math.ceil(8 * count / peak))
            bar += (_BLOCKS[level] * (cell - 1)).ljust(cell)
        lines.append(name[: _NAME - 1].ljust(_NAME) + bar.rstrip())
    return "\n".join(lines)


def _mix(counts: Counter[str]) -> str:
    return " ".join(f"{k}:{v}" for k, v in counts.most_common()) or "-"


def outcomes(rows: Mapping[str, ScenarioRow]) -> str:
    lines = [f"{'scenario'.ljust(_NAME)}finish reasons | error types"]
    for name, row in rows.items():
        text = f"{_mix(row.finish_reasons)} | {_mix(row.error_types)}"
        lines.append(_fit(name[: _NAME - 1].ljust(_NAME) + text))
    return "\n".join(lines)


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def scenario_lines(scenarios: Sequence[Scenario]) -> str:
    lines: list[str] = []
    for s in scenarios:
        lines.append(_fit(f"{s.name[: _NAME - 1].ljust(_NAME)}{s.does}"))
        lines.append(_fit(f"{'':{_NAME}}notice: {s.notice}"))
    return "\n".join(lines)


def legend(with_promql: bool) -> str:
    lines = ["columns (figures over the whole run; the PromQL gives the same over a window):"]
    for column in queries.COLUMNS:
        lines.append(_fit(f"  {column.header:<9} {column.legend}"))
        if with_promql:
            lines.extend(_wrap_promql(column.promql))
    if with_promql:
        lines.append("  finish reasons / error types / histogram:")
        for promql in (queries.FINISH_PROMQL, queries.ERRORS_PROMQL, queries.HISTOGRAM_PROMQL):
            lines.extend(_wrap_promql(promql))
    return "\n".join(lines)


def _wrap_promql(promql: str) -> list[str]:
    return textwrap.wrap(
        promql, width=WIDTH, initial_indent="      ", subsequent_indent="        ", break_on_hyphens=False
    )


def render(
    rows: Mapping[str, ScenarioRow], *, scenarios: Sequence[Scenario] = (), with_promql: bool = False
) -> str:
    """The summary: scenario lines (if given), table, histogram, outcomes and the legend."""
    parts = [scenario_lines(scenarios)] if scenarios else []
    parts += [table(rows), histogram(rows), outcomes(rows), legend(with_promql)]
    return "\n\n".join(parts)
