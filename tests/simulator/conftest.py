"""Fixtures: a fast simulator on loopback and the official SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import anthropic
import ollama
import openai
import pytest

from sidecar.simulator import RunningSimulator, SimulatorSettings, start_simulator

FAST = SimulatorSettings(ttfc_ms=0, itl_ms=0, tokens=8, stall_ms=200)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(settings=FAST)
    yield running
    await running.close()


@pytest.fixture
async def openai_client(sim: RunningSimulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{sim.url}/v1", api_key="sk-test", max_retries=0, timeout=10
    ) as client:
        yield client


@pytest.fixture
async def anthropic_client(sim: RunningSimulator) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=sim.url, api_key="sk-ant-test", max_retries=0, timeout=10
    ) as client:
        yield client


@pytest.fixture
async def ollama_client(sim: RunningSimulator) -> AsyncIterator[ollama.AsyncClient]:
    async with ollama.AsyncClient(host=sim.url) as client:
        yield client


@pytest.fixture
async def http(sim: RunningSimulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sim.url) as session:
        yield session
