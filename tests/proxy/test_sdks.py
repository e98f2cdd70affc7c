"""Each simulator API through the sidecar with the official SDK gives what the SDK gets direct."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anthropic
import ollama
import openai
import pytest

from sidecar.simulator import RunningSimulator, SimulatorSettings, start_simulator
from tests.conftest import StartSidecar

FAST = SimulatorSettings(ttfc_ms=0, itl_ms=0, tokens=12)
Call = Callable[[str], Awaitable[Any]]


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(settings=FAST)
    yield running
    await running.close()


async def _openai_chat_stream(base: str) -> Any:
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-x", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "say something"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    return text, finish, chunks[-1].usage.model_dump() if chunks[-1].usage else None, len(chunks)


async def _openai_chat(base: str) -> Any:
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-x", max_retries=0) as client:
        r = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hello there"}], max_tokens=5
        )
    return r.choices[0].message.content, r.choices[0].finish_reason, r.usage.model_dump() if r.usage else None


async def _openai_completions_stream(base: str) -> Any:
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-x", max_retries=0) as client:
        stream = await client.completions.create(model="m", prompt="once upon a time", stream=True)
        chunks = [c async for c in stream]
    return "".join(c.choices[0].text for c in chunks if c.choices), len(chunks)


async def _openai_responses_stream(base: str) -> Any:
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-x", max_retries=0) as client:
        stream = await client.responses.create(model="m", input="write", stream=True)
        events = [e async for e in stream]
    completed = next(e for e in events if e.type == "response.completed")
    return [e.type for e in events], completed.response.output_text, completed.response.usage.model_dump()


async def _openai_embeddings_and_models(base: str) -> Any:
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-x", max_retries=0) as client:
        emb = await client.embeddings.create(model="sim-embed", input=["a b c", "d"])
        models = await client.models.list()
    return [e.embedding for e in emb.data], emb.usage.model_dump(), sorted(m.id for m in models.data)


async def _anthropic_stream(base: str) -> Any:
    async with (
        anthropic.AsyncAnthropic(base_url=base, api_key="sk-ant", max_retries=0) as client,
        client.messages.stream(
            model="claude-x", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    return text, final.stop_reason, final.usage.input_tokens, final.usage.output_tokens


async def _anthropic_create(base: str) -> Any:
    async with anthropic.AsyncAnthropic(base_url=base, api_key="sk-ant", max_retries=0) as client:
        m = await client.messages.create(
            model="claude-x", max_tokens=4, messages=[{"role": "user", "content": "hi"}]
        )
    return [b.model_dump() for b in m.content], m.stop_reason, m.usage.output_tokens


async def _ollama_chat_stream(base: str) -> Any:
    async with ollama.AsyncClient(host=base) as client:
        parts = [
            p
            async for p in await client.chat(
                model="llama3", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        ]
    last = parts[-1]
    return (
        "".join(p.message.content or "" for p in parts),
        last.done_reason,
        last.prompt_eval_count,
        last.eval_count,
    )


async def _ollama_generate_embed_list(base: str) -> Any:
    async with ollama.AsyncClient(host=base) as client:
        gen = await client.generate(model="llama3", prompt="why is the sky blue", options={"num_predict": 3})
        emb = await client.embed(model="sim-embed", input="text")
        tags = await client.list()
    return (
        gen.response,
        gen.done_reason,
        gen.eval_count,
        emb.embeddings,
        sorted(m.model or "" for m in tags.models),
    )


CALLS: dict[str, Call] = {
    "openai chat stream": _openai_chat_stream,
    "openai chat": _openai_chat,
    "openai completions stream": _openai_completions_stream,
    "openai responses stream": _openai_responses_stream,
    "openai embeddings + models": _openai_embeddings_and_models,
    "anthropic messages stream": _anthropic_stream,
    "anthropic messages create": _anthropic_create,
    "ollama chat stream": _ollama_chat_stream,
    "ollama generate + embed + list": _ollama_generate_embed_list,
}


@pytest.mark.parametrize("name", list(CALLS))
async def test_sdk_gets_the_same_result_through_the_sidecar(
    name: str, sim: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    sidecar = await start_sidecar(sim.url)
    direct = await CALLS[name](sim.url)
    proxied = await CALLS[name](sidecar.url)
    assert proxied == direct
