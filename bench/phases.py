"""The measured phases: paced latency + CPU (every target, in rounds), and memory (the sidecar)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bench import machine, procfs
from bench.client import LoadResult, run_loadgen
from bench.scrape import TTFC_COUNT, Scraper, fetch_metrics, sample_total
from bench.servers import Server
from bench.settings import BenchSettings, Workload, client_args
from bench.stats import percentile

Log = Callable[[str], None]


def _workload_args(w: Workload) -> list[str]:
    return [
        f"--concurrency={w.concurrency}",
        f"--ttfc-ms={w.ttfc_ms}",
        f"--itl-ms={w.itl_ms}",
        f"--tokens={w.tokens}",
    ]


@dataclass(slots=True, kw_only=True)
class TargetRun:
    """Everything one target got over all latency rounds."""

    load: LoadResult = field(default_factory=LoadResult)
    cpu_s: float = 0.0
    """Proxy CPU time (utime + stime, the process and its children) over the runs."""
    load_after: str = ""
    """The machine's load average after this target's last round."""
    recorded_ttfc: float | None = None
    """Streams whose TTFC the sidecar's /metrics reports (a check that telemetry was on)."""
    scrapes: int = 0

    @property
    def cpu_us_per_chunk(self) -> float:
        events = self.load.events_total
        return self.cpu_s / events * 1e6 if events else float("nan")


async def latency_phase(targets: list[Server], settings: BenchSettings, log: Log) -> dict[str, TargetRun]:
    """Each round runs every target once (order rotated per round) with the same paced workload."""
    runs = {t.name: TargetRun() for t in targets}
    limit_s = settings.warmup_s + settings.duration_s + 120
    for round_no in range(settings.rounds):
        shift = round_no % len(targets)
        for target in targets[shift:] + targets[:shift]:
            pids = procfs.tree(target.child.pid)
            cpu_before = procfs.tree_cpu_seconds(pids)
            scraper = None
            if target.admin_url is not None:
                scraper = Scraper(target.admin_url, settings.scrape_interval_s)
                scraper.start()
            try:
                args = ["--mode=paced", f"--url={target.url}", *_workload_args(settings.latency)]
                args += client_args(settings) + (["--burst"] if settings.burst else [])
                args += [f"--duration-s={settings.duration_s}", f"--warmup-s={settings.warmup_s}"]
                result = await run_loadgen(args, limit_s=limit_s)
            finally:
                if scraper is not None:
                    await scraper.stop()
            cpu = procfs.tree_cpu_seconds(pids) - cpu_before
            run = runs[target.name]
            run.load.merge(result)
            run.cpu_s += cpu
            run.load_after = machine.describe_load()
            if scraper is not None:
                run.scrapes += scraper.scrapes
            log(
                f"  round {round_no + 1}/{settings.rounds} {target.name:>7}: "
                f"{result.streams_ok} streams, {result.events_total} events, "
                f"TTFC p99 {percentile(result.ttfc_s, 99) * 1e3:.1f} ms, "
                f"gap p99 {percentile(result.gaps_s, 99) * 1e3:.1f} ms, "
                f"CPU {cpu:.2f} s, errors {result.error_count}, load {run.load_after}"
            )
            await asyncio.sleep(0.5)
    for target in targets:
        if target.admin_url is not None:
            exposition = await fetch_metrics(target.admin_url)
            runs[target.name].recorded_ttfc = sample_total(exposition, TTFC_COUNT)
    return runs


@dataclass(slots=True, kw_only=True)
class FloodRun:
    """One target under the flood: what got through per second, and what it cost."""

    load: LoadResult
    cpu_s: float
    load_after: str

    @property
    def chunks_per_s(self) -> float:
        """SSE events delivered over the client's whole run (warm-up included: it is saturated too)."""
        elapsed = self.load.elapsed_s
        return self.load.events_total / elapsed if elapsed else float("nan")

    @property
    def cpu_us_per_chunk(self) -> float:
        return self.cpu_s / self.load.events_total * 1e6 if self.load.events_total else float("nan")


async def flood_phase(targets: list[Server], settings: BenchSettings, log: Log) -> dict[str, FloodRun]:
    """Each target once under unpaced streams: chunks/s delivered at saturation."""
    runs: dict[str, FloodRun] = {}
    w = settings.flood
    for target in targets:
        pids = procfs.tree(target.child.pid)
        cpu_before = procfs.tree_cpu_seconds(pids)
        args = ["--mode=paced", f"--url={target.url}", *_workload_args(w), *client_args(settings)]
        args += [f"--duration-s={settings.flood_s}", f"--warmup-s={settings.warmup_s}"]
        result = await run_loadgen(args, limit_s=settings.warmup_s + settings.flood_s + 120)
        cpu = procfs.tree_cpu_seconds(pids) - cpu_before
        runs[target.name] = FloodRun(load=result, cpu_s=cpu, load_after=machine.describe_load())
        log(
            f"  flood {target.name:>16}: {runs[target.name].chunks_per_s:,.0f} chunks/s, "
            f"CPU {cpu:.2f} s over {result.events_total} events, errors {result.error_count}"
        )
        await asyncio.sleep(0.5)
    return runs


@dataclass(slots=True, kw_only=True)
class MemoryRun:
    """RSS readings of one proxy process tree, in bytes."""

    idle_rss: int = 0
    idle_rss_after: int | None = None
    big_body_baseline: int | None = None
    big_body_peak: int | None = None
    big_body: LoadResult | None = None
    hold_peak: int = 0
    hold_hwm: int | None = None
    hold: LoadResult | None = None

    @property
    def big_body_growth(self) -> int | None:
        if self.big_body_peak is None or self.big_body_baseline is None:
            return None
        return self.big_body_peak - self.big_body_baseline


async def memory_phase(
    target: Server, settings: BenchSettings, log: Log, *, big_body: bool, warm: Workload
) -> MemoryRun:
    """Idle RSS of a fresh process; RSS growth over one huge response; peak with N streams open."""
    pids = procfs.tree(target.child.pid)
    out = MemoryRun()
    await asyncio.sleep(settings.idle_settle_s)
    out.idle_rss = procfs.tree_rss(pids)
    log(f"  {target.name}: idle RSS {out.idle_rss / 1e6:.1f} MB")

    # Warm up first so the baseline holds the one-time costs (first request, pools, instruments).
    warm_args = ["--mode=paced", f"--url={target.url}", *_workload_args(warm), *client_args(settings)]
    await run_loadgen([*warm_args, "--duration-s=1", "--warmup-s=0"], limit_s=60)

    if big_body:
        warm_bytes = ["--mode=bytes", f"--url={target.url}", "--bytes=1048576", *client_args(settings)]
        await run_loadgen([*warm_bytes, f"--chunk={settings.big_body_chunk}"], limit_s=60)
        await asyncio.sleep(settings.idle_settle_s)
        out.big_body_baseline = procfs.tree_rss(pids)
        sampler = procfs.RssSampler(pids)
        sampler.start()
        args = ["--mode=bytes", f"--url={target.url}", f"--bytes={settings.big_body_bytes}"]
        args += client_args(settings)
        out.big_body = await run_loadgen([*args, f"--chunk={settings.big_body_chunk}"], limit_s=240)
        out.big_body_peak = await sampler.stop()
        log(
            f"  {target.name}: {settings.big_body_bytes / 2**20:.0f} MiB response "
            f"({out.big_body.bytes_total} bytes in {out.big_body.elapsed_s:.1f} s): RSS "
            f"{out.big_body_baseline / 1e6:.1f} -> peak {out.big_body_peak / 1e6:.1f} MB"
        )

    sampler = procfs.RssSampler(pids, interval_s=0.05)
    sampler.start()
    hold_args = ["--mode=hold", f"--url={target.url}", *_workload_args(settings.hold)]
    hold_args += client_args(settings)
    out.hold = await run_loadgen(hold_args, limit_s=240)
    out.hold_peak = await sampler.stop()
    if len(pids) == 1:
        out.hold_hwm = procfs.memory(pids[0]).hwm_bytes
    log(
        f"  {target.name}: {out.hold.max_open} streams open at once "
        f"({out.hold.streams_ok}/{settings.hold.concurrency} completed, errors {out.hold.error_count}): "
        f"RSS peak {out.hold_peak / 1e6:.1f} MB"
    )
    await asyncio.sleep(settings.idle_settle_s)
    out.idle_rss_after = procfs.tree_rss(pids)
    return out
