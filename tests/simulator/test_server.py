"""Serving: 1,000 concurrent streams, many paced streams at once, and the blocking CLI entry."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

import aiohttp

from sidecar.simulator import RunningSimulator, SimulatorSettings, start_simulator
from tests.simulator.streams import APIS, fetch, token_times

CONCURRENT = 1000
WAIT_LIMIT_S = 60.0  # a liveness guard against hanging, not a performance assertion


async def test_holds_1000_concurrent_streams() -> None:
    sim = await start_simulator(settings=SimulatorSettings(ttfc_ms=0, tokens=4, stall_ms=120_000))
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    first_chunks = 0
    all_started = asyncio.Event()
    release = asyncio.Event()

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal first_chunks
        headers = {"x-sim-fault": "stall"}
        async with session.post("/v1/chat/completions", json=body, headers=headers) as resp:
            seen = b""
            while b'"content":"' not in seen.partition(b"\n\n")[2]:
                seen += await resp.content.readany()
            first_chunks += 1
            if first_chunks == CONCURRENT:
                all_started.set()
            await release.wait()
            resp.close()

    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(base_url=sim.url, connector=connector) as session:
            tasks = [asyncio.create_task(one(session)) for _ in range(CONCURRENT)]
            await asyncio.wait_for(all_started.wait(), WAIT_LIMIT_S)
            assert sim.state.active_streams == CONCURRENT
            release.set()
            await asyncio.wait_for(asyncio.gather(*tasks), WAIT_LIMIT_S)
        async with asyncio.timeout(WAIT_LIMIT_S):
            while sim.state.active_streams:  # noqa: ASYNC110 - polling the server's counter
                await asyncio.sleep(0.05)
        assert sim.state.completed_streams == CONCURRENT
    finally:
        await sim.close()


async def test_paced_streams_in_parallel_keep_their_schedule(sim: RunningSimulator) -> None:
    api = APIS[0]
    headers = {"x-sim-ttfc-ms": "50", "x-sim-itl-ms": "10", "x-sim-tokens": "10"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base_url=sim.url, connector=connector) as session:
        results = await asyncio.gather(*(fetch(session, api, headers) for _ in range(200)))
    for received in results:
        times = token_times(api, received)
        assert len(times) == 10
        assert all(t - received.started >= 0.05 + i * 0.01 for i, t in enumerate(times))


async def test_run_simulator_serves_until_sigterm() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = (
        "from sidecar.simulator import run_simulator, SimulatorSettings; "
        f"run_simulator('127.0.0.1', {port}, SimulatorSettings(ttfc_ms=0, itl_ms=0))"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), WAIT_LIMIT_S)
        assert line.decode().strip() == f"genai-sidecar simulator listening on http://127.0.0.1:{port}"
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/api/version") as resp,
        ):
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), WAIT_LIMIT_S) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
