"""The official ollama SDK, used as users would, accepts the simulator's NDJSON and JSON."""

from __future__ import annotations

import aiohttp
import ollama
import pytest

from sidecar.simulator import RunningSimulator

MESSAGES = [{"role": "user", "content": "why is the sky blue"}]


def client_with(sim: RunningSimulator, **headers: str) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=sim.url, headers=headers)


async def test_chat_stream(sim: RunningSimulator) -> None:
    async with client_with(sim, **{"x-sim-tokens": "5"}) as client:
        parts = [part async for part in await client.chat(model="llama3", messages=MESSAGES, stream=True)]
    assert [p.done for p in parts] == [False] * 5 + [True]
    text = "".join(p.message.content or "" for p in parts)
    assert len(text.split()) == 5
    final = parts[-1]
    assert final.model == "llama3"
    assert final.done_reason == "stop"
    assert (final.prompt_eval_count, final.eval_count) == (5, 5)
    assert final.total_duration is not None
    assert final.total_duration > 0


async def test_stream_is_the_default(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    body = {"model": "m", "prompt": "hi"}
    async with http.post("/api/generate", json=body, headers={"x-sim-tokens": "3"}) as resp:
        assert resp.headers["Content-Type"] == "application/x-ndjson"
        lines = (await resp.read()).splitlines()
    assert len(lines) == 4


async def test_chat_non_stream_num_predict_cut(ollama_client: ollama.AsyncClient) -> None:
    response = await ollama_client.chat(
        model="m", messages=MESSAGES, stream=False, options={"num_predict": 3}
    )
    assert response.done
    assert response.done_reason == "length"
    assert response.eval_count == 3
    assert len((response.message.content or "").split()) == 3


async def test_generate_stream_and_not(ollama_client: ollama.AsyncClient) -> None:
    parts = [p async for p in await ollama_client.generate(model="m", prompt="a b", stream=True)]
    assert len("".join(p.response or "" for p in parts).split()) == 8
    assert parts[-1].eval_count == 8
    assert parts[-1].prompt_eval_count == 2
    whole = await ollama_client.generate(model="m", prompt="a b", system="c", stream=False)
    assert whole.prompt_eval_count == 3
    assert whole.eval_count == 8
    assert len((whole.response or "").split()) == 8


@pytest.mark.parametrize("finish", ["length", "content_filter"])
async def test_forced_done_reason(sim: RunningSimulator, finish: str) -> None:
    async with client_with(sim, **{"x-sim-finish": finish}) as client:
        response = await client.chat(model="m", messages=MESSAGES, stream=False)
    assert response.done_reason == finish


async def test_tool_call_arrives_whole(sim: RunningSimulator) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    async with client_with(sim, **{"x-sim-finish": "tool_calls", "x-sim-tokens": "4"}) as client:
        parts = [p async for p in await client.chat(model="m", messages=MESSAGES, tools=tools, stream=True)]
        whole = await client.chat(model="m", messages=MESSAGES, tools=tools, stream=False)
    assert len(parts) == 2  # one tool-call line at the last token, then the done line
    calls = parts[0].message.tool_calls
    assert calls
    assert calls[0].function.name == "weather"
    assert len(str(calls[0].function.arguments["query"]).split()) == 4
    assert parts[-1].done_reason == "stop"
    assert parts[-1].eval_count == 4
    assert whole.message.tool_calls
    assert whole.message.tool_calls[0].function.name == "weather"


async def test_embed_list_version(ollama_client: ollama.AsyncClient, http: aiohttp.ClientSession) -> None:
    result = await ollama_client.embed(model="sim-embed", input=["one two", "three"])
    assert len(result.embeddings) == 2
    assert all(len(v) == 32 for v in result.embeddings)
    assert result.prompt_eval_count == 3
    listed = await ollama_client.list()
    assert [m.model for m in listed.models] == ["sim-model", "sim-embed"]
    async with http.get("/api/version") as resp:
        assert (await resp.json())["version"]
    legacy = await ollama_client.embeddings(model="sim-embed", prompt="one two")
    assert list(legacy.embedding) == pytest.approx(list(result.embeddings[0]))
