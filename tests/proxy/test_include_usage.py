"""genai.inject_include_usage: usage is measured, and the client sees what it would see direct."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from sidecar.simulator import RunningSimulator, SimulatorSettings, start_simulator
from tests.conftest import StartSidecar

SETTINGS = SimulatorSettings(ttfc_ms=0, itl_ms=0, tokens=7)
BODY = {"model": "m", "messages": [{"role": "user", "content": "two words"}], "stream": True}


@pytest.fixture
async def two_sims() -> AsyncIterator[tuple[RunningSimulator, RunningSimulator]]:
    a, b = await start_simulator(settings=SETTINGS), await start_simulator(settings=SETTINGS)
    yield a, b
    await a.close()
    await b.close()


async def _raw(url: str) -> bytes:
    async with aiohttp.ClientSession() as client, client.post(f"{url}/v1/chat/completions", json=BODY) as r:
        assert r.status == 200
        body = await r.read()
    return re.sub(rb'"created":\d+', b'"created":0', body)


def _token_sums(exposition: str) -> dict[str, float]:
    sums = {}
    for line in exposition.splitlines():
        m = re.match(r'gen_ai_client_token_usage_sum\{.*gen_ai_token_type="(\w+)".*\} (\S+)', line)
        if m:
            sums[m.group(1)] = float(m.group(2))
    return sums


async def test_injected_usage_is_recorded_and_stripped(
    two_sims: tuple[RunningSimulator, RunningSimulator], start_sidecar: StartSidecar
) -> None:
    direct_sim, proxied_sim = two_sims
    sidecar = await start_sidecar(proxied_sim.url, genai={"inject_include_usage": True})
    direct = await _raw(direct_sim.url)
    proxied = await _raw(sidecar.url)
    assert b'"choices":[]' not in direct
    assert proxied == direct
    received = proxied_sim.state.last("/v1/chat/completions")
    assert received is not None
    assert b'"include_usage":true' in received.body
    async with aiohttp.ClientSession() as client, client.get(f"{sidecar.admin_url}/metrics") as r:
        sums = _token_sums(await r.text())
    assert sums == {"input": 2.0, "output": 7.0}


async def test_without_the_option_nothing_is_added_and_no_usage_is_known(
    simulator: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    sidecar = await start_sidecar(simulator.url)
    await _raw(sidecar.url)
    received = simulator.state.last("/v1/chat/completions")
    assert received is not None
    assert b"include_usage" not in received.body
    async with aiohttp.ClientSession() as client, client.get(f"{sidecar.admin_url}/metrics") as r:
        assert _token_sums(await r.text()) == {}
