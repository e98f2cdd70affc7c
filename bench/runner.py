"""One benchmark run: start every server, run the phases, stop everything, write the report."""

from __future__ import annotations

import datetime
import os
import tempfile
from pathlib import Path

from bench import machine, procfs
from bench.phases import FloodRun, Log, MemoryRun, flood_phase, latency_phase, memory_phase
from bench.processes import Processes
from bench.report import flood_rows, latency_rows, memory_rows, render_table
from bench.servers import Server, start_nginx, start_passthrough, start_rotel, start_sidecar, start_simulator
from bench.settings import BenchSettings, Workload, cpu_split
from bench.stats import percentile

WARM = Workload(concurrency=8, ttfc_ms=0.0, itl_ms=1.0, tokens=16)
"""A short burst that warms a fresh proxy before its memory baseline is read."""


async def run(settings: BenchSettings, *, command: str, log: Log) -> str:
    """Run every phase and return the Markdown report."""
    started = datetime.datetime.now(datetime.UTC)
    load_before = machine.describe_load()
    log(f"load average before: {load_before}")
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="genai-sidecar-bench-") as tmp:
        work = Path(tmp)
        procs = Processes(work)
        proxy_cpus, other_cpus = cpu_split() if settings.pin else (set(), set())

        def place(server: Server | None, cpus: set[int]) -> None:
            if server is not None and cpus:
                procfs.pin(procfs.tree(server.child.pid), cpus)

        if settings.pin:
            os.sched_setaffinity(0, other_cpus)
            notes.append(f"pinned: nginx and the sidecar on CPU {proxy_cpus}, the rest on {other_cpus}.")
        sidecar_env = dict(settings.sidecar_env)
        if sidecar_env:
            notes.append(f"sidecar extra environment: {sidecar_env}")
        try:
            sim = await start_simulator(procs)
            place(sim, other_cpus)
            nginx = await start_nginx(procs, work, sim.port)
            place(nginx, proxy_cpus)
            if nginx is None:
                notes.append("nginx is not installed (`scripts/bench-deps.sh`): its column is empty.")
            rotel = await start_rotel(procs, work)
            if rotel is not None and other_cpus:
                procfs.pin([rotel[1].pid], other_cpus)
            otlp = rotel[0] if rotel else None
            if rotel is None:
                notes.append("rotel is not installed: the sidecar ran with OTLP export off.")

            log("memory: a fresh sidecar, then nginx")
            memory: dict[str, MemoryRun] = {}
            fresh = await start_sidecar(procs, sim.url, otlp, name="sidecar-memory", extra_env=sidecar_env)
            place(fresh, proxy_cpus)
            memory["sidecar"] = await memory_phase(fresh, settings, log, big_body=True, warm=WARM)
            procs.stop(fresh.child)
            if nginx is not None:
                memory["nginx"] = await memory_phase(nginx, settings, log, big_body=True, warm=WARM)

            sidecar = await start_sidecar(procs, sim.url, otlp, extra_env=sidecar_env)
            place(sidecar, proxy_cpus)
            bare = [await start_passthrough(procs, sim.url, body) for body in ("iter_any", "pump")]
            for server in bare:
                place(server, proxy_cpus)
            targets: list[Server] = [sim, *([nginx] if nginx else []), *bare, sidecar]
            w = settings.latency
            log(
                f"latency + CPU: {w.concurrency} concurrent streams, {w.tokens} tokens, "
                f"{w.itl_ms:g} ms apart, first after {w.ttfc_ms:g} ms; {settings.rounds} round(s) "
                f"of {settings.warmup_s:g} s warm-up + {settings.duration_s:g} s per target"
            )
            runs = await latency_phase(targets, settings, log)

            f = settings.flood
            log(
                f"flood: {f.concurrency} unpaced streams of {f.tokens} tokens per target, "
                f"{settings.warmup_s:g} s warm-up + {settings.flood_s:g} s"
            )
            workers2 = await start_sidecar(
                procs, sim.url, otlp, name="sidecar-w2", extra_env=sidecar_env, workers=2
            )
            place(workers2, proxy_cpus)
            flood: dict[str, FloodRun] = await flood_phase([*targets, workers2], settings, log)
            procs.stop(workers2.child)
            if rotel is not None:
                notes.append(
                    f"rotel (OTLP blackhole) used {procfs.cpu_seconds(rotel[1].pid):.1f} s CPU over the "
                    f"whole run; the simulator {procfs.cpu_seconds(sim.child.pid):.1f} s."
                )
        finally:
            procs.stop_all()
    load_after = machine.describe_load()
    log(f"load average after: {load_after}")

    rows = latency_rows(runs) + flood_rows(flood) + memory_rows(memory, settings.hold.concurrency)
    for name, run_ in runs.items():
        load = run_.load
        line = (
            f"{name}: {load.streams_recorded} recorded streams ({load.streams_total} with warm-up), "
            f"{len(load.gaps_s)} gaps, {load.events_total} SSE events, errors: {load.errors or 'none'}"
        )
        if name != "direct":
            line += f", proxy CPU {run_.cpu_s:.2f} s"
        line += f"; load average after its last round {run_.load_after}"
        if run_.recorded_ttfc is not None:
            line += (
                f"; its /metrics counted {run_.recorded_ttfc:.0f} TTFC samples over the latency phase, "
                f"scraped {run_.scrapes} times under load"
            )
        notes.append(line)
        notes.append(
            f"{name}: TTFC max {percentile(load.ttfc_s, 100) * 1e3:.1f} ms, "
            f"gap p99.9 {percentile(load.gaps_s, 99.9) * 1e3:.1f} ms"
        )
    for name, fl in flood.items():
        notes.append(
            f"flood {name}: {fl.load.events_total} SSE events in {fl.load.elapsed_s:.1f} s, "
            f"{fl.load.streams_ok} streams, errors: {fl.load.errors or 'none'}, proxy CPU {fl.cpu_s:.2f} s; "
            f"load average after {fl.load_after}"
        )
    for name, mem in memory.items():
        if mem.hold is not None:
            notes.append(
                f"{name} memory phase: {mem.hold.max_open} of {settings.hold.concurrency} streams "
                "open at once, "
                f"{mem.hold.streams_ok} completed, errors: {mem.hold.errors or 'none'}"
                + (f"; VmHWM after {mem.hold_hwm / 1e6:.1f} MB" if mem.hold_hwm else "")
            )
    return _markdown(settings, command, started, load_before, load_after, render_table(rows), notes)


def _markdown(
    settings: BenchSettings,
    command: str,
    started: datetime.datetime,
    load_before: str,
    load_after: str,
    table: str,
    notes: list[str],
) -> str:
    w, h = settings.latency, settings.hold
    starts = (
        "all started at once (`--burst`: requests arrive in bursts)"
        if settings.burst
        else "starts staggered over one stream's length (requests arrive evenly)"
    )
    lines = [
        f"# genai-sidecar benchmark, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}`",
        "",
        *(f"- {fact}" for fact in machine.summary()),
        f"- load average before: {load_before}; after: {load_after}",
        f"- nginx: {machine.tool_version(['nginx', '-v'])}",
        "",
        "Every server is its own process on 127.0.0.1: the simulator (`genai-sidecar simulate`), nginx",
        "(1 worker, `proxy_buffering off`, keep-alive upstream), the bare aiohttp pass-through",
        "(`python -m bench.passthrough`, no telemetry) with the `iter_any` + `write` loop and with the",
        "sidecar's own body path (`pump`), the sidecar (`genai-sidecar run`, Prometheus on, OTLP",
        "metrics/spans/logs to a rotel blackhole; for the flood also `--workers 2`) and the load client",
        "(`python -m bench.loadgen`). They all share the machine's cores.",
        "",
        f"- Latency and CPU: {w.concurrency} concurrent OpenAI-style SSE streams back to back, "
        f"{w.tokens} tokens, first content after {w.ttfc_ms:g} ms, then every {w.itl_ms:g} ms, "
        f"{starts}; "
        f"{settings.rounds} round(s) of {settings.duration_s:g} s recorded per target "
        f"(after {settings.warmup_s:g} s warm-up), target order rotated per round. TTFC is taken at "
        "the client from just before the request to the first chunk with content; gaps are between "
        "consecutive content chunks. CPU is utime + stime from /proc over each run (nginx: master + "
        "worker), divided by SSE events delivered.",
        f"- Flood (saturation): {settings.flood.concurrency} unpaced streams of {settings.flood.tokens} "
        f"tokens back to back per target, {settings.warmup_s:g} s + {settings.flood_s:g} s; chunks/s is SSE "
        "events delivered over the client's whole run.",
        f"- Memory: VmRSS from /proc/PID/status sampled every 20-50 ms; {h.concurrency:,} streams opened "
        f"at once ({h.tokens} tokens, {h.itl_ms:g} ms apart); one {settings.big_body_bytes // 2**20} MiB "
        f"`GET /sim/bytes` in {settings.big_body_chunk // 1024} KiB chunks, growth over the RSS just "
        "before it (after a warm-up). MB = 10^6 bytes.",
        "",
        table,
        "",
        "Notes:",
        "",
        *(f"- {n}" for n in notes),
        "",
    ]
    return "\n".join(lines)
