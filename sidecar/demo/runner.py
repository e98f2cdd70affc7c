"""Orchestrate the demo: simulator -> sidecar -> traffic, and a live summary until Ctrl-C or --duration."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from typing import TextIO

import aiohttp

from sidecar.config import load_config
from sidecar.demo.render import render
from sidecar.demo.scenarios import SCENARIOS, Scenario
from sidecar.demo.summary import ScenarioRow, summarise
from sidecar.demo.traffic import check_sdks, drive
from sidecar.proxy.server import Sidecar, build_telemetry
from sidecar.simulator.server import start_simulator

_CLEAR = "\x1b[H\x1b[J"


def pick(names: list[str] | None) -> tuple[Scenario, ...]:
    if not names:
        return SCENARIOS
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scenario {unknown[0]!r} (known: {', '.join(known)})")
    return tuple(known[n] for n in names)


async def _scrape(client: aiohttp.ClientSession, admin_url: str) -> str:
    async with client.get(f"{admin_url}/metrics") as r:
        return await r.text()


def _banner(sidecar: Sidecar, upstream: str) -> str:
    return (
        f"genai-sidecar demo: simulated model server {upstream}, sidecar {sidecar.proxy_url}\n"
        f"  Prometheus metrics: {sidecar.admin_url}/metrics\n"
        "  OTLP: set OTEL_EXPORTER_OTLP_ENDPOINT=http://COLLECTOR:4317 and OTEL_EXPORTER_OTLP_INSECURE=true\n"
        "  before `make demo` to push the same metrics, spans and logs to a Collector.\n"
        "  Ctrl-C stops."
    )


async def run_demo(
    *,
    out: TextIO,
    duration_s: float | None = None,
    scenarios: list[str] | None = None,
    rate: float = 4.0,
    listen: str = "127.0.0.1:8080",
    admin_listen: str = "127.0.0.1:9464",
    refresh_s: float = 1.0,
    seed: int | None = None,
) -> dict[str, ScenarioRow]:
    """Run until ``duration_s`` passes or SIGINT/SIGTERM; returns the final summary rows."""
    chosen = pick(scenarios)
    check_sdks()
    live = out.isatty()
    simulator = await start_simulator()
    config = load_config(
        None,
        environ=os.environ,
        overrides={
            "upstream.url": simulator.url,
            "listener.address": listen,
            "listener.admin_address": admin_listen,
        },
    )
    sidecar = Sidecar(config, build_telemetry(config, os.environ))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    models = {s.model: s.name for s in chosen}
    rows: dict[str, ScenarioRow] = {}
    try:
        await sidecar.start()
        print(_banner(sidecar, simulator.url), file=out, flush=True)
        rng = random.Random(seed)
        drivers = [
            asyncio.create_task(drive(sidecar.proxy_url, s, rate, random.Random(rng.random()), stop))
            for s in chosen
        ]
        started = time.monotonic()
        async with aiohttp.ClientSession() as client:
            last_print = 0.0
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=refresh_s)
                if duration_s is not None and time.monotonic() - started >= duration_s:
                    stop.set()
                rows = summarise(await _scrape(client, sidecar.admin_url), models)
                elapsed = time.monotonic() - started
                if live:
                    print(_CLEAR + _banner(sidecar, simulator.url), file=out)
                    print(f"\n{elapsed:5.0f} s\n{render(rows)}", file=out, flush=True)
                elif elapsed - last_print >= 10 or stop.is_set():
                    last_print = elapsed
                    print(f"\n[{elapsed:.0f} s]\n{render(rows)}", file=out, flush=True)
            await asyncio.gather(*drivers)
            rows = summarise(await _scrape(client, sidecar.admin_url), models)
        print(f"\nfinal summary (from {sidecar.admin_url}/metrics):\n{render(rows)}", file=out, flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await sidecar.shutdown()
        await simulator.close()
    return rows
