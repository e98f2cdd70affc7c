"""The simulator's stream variants through the real proxy: what the sidecar records equals what
the simulator was told to send (``x-sim-tokens``, ``n``, the fault point, ``x-sim-stream``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from sidecar.simulator import RunningSimulator, SimulatorSettings, start_simulator
from tests.conftest import RunningSidecar, StartSidecar

PROMPT = "one two three four five"  # five words: the simulator's input token count
MESSAGES: Any = [{"role": "user", "content": PROMPT}]


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(settings=SimulatorSettings(ttfc_ms=0, itl_ms=1))
    yield running
    await running.close()


def _sum(sidecar: RunningSidecar, name: str, field: str = "sum", **match: str) -> float:
    return sum(
        getattr(p, field)
        for p in sidecar.points(name)
        if all(p.attributes.get(k) == v for k, v in match.items())
    )


def _tokens(sidecar: RunningSidecar) -> dict[str, float]:
    return {
        kind: _sum(sidecar, "gen_ai.client.token.usage", **{"gen_ai.token.type": kind})
        for kind in ("input", "output")
    }


def _finish_counts(sidecar: RunningSidecar) -> dict[str, float]:
    counts: dict[str, float] = {}
    for p in sidecar.points("genai_sidecar.finish_reasons"):
        label = str(p.attributes["genai_sidecar.finish_reason"])
        counts[label] = counts.get(label, 0) + p.value
    return counts


def _span(sidecar: RunningSidecar) -> Any:
    (span,) = sidecar.sink.spans.get_finished_spans()
    return span.attributes


def _openai(sidecar: RunningSidecar, **headers: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{sidecar.url}/v1", api_key="k", max_retries=0, default_headers=headers
    )


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
async def test_a_stream_without_done_is_complete(
    sim: RunningSimulator, start_sidecar: StartSidecar, path: str
) -> None:
    sidecar = await start_sidecar(sim.url)
    body: dict[str, Any] = {"model": "m", "stream": True}
    body |= {"messages": MESSAGES} if path.endswith("chat/completions") else {"prompt": PROMPT}
    headers = {"x-sim-stream": "no-done", "x-sim-tokens": "6"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(sidecar.url + path, json=body, headers=headers) as r,
    ):
        raw = await r.read()
    assert b"[DONE]" not in raw
    assert b'"finish_reason":"stop"' in raw
    assert _tokens(sidecar) == {"input": 5, "output": 6}
    (duration,) = sidecar.points("gen_ai.client.operation.duration")
    assert "error.type" not in duration.attributes
    assert _span(sidecar)["gen_ai.response.finish_reasons"] == ("stop",)
    assert _finish_counts(sidecar) == {"stop": 1}


async def test_n_choices_each_counted(sim: RunningSimulator, start_sidecar: StartSidecar) -> None:
    sidecar = await start_sidecar(sim.url)
    async with _openai(sidecar, **{"x-sim-tokens": "4"}) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True, n=3)
        finished = {c.choices[0].index: c.choices[0].finish_reason async for c in stream if c.choices}
    assert finished == {0: "stop", 1: "stop", 2: "stop"}
    # 4 tokens for each of 3 choices; the usage the simulator reports counts them all.
    assert _tokens(sidecar) == {"input": 5, "output": 12}
    assert _sum(sidecar, "gen_ai.client.operation.time_to_first_chunk", "count") == 1
    # One output chunk per token per choice: 12 chunks, 11 gaps after the first.
    assert _sum(sidecar, "gen_ai.client.operation.time_per_output_chunk", "count") == 11
    assert _span(sidecar)["gen_ai.response.finish_reasons"] == ("stop", "stop", "stop")
    assert _finish_counts(sidecar) == {"stop": 3}


async def test_an_error_chunk_with_usage_records_both(
    sim: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    sidecar = await start_sidecar(sim.url)
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    headers = {"x-sim-fault": "error-event", "x-sim-stream": "error-usage", "x-sim-tokens": "8"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sidecar.url}/v1/chat/completions", json=body, headers=headers) as r,
    ):
        assert b'"finish_reason":"error"' in await r.read()
    # The fault strikes after half the tokens: 4 were sent, and the error chunk's usage says so.
    assert _tokens(sidecar) == {"input": 5, "output": 4}
    (duration,) = sidecar.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "502"  # the error object's code, as OpenRouter's
    assert _span(sidecar)["gen_ai.response.finish_reasons"] == ("error",)
    assert _finish_counts(sidecar) == {"error": 1}


@pytest.mark.parametrize(
    ("variant", "n_predict", "on_the_span", "label"),
    [
        ("", 3, "limit", "length"),
        ("", None, "eos", "stop"),
        ("stopped-flags", 3, "stopped_limit", "length"),
        ("stopped-flags", None, "stopped_eos", "stop"),
    ],
)
async def test_llamacpp_native_stream(
    sim: RunningSimulator,
    start_sidecar: StartSidecar,
    variant: str,
    n_predict: int | None,
    on_the_span: str,
    label: str,
) -> None:
    sidecar = await start_sidecar(sim.url)
    body: dict[str, Any] = {"prompt": PROMPT, "stream": True}
    if n_predict is not None:
        body["n_predict"] = n_predict
    headers = {"x-sim-tokens": "5", "x-sim-stream": variant}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sidecar.url}/completion", json=body, headers=headers) as r,
    ):
        assert r.status == 200
        await r.read()
    output = n_predict if n_predict is not None else 5
    assert _tokens(sidecar) == {"input": 5, "output": output}
    attrs = _span(sidecar)
    assert attrs["gen_ai.provider.name"] == "llama_cpp"
    assert attrs["gen_ai.response.finish_reasons"] == (on_the_span,)
    assert _finish_counts(sidecar) == {label: 1}
    assert _sum(sidecar, "gen_ai.server.time_to_first_token", "count") == 1
