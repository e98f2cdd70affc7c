"""The results table: one line per measure, the ratios between targets, and the budget verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.phases import FloodRun, MemoryRun, TargetRun
from bench.stats import percentile

MB = 1e6
"""Memory is reported in MB of 10^6 bytes (the stricter reading of the budget)."""

DIRECT, NGINX, ITER_ANY, PUMP, SIDECAR, SIDECAR_2 = (
    "direct",
    "nginx",
    "aiohttp-iter_any",
    "aiohttp-pump",
    "sidecar",
    "sidecar-w2",
)
TARGETS = (DIRECT, NGINX, ITER_ANY, PUMP, SIDECAR, SIDECAR_2)
HEADINGS = {
    DIRECT: "direct",
    NGINX: "nginx",
    ITER_ANY: "aiohttp iter_any",
    PUMP: "aiohttp pump",
    SIDECAR: "sidecar",
    SIDECAR_2: "sidecar x2 workers",
}
RATIOS = ((SIDECAR, DIRECT), (SIDECAR, NGINX), (ITER_ANY, NGINX), (PUMP, NGINX), (SIDECAR, PUMP))
"""Ratio columns (a / b): the sidecar against direct and nginx, each body path against nginx, and
the sidecar against its own body path alone (what telemetry and the request side add)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    measure: str
    values: dict[str, float | None] = field(default_factory=dict)
    budget: str = ""
    verdict: str = ""
    ratios: bool = True
    """Whether the ratio columns mean something here."""


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return "n/a"
    return "PASS" if ok else "FAIL"


def _ms(run: TargetRun | None, samples: str, q: float) -> float | None:
    if run is None:
        return None
    values: list[float] = getattr(run.load, samples)
    return percentile(values, q) * 1e3 if values else None


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def latency_rows(runs: dict[str, TargetRun]) -> list[Row]:
    direct = runs.get(DIRECT)
    rows: list[Row] = []
    for label, samples in (("time to first chunk", "ttfc_s"), ("inter-chunk gap", "gaps_s")):
        p50 = {name: _ms(run, samples, 50) for name, run in runs.items()}
        p99 = {name: _ms(run, samples, 99) for name, run in runs.items()}
        rows.append(Row(measure=f"{label} p50 (ms)", values=p50))
        rows.append(Row(measure=f"{label} p99 (ms)", values=p99))
        base = _ms(direct, samples, 99)
        added = {name: _minus(v, base) for name, v in p99.items() if name != DIRECT}
        budget = "≤ 2 ms" if samples == "ttfc_s" else "within 2 ms"
        # TTFC: at most 2 ms added. Gaps: within 2 ms either way (a proxy can also merge chunks).
        value = added.get(SIDECAR)
        if value is None:
            ok = None
        elif samples == "ttfc_s":
            ok = value <= 2.0
        else:
            ok = abs(value) <= 2.0
        rows.append(
            Row(
                measure=f"{label} p99, added vs direct (ms)",
                values=added,
                budget=budget,
                verdict=_verdict(ok),
                ratios=False,
            )
        )
    cpu = {name: run.cpu_us_per_chunk for name, run in runs.items() if name != DIRECT}
    ratio = _ratio(cpu.get(SIDECAR), cpu.get(NGINX))
    rows.append(
        Row(
            measure="proxy CPU per streamed chunk, 100 paced streams (µs)",
            values=cpu,
            budget="≤ 2 x nginx",
            verdict=_verdict(None if ratio is None else ratio <= 2.0),
        )
    )
    over = _ratio(cpu.get(SIDECAR), cpu.get(PUMP))
    rows.append(
        Row(
            measure="telemetry + request side over the body path alone (sidecar / aiohttp pump - 1, %)",
            values={SIDECAR: None if over is None else (over - 1) * 100},
            budget="≤ 20 %",
            verdict=_verdict(None if over is None else over <= 1.2),
            ratios=False,
        )
    )
    return rows


def flood_rows(runs: dict[str, FloodRun]) -> list[Row]:
    rate = {name: run.chunks_per_s for name, run in runs.items()}
    cpu = {name: run.cpu_us_per_chunk for name, run in runs.items() if name != DIRECT}
    scale = _ratio(rate.get(SIDECAR_2), rate.get(SIDECAR))
    return [
        Row(measure="flood: chunks/s delivered at saturation", values=rate),
        Row(measure="flood: proxy CPU per chunk (µs)", values=cpu),
        Row(
            measure="flood: sidecar x2 workers / x1, chunks/s",
            values={SIDECAR_2: scale},
            budget="≥ 1.8",
            verdict=_verdict(None if scale is None else scale >= 1.8),
            ratios=False,
        ),
    ]


def memory_rows(memory: dict[str, MemoryRun], hold_streams: int) -> list[Row]:
    nginx, sidecar = memory.get(NGINX), memory.get(SIDECAR)

    def mb(value: int | None) -> float | None:
        return None if value is None else value / MB

    both = ((NGINX, nginx), (SIDECAR, sidecar))

    def pair(get: str) -> dict[str, float | None]:
        return {name: mb(getattr(run, get) if run else None) for name, run in both}

    def verdict(value: int | None, limit_mb: float, complete: bool = True) -> str:
        if value is None:
            return "n/a"
        if not complete:
            return "INCOMPLETE"
        return _verdict(value / MB <= limit_mb)

    held = sidecar is not None and sidecar.hold is not None and sidecar.hold.max_open >= hold_streams
    growth = sidecar.big_body_growth if sidecar else None
    return [
        Row(
            measure="RSS idle, fresh process (MB)",
            values=pair("idle_rss"),
            budget="≤ 50 MB",
            verdict=verdict(sidecar.idle_rss if sidecar else None, 50),
        ),
        Row(
            measure=f"RSS peak, {hold_streams:,} concurrent streams (MB)",
            values=pair("hold_peak"),
            budget="≤ 150 MB",
            verdict=verdict(sidecar.hold_peak if sidecar else None, 150, held),
        ),
        Row(measure="RSS idle after the streams (MB)", values=pair("idle_rss_after")),
        Row(
            measure="RSS growth over one 256 MiB response (MB)",
            values=pair("big_body_growth"),
            budget="< 10 MB",
            verdict=_verdict(None if growth is None else growth / MB < 10),
        ),
    ]


def _cell(value: float | None, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"


def render_table(rows: list[Row]) -> str:
    ratio_heads = [f"{HEADINGS[a]} / {HEADINGS[b]}" for a, b in RATIOS]
    heads = ["measure", *(HEADINGS[t] for t in TARGETS), *ratio_heads, "budget", "verdict"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in rows:
        ratios = [_ratio(r.values.get(a), r.values.get(b)) if r.ratios else None for a, b in RATIOS]
        cells = [
            r.measure,
            *(_cell(r.values.get(t)) for t in TARGETS),
            *(_cell(x) for x in ratios),
            r.budget or "—",
            r.verdict or "—",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
