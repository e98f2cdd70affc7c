"""Orchestrate the demo: simulator -> sidecar -> traffic, each in its own process (see
:mod:`sidecar.demo.processes`), and a live summary read from the sidecar's /metrics until Ctrl-C
or ``--duration``. The first Ctrl-C stops the traffic and waits for the calls in flight; a second
one stops everything at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import time
from collections.abc import Mapping
from typing import Any, TextIO

import aiohttp

from sidecar.demo.processes import Child, Parts, start_parts, start_traffic
from sidecar.demo.render import render
from sidecar.demo.scenarios import SCENARIOS, Scenario
from sidecar.demo.summary import ScenarioRow, summarise
from sidecar.demo.traffic import check_sdks

_CLEAR = "\x1b[H\x1b[J"
_PLAIN_EVERY_S = 10.0


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


def _banner(parts: Parts) -> str:
    injection = "on" if parts.injects_usage else "off (genai.inject_include_usage)"
    return (
        f"genai-sidecar demo: SDK clients -> sidecar {parts.proxy_url} -> simulated model server\n"
        f"  {parts.simulator_url}, each in its own process. Every figure is read from\n"
        f"  {parts.admin_url}/metrics. Usage injection: {injection}.\n"
        "  OTEL_EXPORTER_OTLP_ENDPOINT=http://COLLECTOR:4317 pushes the same telemetry over OTLP.\n"
        "  Ctrl-C stops."
    )


class _Interrupts:
    """First SIGINT/SIGTERM: ``stop``; second: ``now``."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.now = asyncio.Event()

    def __call__(self) -> None:
        (self.now if self.stop.is_set() else self.stop).set()


async def _stop_all(children: list[Child], at_once: bool) -> None:
    for child in children:
        if at_once:
            child.kill()
        else:
            child.terminate()
            if not await child.wait(15.0):
                child.kill()
    for child in children:
        await child.wait(5.0)


async def run_demo(
    *,
    out: TextIO,
    duration_s: float | None = None,
    scenarios: list[str] | None = None,
    rate: float = 2.0,
    listen: str = "127.0.0.1:8080",
    admin_listen: str = "127.0.0.1:9464",
    refresh_s: float = 1.0,
    seed: int | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, ScenarioRow]:
    """Run until ``duration_s`` passes or SIGINT/SIGTERM; returns the last summary rows."""
    chosen = pick(scenarios)
    check_sdks()
    live = out.isatty()
    interrupts = _Interrupts()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupts)
    models = {s.model: s.name for s in chosen}
    rows: dict[str, ScenarioRow] = {}
    children: list[Child] = []
    at_once = False
    try:
        print("starting the simulated model server, the sidecar and the clients ...", file=out, flush=True)
        parts = await start_parts(
            listen=listen,
            admin_listen=admin_listen,
            environ=os.environ if environ is None else environ,
            overrides=overrides or {},
        )
        children = [parts.sidecar, parts.simulator]
        seed_value = random.Random(seed).random()
        names = [s.name for s in chosen]
        traffic, in_flight = start_traffic(parts.proxy_url, names, rate, seed_value, parts.simulator_url)
        children.insert(0, traffic)
        await traffic.started()
        banner = _banner(parts)
        print(banner, file=out, flush=True)
        started = time.monotonic()
        last_plain = 0.0
        stopping_said = False
        async with aiohttp.ClientSession() as client:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(interrupts.now.wait(), timeout=refresh_s)
                if interrupts.now.is_set():
                    at_once = True
                    break
                elapsed = time.monotonic() - started
                if duration_s is not None and elapsed >= duration_s:
                    interrupts.stop.set()
                if interrupts.stop.is_set():
                    traffic.terminate()
                    if not traffic.process.is_alive():
                        break
                rows = summarise(await _scrape(client, parts.admin_url), models)
                if interrupts.stop.is_set():
                    status = (
                        f"stopping, waiting for {in_flight.value} in-flight calls "
                        "(Ctrl-C again stops at once)"
                    )
                else:
                    status = f"{elapsed:.0f} s"
                if live:
                    height = shutil.get_terminal_size().lines
                    screen = render(rows, scenarios=chosen, with_promql=True)
                    if screen.count("\n") + 8 > height:
                        screen = render(rows, scenarios=chosen)
                    print(f"{_CLEAR}{banner}\n\n{status}\n\n{screen}", file=out, flush=True)
                elif interrupts.stop.is_set():
                    if not stopping_said:
                        print(status, file=out, flush=True)
                        stopping_said = True
                elif elapsed - last_plain >= _PLAIN_EVERY_S:
                    last_plain = elapsed
                    print(f"\n[{status}]\n{render(rows)}", file=out, flush=True)
            if at_once:
                print("\nstopped at once; the calls in flight were cut", file=out, flush=True)
            else:
                rows = summarise(await _scrape(client, parts.admin_url), models)
                final = render(rows, scenarios=chosen, with_promql=True)
                print(f"\nfinal summary (from {parts.admin_url}/metrics):\n\n{final}", file=out, flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await _stop_all(children, at_once)
    return rows
