"""``python -m bench.scrapers [--scrapers N] [--models M]``: the proxy under many /metrics scrapers.

Starts the simulator and a sidecar (Prometheus on), makes the exposition large (one stream for each
of ``--models`` model names: 86 give ~3.8 MB), then runs 100 paced streams for 10 s while
``--scrapers`` clients GET /metrics back to back (after a 429, one second later). Prints the SSE
events delivered, the sidecar's CPU per event (renders included), TTFC p99 and the scrape answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import aiohttp

from bench import machine, procfs
from bench.processes import Processes, free_port
from bench.stats import percentile

REPO = Path(__file__).resolve().parent.parent


async def _ready(url: str) -> None:
    async with aiohttp.ClientSession() as client:
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError):
                async with client.get(url) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never answered 200")


async def _fill(url: str, models: int) -> None:
    async with aiohttp.ClientSession() as client:
        gate = asyncio.Semaphore(20)

        async def one(i: int) -> None:
            body = {"model": f"model-{i}", "messages": [{"role": "user", "content": "x"}], "stream": True}
            headers = {"x-sim-tokens": "3", "x-sim-itl-ms": "0", "x-sim-ttfc-ms": "0"}
            async with gate, client.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
                await r.read()

        await asyncio.gather(*(one(i) for i in range(models)))


async def _scrape(url: str, answers: Counter[str], stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as client:
        while not stop.is_set():
            try:
                async with client.get(url) as r:
                    await r.read()
                    answers[str(r.status)] += 1
                    if r.status != 200:
                        await asyncio.sleep(1)
            except aiohttp.ClientError:
                answers["error"] += 1


async def run(scrapers: int, models: int) -> str:
    sim_port, port, admin = free_port(), free_port(), free_port()
    env = {**os.environ, "SIDECAR_TELEMETRY__MAX_ATTRIBUTE_VALUES": str(models + 100)}
    exe = [sys.executable, "-m", "sidecar"]
    work = tempfile.TemporaryDirectory(prefix="bench-scrapers-")
    procs = Processes(Path(work.name))
    procs.start("simulator", [*exe, "simulate", "--port", str(sim_port)], env=env)
    argv = [*exe, "run", "--upstream", f"http://127.0.0.1:{sim_port}", "--listen", f"127.0.0.1:{port}"]
    sidecar = procs.start("sidecar", [*argv, "--admin-listen", f"127.0.0.1:{admin}"], env=env).proc
    try:
        metrics = f"http://127.0.0.1:{admin}/metrics"
        await _ready(f"http://127.0.0.1:{admin}/readyz")
        await _fill(f"http://127.0.0.1:{port}", models)
        async with aiohttp.ClientSession() as client, client.get(metrics) as r:
            size = len(await r.read())
        answers: Counter[str] = Counter()
        stop = asyncio.Event()
        tasks = [asyncio.ensure_future(_scrape(metrics, answers, stop)) for _ in range(scrapers)]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "load.json"
            cpu_before = procfs.cpu_seconds(sidecar.pid)
            load = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.loadgen", "--mode=paced", f"--url=http://127.0.0.1:{port}",
                "--concurrency=100", "--duration-s=10", "--warmup-s=2", f"--out={out}", cwd=REPO,
            )  # fmt: skip
            await load.wait()
            cpu = procfs.cpu_seconds(sidecar.pid) - cpu_before
            result = json.loads(out.read_text())
        stop.set()
        for task in tasks:
            task.cancel()
        events = result["events_total"]
        return (
            f"scrapers {scrapers}, exposition {size / 1e6:.2f} MB: {events} SSE events delivered, "
            f"sidecar CPU {cpu / max(1, events) * 1e6:.0f} µs per event (renders included), "
            f"TTFC p99 {percentile(result['ttfc_s'], 99) * 1e3:.0f} ms, /metrics answers {dict(answers)}, "
            f"load average {machine.describe_load()}"
        )
    finally:
        procs.stop_all()
        work.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scrapers", description=__doc__.splitlines()[0])
    p.add_argument("--scrapers", type=int, default=16)
    p.add_argument("--models", type=int, default=86)
    args = p.parse_args(argv)
    print(asyncio.run(run(args.scrapers, args.models)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
