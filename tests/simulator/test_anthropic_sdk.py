"""The official anthropic SDK, used as users would, accepts the simulator's Messages format."""

from __future__ import annotations

import anthropic
import pytest

MESSAGES: list[anthropic.types.MessageParam] = [
    {"role": "user", "content": [{"type": "text", "text": "three little words"}]}
]


async def test_stream_text_and_final_usage(anthropic_client: anthropic.AsyncAnthropic) -> None:
    async with anthropic_client.messages.stream(
        model="claude-test",
        max_tokens=100,
        system="be kind",
        messages=MESSAGES,
        extra_headers={"x-sim-tokens": "6"},
    ) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) == 6
    assert len("".join(pieces).split()) == 6
    assert final.model == "claude-test"
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 5
    assert final.usage.output_tokens == 6  # message_delta's cumulative count replaced the start's 1


async def test_raw_stream_event_order(anthropic_client: anthropic.AsyncAnthropic) -> None:
    stream = await anthropic_client.messages.create(
        model="m",
        max_tokens=100,
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-sim-tokens": "2"},
    )
    events = [event async for event in stream]  # the SDK drops ping events
    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start, delta = events[0], events[5]
    assert start.type == "message_start"
    assert start.message.usage.input_tokens == 3
    assert delta.type == "message_delta"
    assert delta.usage.output_tokens == 2


async def test_max_tokens_cut(anthropic_client: anthropic.AsyncAnthropic) -> None:
    message = await anthropic_client.messages.create(
        model="m", max_tokens=3, messages=MESSAGES, extra_headers={"x-sim-tokens": "20"}
    )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3
    block = message.content[0]
    assert block.type == "text"
    assert len(block.text.split()) == 3


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal")],
)
async def test_forced_finish(
    anthropic_client: anthropic.AsyncAnthropic, finish: str, stop_reason: str
) -> None:
    message = await anthropic_client.messages.create(
        model="m", max_tokens=50, messages=MESSAGES, extra_headers={"x-sim-finish": finish}
    )
    assert message.stop_reason == stop_reason
    assert message.usage.output_tokens == 8


async def test_tool_use_stream(anthropic_client: anthropic.AsyncAnthropic) -> None:
    async with anthropic_client.messages.stream(
        model="m",
        max_tokens=50,
        messages=MESSAGES,
        tools=[{"name": "get_time", "input_schema": {"type": "object"}}],
        extra_headers={"x-sim-finish": "tool_calls", "x-sim-tokens": "3"},
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    block = final.content[0]
    assert block.type == "tool_use"
    assert block.name == "get_time"
    assert isinstance(block.input, dict)
    assert len(str(block.input["query"]).split()) == 3
    assert final.usage.output_tokens == 3


async def test_tool_use_create(anthropic_client: anthropic.AsyncAnthropic) -> None:
    message = await anthropic_client.messages.create(
        model="m", max_tokens=50, messages=MESSAGES, extra_headers={"x-sim-finish": "tool_calls"}
    )
    block = message.content[0]
    assert block.type == "tool_use"
    assert block.name == "lookup"
    assert message.stop_reason == "tool_use"


async def test_missing_max_tokens_is_rejected_like_the_api(
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        await anthropic_client.post("/v1/messages", body={"model": "m", "messages": []}, cast_to=object)
    assert info.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }


async def test_models_list_in_anthropic_shape(anthropic_client: anthropic.AsyncAnthropic) -> None:
    models = [m.id async for m in anthropic_client.models.list()]
    assert models == ["sim-model", "sim-embed"]
