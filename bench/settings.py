"""What one benchmark run does: the workload of each phase and how long it runs."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """Simulated OpenAI-style streams: x-sim-* timings and the number of concurrent streams."""

    concurrency: int
    ttfc_ms: float
    itl_ms: float
    tokens: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchSettings:
    latency: Workload = Workload(concurrency=100, ttfc_ms=100.0, itl_ms=20.0, tokens=64)
    """The paced workload of the latency and CPU phase (DESIGN.md: 100 concurrent paced streams)."""
    rounds: int = 3
    """Latency rounds; each runs every target once, in a rotated order, so drift hits all alike."""
    duration_s: float = 8.0
    """Recorded time per target per round."""
    warmup_s: float = 2.0
    """Unrecorded time at the start of each run (connections open, caches fill)."""
    hold: Workload = Workload(concurrency=1000, ttfc_ms=100.0, itl_ms=400.0, tokens=20)
    """The memory phase's streams, all open at once (slow pacing keeps 1,000 open for ~8 s)."""
    big_body_bytes: int = 256 * 1024 * 1024
    big_body_chunk: int = 65536
    idle_settle_s: float = 2.0
    """Pause before an idle RSS reading."""
    scrape_interval_s: float = 5.0
    """How often the sidecar's /metrics is scraped while it carries load (Prometheus on)."""
    flood: Workload = Workload(concurrency=32, ttfc_ms=0.0, itl_ms=0.0, tokens=256)
    """Saturation: streams with no pacing, as fast as every process can go (chunks/s delivered)."""
    flood_s: float = 8.0
    """Recorded time per target of the flood (after the warm-up)."""
    burst: bool = False
    """Start every paced worker at once (requests then arrive in bursts) instead of staggered."""
    pin: bool = False
    """Give the proxies (nginx, the sidecar) the last CPU and everything else the others."""
    sidecar_env: tuple[tuple[str, str], ...] = ()
    """Extra environment for the sidecar under test (e.g. to compare with telemetry off)."""


FULL = BenchSettings()
QUICK = replace(FULL, rounds=1, duration_s=4.0, warmup_s=1.5, idle_settle_s=1.0, flood_s=4.0)


def cpu_split() -> tuple[set[int], set[int]]:
    """(CPUs for the proxy under test, CPUs for everything else) when ``pin`` is on."""
    cpus = list(range(os.cpu_count() or 1))
    if len(cpus) < 2:
        raise ValueError("--pin needs at least 2 CPUs")
    return {cpus[-1]}, set(cpus[:-1])


def client_args(settings: BenchSettings) -> list[str]:
    """Load-client arguments that follow the CPU layout."""
    if not settings.pin:
        return []
    return ["--cpus=" + ",".join(str(c) for c in sorted(cpu_split()[1]))]
