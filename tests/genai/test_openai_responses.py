"""OpenAI Responses dialect: typed events, status-derived finish reasons, request parsing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.genai.observations import (
    Operation,
    OutputKind,
    RequestInfo,
    UpstreamError,
)
from sidecar.genai.openai_responses import DIALECT
from sidecar.wire.events import JSONDocument, SSEMessage, WireEvent
from tests.genai.common import observe_all, parse_ok, recording
from tests.genai.transcripts import request_bodies, wire_events
from tests.steps import (
    FinishReason,
    OutputChunk,
    PrematureEnd,
    ResponseInfo,
    State,
    StreamComplete,
    ToolCall,
    expect,
)

REQUEST = RequestInfo(operation=Operation.CHAT, provider="openai")


def parse(body: dict[str, Any]) -> RequestInfo:
    return parse_ok(DIALECT, "/v1/responses", body, "openai")


def event(payload: dict[str, Any], name: str = "message") -> SSEMessage:
    return SSEMessage(event=name, data=json.dumps(payload))


def run(events: Sequence[WireEvent], *, streaming: bool = True) -> State:
    return observe_all(recording(DIALECT, REQUEST, streaming), events)


def body(payload: dict[str, Any]) -> State:
    return run([JSONDocument(data=json.dumps(payload).encode())], streaming=False)


def test_request_parameters() -> None:
    info = parse({
        "model": "gpt-4.1", "stream": True, "temperature": 0.3, "top_p": 0.8,
        "max_output_tokens": 50, "text": {"format": {"type": "json_schema", "schema": {}}},
        "conversation": {"id": "conv_1"}, "instructions": "Be terse.",
        "input": [
            {"role": "user", "content": "Hi"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello"}]},
            {"type": "function_call_output", "call_id": "c", "output": "42"},
        ],
        "top_logprobs": 3,
    })  # fmt: skip
    assert info == RequestInfo(
        operation=Operation.CHAT,
        provider="openai",
        model="gpt-4.1",
        stream=True,
        temperature=0.3,
        top_p=0.8,
        max_tokens=50,
        output_type="json",
        conversation_id="conv_1",
        openai_api="responses",
    )


def test_request_string_input_and_conversation_id() -> None:
    info = parse({"input": "Hello", "conversation": "conv_2"})
    assert info.content is not None
    assert info.content.input_messages() == [
        {"role": "user", "parts": [{"type": "text", "content": "Hello"}]}
    ]
    assert info.conversation_id == "conv_2"
    assert info.stream is False
    assert DIALECT.parse_request("/v1/responses", b"1", "openai") is None


def test_delta_kinds_and_empty_deltas() -> None:
    found = run([
        event({"type": "response.refusal.delta", "delta": "No"}),
        event({"type": "response.audio.transcript.delta", "delta": "spoken"}),
        event({"type": "response.custom_tool_call_input.delta", "delta": "x", "output_index": 0}),
        event({"type": "response.mcp_call_arguments.delta", "delta": "{}", "output_index": 1}),
        event({"type": "response.code_interpreter_call_code.delta", "delta": "print(1)", "output_index": 2}),
        event({"type": "response.reasoning_text.delta", "delta": "hmm"}),
        event({"type": "response.output_text.delta", "delta": ""}),
        event({"type": "response.output_text.delta"}),
        event({"delta": "named by the SSE event"}, name="response.output_text.delta"),
        event({"type": "response.output_item.added", "item": {"type": "code_interpreter_call"},
               "output_index": 3}),
    ])  # fmt: skip
    assert found == expect(
        OutputChunk(kind=OutputKind.TEXT, text="No"),
        OutputChunk(kind=OutputKind.TEXT, text="spoken"),
        OutputChunk(kind=OutputKind.TOOL_CALL),
        OutputChunk(kind=OutputKind.TOOL_CALL),
        OutputChunk(kind=OutputKind.TOOL_CALL),
        ToolCall(arguments="x"),
        ToolCall(arguments={}),
        ToolCall(arguments="print(1)"),
        ToolCall(name="code_interpreter_call"),  # a built-in tool without a name: its type
        OutputChunk(kind=OutputKind.REASONING, text="hmm"),
        OutputChunk(kind=OutputKind.TEXT, text="named by the SSE event"),
        PrematureEnd(),
    )


def test_lifecycle_events_give_identity_only() -> None:
    response = {"id": "resp_1", "model": "m", "status": "queued"}
    found = run([
        event({"type": "response.queued", "response": response}),
        event({"type": "response.in_progress", "response": {**response, "model": "m2"}}),
        event({"type": "response.created"}),
    ])  # fmt: skip
    assert found == expect(
        ResponseInfo(model="m", id="resp_1"),
        ResponseInfo(model="m2", id="resp_1"),
        PrematureEnd(),
    )


def test_terminal_statuses() -> None:
    def finish(response: dict[str, Any]) -> State:
        return run([event({"type": "response.completed", "response": response})])

    assert finish({"status": "incomplete"}) == expect(FinishReason(reason="incomplete"), StreamComplete())
    assert finish({"status": "cancelled"}) == expect(FinishReason(reason="cancelled"), StreamComplete())
    assert finish({"status": "in_progress"}) == expect(StreamComplete())
    assert run([event({"type": "response.failed"})]) == expect(StreamComplete())


def test_error_event_without_code_uses_nested_error() -> None:
    nested = event({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}})
    assert run([nested]) == expect(UpstreamError(type="rate_limit_error", message="slow"))
    bare = event({"message": "bad"}, name="error")
    assert run([bare]) == expect(UpstreamError(message="bad"))


def test_malformed_event_is_skipped() -> None:
    assert run([SSEMessage(event="response.completed", data="{oops")]) == expect(PrematureEnd())


def test_whole_body_items() -> None:
    found = body({
        "id": "resp_2", "model": "m", "status": "completed",
        "output": [
            {"type": "message", "content": [
                {"type": "output_text", "text": "A"}, {"type": "refusal", "refusal": "B"},
                {"type": "output_text", "text": ""},
            ]},
            {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "R"}], "summary": []},
            {"type": "function_call", "name": "f", "arguments": "{\"a\":1}"},
            {"type": "custom_tool_call", "name": "g", "input": "raw"},
            {"type": "function_call", "name": "h"},
            {"type": "web_search_call"},
            "junk",
        ],
    })  # fmt: skip
    assert found == expect(
        ResponseInfo(model="m", id="resp_2"),
        OutputChunk(kind=OutputKind.TEXT, text="A"),
        OutputChunk(kind=OutputKind.TEXT, text="B"),
        OutputChunk(kind=OutputKind.REASONING, text="R"),
        OutputChunk(kind=OutputKind.TOOL_CALL),
        OutputChunk(kind=OutputKind.TOOL_CALL),
        OutputChunk(kind=OutputKind.TOOL_CALL),
        ToolCall(name="f", arguments={"a": 1}),
        ToolCall(name="g", arguments="raw"),
        ToolCall(name="h"),
        FinishReason(reason="completed"),
        StreamComplete(),
    )


def test_whole_failed_response_is_not_an_error_body() -> None:
    found = body({"id": "r", "status": "failed", "error": {"code": "server_error", "message": "x"}})
    assert found == expect(
        ResponseInfo(id="r"),
        FinishReason(reason="error"),
        UpstreamError(type="server_error", message="x"),
        StreamComplete(),
    )


def test_whole_body_that_is_not_json_is_premature() -> None:
    assert run([JSONDocument(data=b"Bad Gateway")], streaming=False) == expect(PrematureEnd())


@settings(deadline=None)
@given(st.lists(wire_events, max_size=12), st.booleans())
def test_observer_never_raises(events: list[WireEvent], streaming: bool) -> None:
    found = run(events, streaming=streaming)
    assert not (found.complete and found.premature)


@settings(deadline=None)
@given(request_bodies)
def test_parse_request_never_raises(body: bytes) -> None:
    info = DIALECT.parse_request("/v1/responses", body, "openai")
    assert info is None or info.operation is Operation.CHAT
