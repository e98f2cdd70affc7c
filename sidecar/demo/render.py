"""Plain-text table of the per-scenario summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from sidecar.demo.summary import ScenarioRow

HEADERS = (
    "scenario",
    "requests",
    "TTFC p50",
    "TTFC p95",
    "TPOC p50",
    "tok in",
    "tok out",
    "finish reasons",
    "errors",
)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _mix(counts: Counter[str]) -> str:
    return " ".join(f"{k}:{v}" for k, v in counts.most_common()) or "-"


def render(rows: Mapping[str, ScenarioRow]) -> str:
    table = [HEADERS] + [
        (
            name,
            str(row.requests),
            _ms(row.ttfc_p50_s),
            _ms(row.ttfc_p95_s),
            _ms(row.tpoc_p50_s),
            str(row.input_tokens),
            str(row.output_tokens),
            _mix(row.finish_reasons),
            _mix(row.error_types),
        )
        for name, row in rows.items()
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
