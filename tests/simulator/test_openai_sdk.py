"""The official openai SDK, used as users would, accepts the simulator's OpenAI formats."""

from __future__ import annotations

import json

import aiohttp
import openai
import pytest

from sidecar.simulator import RunningSimulator

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "tell me about rivers please"},
]
PROMPT_WORDS = 7  # "be brief" + "tell me about rivers please"


async def test_chat_stream_with_usage(openai_client: openai.AsyncOpenAI) -> None:
    stream = await openai_client.chat.completions.create(
        model="llama-test",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-sim-tokens": "5"},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert not chunks[0].choices[0].delta.content
    texts = [c.choices[0].delta.content for c in chunks[1:] if c.choices and c.choices[0].delta.content]
    assert len(texts) == 5
    assert len("".join(texts).split()) == 5
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (PROMPT_WORDS, 5)
    assert last.usage.total_tokens == PROMPT_WORDS + 5
    assert all(c.usage is None for c in chunks[:-1])
    assert {c.model for c in chunks} == {"llama-test"}
    assert len({c.id for c in chunks}) == 1


async def test_chat_stream_without_usage_option_has_no_usage(
    openai_client: openai.AsyncOpenAI,
) -> None:
    stream = await openai_client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


async def test_chat_max_tokens_cuts_with_length(openai_client: openai.AsyncOpenAI) -> None:
    stream = await openai_client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        max_completion_tokens=3,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-sim-tokens": "10"},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 3
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


async def test_chat_non_stream(openai_client: openai.AsyncOpenAI) -> None:
    completion = await openai_client.chat.completions.create(
        model="m", messages=MESSAGES, max_tokens=4, extra_headers={"x-sim-tokens": "7"}
    )
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content is not None
    assert len(choice.message.content.split()) == 4
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (PROMPT_WORDS, 4)


@pytest.mark.parametrize("finish", ["stop", "length", "content_filter"])
async def test_chat_forced_finish(openai_client: openai.AsyncOpenAI, finish: str) -> None:
    completion = await openai_client.chat.completions.create(
        model="m", messages=MESSAGES, extra_headers={"x-sim-finish": finish, "x-sim-tokens": "2"}
    )
    assert completion.choices[0].finish_reason == finish
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2


async def test_chat_tool_call_stream(openai_client: openai.AsyncOpenAI) -> None:
    stream = await openai_client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-sim-finish": "tool_calls", "x-sim-tokens": "4"},
    )
    chunks = [chunk async for chunk in stream]
    calls = [
        call
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
        for call in c.choices[0].delta.tool_calls
    ]
    assert len(calls) == 4
    assert calls[0].id
    assert calls[0].function
    assert calls[0].function.name == "get_weather"
    arguments = "".join(call.function.arguments or "" for call in calls if call.function)
    assert len(json.loads(arguments)["query"].split()) == 4
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4


async def test_chat_tool_call_non_stream(openai_client: openai.AsyncOpenAI) -> None:
    completion = await openai_client.chat.completions.create(
        model="m", messages=MESSAGES, extra_headers={"x-sim-finish": "tool_calls"}
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls
    call = message.tool_calls[0]
    assert call.type == "function"
    assert len(json.loads(call.function.arguments)["query"].split()) == 8


async def test_completions_stream_and_create(openai_client: openai.AsyncOpenAI) -> None:
    stream = await openai_client.completions.create(
        model="m",
        prompt="once upon a time",
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-sim-tokens": "6"},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert len(text.split()) == 6
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (4, 6)

    completion = await openai_client.completions.create(model="m", prompt="hi", max_tokens=2)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2
    assert len(completion.choices[0].text.split()) == 2


async def test_responses_stream(openai_client: openai.AsyncOpenAI) -> None:
    stream = await openai_client.responses.create(
        model="m",
        instructions="answer well",
        input="what is a river",
        stream=True,
        extra_headers={"x-sim-tokens": "5"},
    )
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds.count("response.output_text.delta") == 5
    assert kinds[-5:] == [
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.usage is not None
    assert completed.response.usage.input_tokens == 6
    assert completed.response.usage.output_tokens == 5
    assert len(completed.response.output_text.split()) == 5


async def test_responses_stream_helper(openai_client: openai.AsyncOpenAI) -> None:
    async with openai_client.responses.stream(
        model="m", input="hello", extra_headers={"x-sim-tokens": "4"}
    ) as stream:
        deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert len(deltas) == 4
    assert final.output_text == "".join(deltas)
    assert final.usage is not None
    assert final.usage.output_tokens == 4


async def test_responses_stream_cut_is_incomplete(openai_client: openai.AsyncOpenAI) -> None:
    stream = await openai_client.responses.create(
        model="m",
        input="hello",
        max_output_tokens=3,
        stream=True,
        extra_headers={"x-sim-tokens": "9"},
    )
    events = [event async for event in stream]
    assert sum(e.type == "response.output_text.delta" for e in events) == 3
    final = events[-1]
    assert final.type == "response.incomplete"
    assert final.response.status == "incomplete"
    assert final.response.incomplete_details is not None
    assert final.response.incomplete_details.reason == "max_output_tokens"
    assert final.response.usage is not None
    assert final.response.usage.output_tokens == 3


async def test_responses_create_and_tool_call(openai_client: openai.AsyncOpenAI) -> None:
    response = await openai_client.responses.create(
        model="m", input=[{"role": "user", "content": "two words"}]
    )
    assert response.status == "completed"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (2, 8)
    assert len(response.output_text.split()) == 8

    tool = await openai_client.responses.create(
        model="m",
        input="call it",
        tools=[{"type": "function", "name": "find", "parameters": {}, "strict": False}],
        extra_headers={"x-sim-finish": "tool_calls", "x-sim-tokens": "3"},
    )
    call = tool.output[0]
    assert call.type == "function_call"
    assert call.name == "find"
    assert len(json.loads(call.arguments)["query"].split()) == 3

    filtered = await openai_client.responses.create(
        model="m", input="x", extra_headers={"x-sim-finish": "content_filter"}
    )
    assert filtered.status == "incomplete"
    assert filtered.incomplete_details is not None
    assert filtered.incomplete_details.reason == "content_filter"


async def test_embeddings_default_base64_and_float(openai_client: openai.AsyncOpenAI) -> None:
    result = await openai_client.embeddings.create(model="sim-embed", input=["one two", "three"])
    assert [d.index for d in result.data] == [0, 1]
    assert all(len(d.embedding) == 32 for d in result.data)
    assert result.usage.prompt_tokens == 3
    floats = await openai_client.embeddings.create(
        model="sim-embed", input="one two", encoding_format="float", dimensions=8
    )
    assert len(floats.data[0].embedding) == 8
    again = await openai_client.embeddings.create(model="sim-embed", input="one two", encoding_format="float")
    assert again.data[0].embedding == pytest.approx(result.data[0].embedding, rel=1e-6)


async def test_models_list(openai_client: openai.AsyncOpenAI) -> None:
    models = [m.id async for m in openai_client.models.list()]
    assert models == ["sim-model", "sim-embed"]


async def test_continuous_usage_is_cumulative_like_vllm(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "a b c"}],
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
    }
    async with http.post("/v1/chat/completions", json=body, headers={"x-sim-tokens": "4"}) as r:
        raw = (await r.read()).decode()
    events = [line[6:] for line in raw.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    completion = [c["usage"]["completion_tokens"] for c in chunks]
    assert completion == [0, 1, 2, 3, 4, 4, 4]  # role, 4 tokens, finish, usage-only
    assert {c["usage"]["prompt_tokens"] for c in chunks} == {3}
    assert chunks[-1]["choices"] == []
