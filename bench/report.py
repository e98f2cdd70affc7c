"""The results table: one line per measure, the ratios between targets, and the budget verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.phases import MemoryRun, TargetRun
from bench.stats import percentile

MB = 1e6
"""Memory is reported in MB of 10^6 bytes (the stricter reading of the budget)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    measure: str
    direct: float | None = None
    nginx: float | None = None
    sidecar: float | None = None
    budget: str = ""
    verdict: str = ""
    ratios: bool = True
    """Whether the sidecar/direct, nginx/direct and sidecar/nginx ratios mean something here."""


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
    direct, nginx, sidecar = runs.get("direct"), runs.get("nginx"), runs.get("sidecar")
    rows: list[Row] = []
    for label, samples in (("time to first chunk", "ttfc_s"), ("inter-chunk gap", "gaps_s")):
        p50 = [_ms(r, samples, 50) for r in (direct, nginx, sidecar)]
        p99 = [_ms(r, samples, 99) for r in (direct, nginx, sidecar)]
        rows.append(Row(measure=f"{label} p50 (ms)", direct=p50[0], nginx=p50[1], sidecar=p50[2]))
        rows.append(Row(measure=f"{label} p99 (ms)", direct=p99[0], nginx=p99[1], sidecar=p99[2]))
        added_nginx, added_sidecar = _minus(p99[1], p99[0]), _minus(p99[2], p99[0])
        budget = "≤ 2 ms" if samples == "ttfc_s" else "within 2 ms"
        # TTFC: at most 2 ms added. Gaps: within 2 ms either way (a proxy can also merge chunks).
        if added_sidecar is None:
            ok = None
        elif samples == "ttfc_s":
            ok = added_sidecar <= 2.0
        else:
            ok = abs(added_sidecar) <= 2.0
        rows.append(
            Row(
                measure=f"{label} p99, added vs direct (ms)",
                nginx=added_nginx,
                sidecar=added_sidecar,
                budget=budget,
                verdict=_verdict(ok),
                ratios=False,
            )
        )
    cpu_nginx = nginx.cpu_us_per_chunk if nginx else None
    cpu_sidecar = sidecar.cpu_us_per_chunk if sidecar else None
    ratio = _ratio(cpu_sidecar, cpu_nginx)
    rows.append(
        Row(
            measure="proxy CPU per streamed chunk (µs)",
            nginx=cpu_nginx,
            sidecar=cpu_sidecar,
            budget="≤ 2 x nginx",
            verdict=_verdict(None if ratio is None else ratio <= 2.0),
        )
    )
    return rows


def memory_rows(memory: dict[str, MemoryRun], hold_streams: int) -> list[Row]:
    nginx, sidecar = memory.get("nginx"), memory.get("sidecar")

    def mb(value: int | None) -> float | None:
        return None if value is None else value / MB

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
            nginx=mb(nginx.idle_rss if nginx else None),
            sidecar=mb(sidecar.idle_rss if sidecar else None),
            budget="≤ 50 MB",
            verdict=verdict(sidecar.idle_rss if sidecar else None, 50),
        ),
        Row(
            measure=f"RSS peak, {hold_streams:,} concurrent streams (MB)",
            nginx=mb(nginx.hold_peak if nginx else None),
            sidecar=mb(sidecar.hold_peak if sidecar else None),
            budget="≤ 150 MB",
            verdict=verdict(sidecar.hold_peak if sidecar else None, 150, held),
        ),
        Row(
            measure="RSS idle after the streams (MB)",
            nginx=mb(nginx.idle_rss_after if nginx else None),
            sidecar=mb(sidecar.idle_rss_after if sidecar else None),
        ),
        Row(
            measure="RSS growth over one 256 MiB response (MB)",
            nginx=mb(nginx.big_body_growth if nginx else None),
            sidecar=mb(growth),
            budget="< 10 MB",
            verdict=_verdict(None if growth is None else growth / MB < 10),
        ),
    ]


def _cell(value: float | None, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.{digits}f}"


COLUMNS = ("measure", "direct", "nginx", "sidecar", "sidecar/direct", "nginx/direct", "sidecar/nginx")
HEADER = "| " + " | ".join((*COLUMNS, "budget", "verdict")) + " |"


def render_table(rows: list[Row]) -> str:
    lines = [HEADER, "|" + "---|" * 9]
    for r in rows:
        ratios = (
            (_ratio(r.sidecar, r.direct), _ratio(r.nginx, r.direct), _ratio(r.sidecar, r.nginx))
            if r.ratios
            else (None, None, None)
        )
        cells = [
            r.measure,
            _cell(r.direct),
            _cell(r.nginx),
            _cell(r.sidecar),
            *(_cell(x) for x in ratios),
            r.budget or "—",
            r.verdict or "—",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
