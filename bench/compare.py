"""Side-by-side CPU per chunk of sidecar variants: ``python -m bench.compare VARIANT...``.

A variant is ``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE``: a sidecar started with that extra
environment (``OTEL_SDK_DISABLED=true``, ``OTEL_EXPORTER_OTLP_ENDPOINT=`` ...). Two keys are the
harness's own: ``TREE=PATH`` runs the sidecar of another checkout (its ``.venv/bin/genai-sidecar``,
with ``PYTHONPATH`` set to it, e.g. a worktree of the commit before a change), and ``OTLP=off``
starts it without OTLP. nginx and the bare ``pump`` pass-through run in the same rounds, so the
ratios compare like with like. Only the paced latency phase (the CPU-per-chunk figure) is run;
``python -m bench`` is the whole benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import sys
import tempfile
from pathlib import Path

from bench import machine
from bench.phases import latency_phase
from bench.processes import Processes
from bench.servers import Server, start_nginx, start_passthrough, start_rotel, start_sidecar, start_simulator
from bench.settings import FULL


def _variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, pairs = text.partition(":")
    env = {}
    for pair in filter(None, pairs.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"variant {text!r}: {pair!r} is not KEY=VALUE")
        env[key] = value
    if not name:
        raise argparse.ArgumentTypeError(f"variant {text!r} has no name")
    return name, env


async def _start(procs: Processes, upstream: str, otlp: str | None, name: str, env: dict[str, str]) -> Server:
    tree = env.pop("TREE", None)
    if env.pop("OTLP", "on") == "off":
        otlp = None
    if tree is None:
        return await start_sidecar(procs, upstream, otlp, name=name, extra_env=env)
    binary = str(Path(tree) / ".venv" / "bin" / "genai-sidecar")
    env = {"PYTHONPATH": tree, **env}
    return await start_sidecar(procs, upstream, otlp, name=name, extra_env=env, binary=binary)


async def _run(args: argparse.Namespace) -> None:
    latency = dataclasses.replace(FULL.latency, concurrency=args.concurrency)
    settings = dataclasses.replace(FULL, rounds=args.rounds, duration_s=args.duration_s, latency=latency)
    work = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    procs = Processes(work)
    try:
        sim = await start_simulator(procs)
        targets = [t for t in [await start_nginx(procs, work, sim.port)] if t is not None]
        targets.append(await start_passthrough(procs, sim.url, "pump"))
        rotel = await start_rotel(procs, work)
        for name, env in args.variants:
            targets.append(await _start(procs, sim.url, rotel[0] if rotel else None, name, dict(env)))
        print(f"load average before: {machine.describe_load()}", flush=True)
        runs = await latency_phase(targets, settings, lambda line: print(line, flush=True))
        nginx = runs.get("nginx")
        pump = runs["aiohttp-pump"]
        print("\n| target | CPU per chunk (µs) | / nginx | / pump | SSE events |\n|---|---|---|---|---|")
        for name, run in runs.items():
            cpu = run.cpu_us_per_chunk
            by_nginx = f"{cpu / nginx.cpu_us_per_chunk:.2f}" if nginx else "—"
            by_pump = f"{cpu / pump.cpu_us_per_chunk:.2f}"
            print(f"| {name} | {cpu:.1f} | {by_nginx} | {by_pump} | {run.load.events_total} |")
        print(f"\nload average after: {machine.describe_load()}")
    finally:
        procs.stop_all()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="+", type=_variant, metavar="NAME[:KEY=VALUE,...]")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--duration-s", type=float, default=8.0)
    p.add_argument("--concurrency", type=int, default=FULL.latency.concurrency)
    args = p.parse_args(argv)
    if len({name for name, _ in args.variants}) != len(args.variants):
        p.error("variant names must differ")
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
