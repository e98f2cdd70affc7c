"""Timing controls: chunks leave no earlier than their schedule (lower bounds only)."""

from __future__ import annotations

import time

import aiohttp
import ollama
import openai
import pytest

from sidecar.simulator import RunningSimulator, SimulatorSettings, start_simulator
from tests.simulator.streams import APIS, Api, fetch, token_times

TTFC_S, ITL_S, TOKENS = 0.12, 0.03, 4
PACED = {"x-sim-ttfc-ms": "120", "x-sim-itl-ms": "30", "x-sim-tokens": str(TOKENS)}


@pytest.mark.parametrize("api", APIS, ids=[api.name for api in APIS])
async def test_tokens_arrive_no_earlier_than_schedule(http: aiohttp.ClientSession, api: Api) -> None:
    received = await fetch(http, api, PACED)
    times = token_times(api, received)
    assert len(times) == TOKENS
    for index, arrived in enumerate(times):
        assert arrived - received.started >= TTFC_S + index * ITL_S


async def test_openai_sdk_first_chunk_after_ttfc(openai_client: openai.AsyncOpenAI) -> None:
    started = time.monotonic()
    stream = await openai_client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True, extra_headers=PACED
    )
    first_content = None
    async for chunk in stream:
        if first_content is None and chunk.choices and chunk.choices[0].delta.content:
            first_content = time.monotonic()
    assert first_content is not None
    assert first_content - started >= TTFC_S


async def test_non_stream_waits_for_the_whole_generation(http: aiohttp.ClientSession) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    started = time.monotonic()
    async with http.post("/v1/chat/completions", json=body, headers=PACED) as resp:
        await resp.read()
    assert time.monotonic() - started >= TTFC_S + (TOKENS - 1) * ITL_S


async def test_embeddings_wait_ttfc(http: aiohttp.ClientSession) -> None:
    started = time.monotonic()
    body = {"model": "e", "input": "x"}
    async with http.post("/v1/embeddings", json=body, headers={"x-sim-ttfc-ms": "100"}) as resp:
        assert resp.status == 200
    assert time.monotonic() - started >= 0.1


async def test_ollama_durations_match_the_simulated_timing(sim: RunningSimulator) -> None:
    async with ollama.AsyncClient(host=sim.url, headers=PACED) as client:
        started = time.monotonic()
        parts = [
            p
            async for p in await client.chat(
                model="m", messages=[{"role": "user", "content": "x"}], stream=True
            )
        ]
        elapsed_ns = (time.monotonic() - started) * 1e9
    final = parts[-1]
    load = final.load_duration or 0
    prompt = final.prompt_eval_duration or 0
    decode = final.eval_duration or 0
    assert final.total_duration is not None
    assert load + prompt >= TTFC_S * 1e9  # server-side time to first token
    assert load + prompt + decode >= (TTFC_S + (TOKENS - 1) * ITL_S) * 1e9  # up to the last token
    assert load + prompt + decode <= final.total_duration <= elapsed_ns
    assert final.eval_count == TOKENS


async def test_settings_give_the_defaults() -> None:
    sim = await start_simulator(settings=SimulatorSettings(ttfc_ms=100, itl_ms=0, tokens=3))
    try:
        async with aiohttp.ClientSession(base_url=sim.url) as http:
            received = await fetch(http, APIS[0], {})
    finally:
        await sim.close()
    times = token_times(APIS[0], received)
    assert len(times) == 3
    assert times[0] - received.started >= 0.1
