"""Running the simulator: in-process for tests and the demo, or blocking for the CLI."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass

from aiohttp import web

from sidecar.simulator.app import build_simulator_app
from sidecar.simulator.keys import STATE_KEY
from sidecar.simulator.settings import SimulatorSettings
from sidecar.simulator.state import SimulatorState

BACKLOG = 4096
"""Listen backlog, sized for the benchmark's bursts of 1,000 concurrent connections."""
SHUTDOWN_TIMEOUT_S = 1.0
"""How long ``close()`` lets in-flight responses finish before cancelling them."""


@dataclass(slots=True)
class RunningSimulator:
    """A simulator listening on ``host:port``; ``close()`` stops it."""

    runner: web.AppRunner
    host: str
    port: int
    state: SimulatorState

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_simulator(
    host: str = "127.0.0.1", port: int = 0, settings: SimulatorSettings | None = None
) -> RunningSimulator:
    """Start a simulator on the running loop; ``port=0`` picks a free port."""
    app = build_simulator_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=BACKLOG)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = int(runner.addresses[0][1])
    return RunningSimulator(runner=runner, host=host, port=bound_port, state=app[STATE_KEY])


async def _serve(host: str, port: int, settings: SimulatorSettings | None) -> None:
    sim = await start_simulator(host, port, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"genai-sidecar simulator listening on {sim.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await sim.close()


def run_simulator(
    host: str = "127.0.0.1", port: int = 11434, settings: SimulatorSettings | None = None
) -> None:
    """Serve until SIGINT or SIGTERM (blocking; for ``genai-sidecar simulate``)."""
    asyncio.run(_serve(host, port, settings))
