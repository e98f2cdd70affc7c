"""Anthropic Messages dialect: request parsing, cumulative usage with cache tokens, events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.genai.anthropic import DIALECT
from sidecar.genai.observations import (
    Operation,
    OutputKind,
    RequestInfo,
    UpstreamError,
    Usage,
)
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage, WireEvent
from tests.genai.common import as_typed_message as event
from tests.genai.common import observe_all, parse_ok, recording
from tests.genai.transcripts import request_bodies, wire_events
from tests.steps import (
    FinishReason,
    OutputChunk,
    PrematureEnd,
    State,
    StreamComplete,
    ToolCall,
    expect,
)

REQUEST = RequestInfo(operation=Operation.CHAT, provider="anthropic")


def parse(body: dict[str, Any]) -> RequestInfo:
    return parse_ok(DIALECT, "/v1/messages", body, "anthropic")


def run(events: Sequence[WireEvent], *, streaming: bool = True) -> State:
    return observe_all(recording(DIALECT, REQUEST, streaming), events)


def test_request_parameters() -> None:
    info = parse({
        "model": "claude-sonnet-4-5", "max_tokens": 512, "stream": True, "temperature": 1,
        "top_p": 0.9, "top_k": 5, "stop_sequences": ["END"],
        "output_config": {"format": {"type": "json_schema", "schema": {}}},
        "system": [{"type": "text", "text": "Rule one."}, {"type": "text", "text": "Rule two."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image", "source": {}}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        ],
    })  # fmt: skip
    assert info == RequestInfo(
        operation=Operation.CHAT,
        provider="anthropic",
        model="claude-sonnet-4-5",
        stream=True,
        temperature=1.0,
        top_p=0.9,
        top_k=5,
        max_tokens=512,
        stop_sequences=("END",),
        output_type="json",
    )


def test_request_defaults_and_older_output_format() -> None:
    info = parse({"system": "Be kind.", "output_format": {"type": "json_schema"}})
    assert (info.stream, info.output_type) == (False, "json")
    assert info.content is not None
    assert info.content.system_instructions() == [{"type": "text", "content": "Be kind."}]
    odd = parse({"system": 5}).content
    assert odd is not None
    assert odd.system_instructions() == []
    assert DIALECT.parse_request("/v1/messages", b"null", "anthropic") is None


def test_usage_is_cumulative_and_keeps_cache_fields() -> None:
    found = run([
        event({"type": "message_start", "message": {"usage": {
            "input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": 1,
        }}}),
        event({"type": "message_delta", "delta": {}, "usage": {"output_tokens": 7}}),
        event({"type": "message_delta", "delta": {}, "usage": {
            "cache_creation_input_tokens": 20, "output_tokens": 9,
        }}),
        event({"type": "message_delta", "usage": {}}),
        event({"type": "message_stop"}),
    ])  # fmt: skip
    assert found == expect(
        Usage(input_tokens=110, output_tokens=1, cache_read_tokens=100),
        Usage(input_tokens=110, output_tokens=7, cache_read_tokens=100),
        Usage(input_tokens=130, output_tokens=9, cache_read_tokens=100, cache_write_tokens=20),
        StreamComplete(),
    )


def test_usage_without_input_tokens_has_no_input_total() -> None:
    found = run([event({"type": "message_delta", "usage": {"cache_read_input_tokens": 3}})])
    assert found == expect(Usage(cache_read_tokens=3), PrematureEnd())


def test_block_starts_deltas_and_non_output_events() -> None:
    found = run([
        event({"type": "ping"}),
        event({"type": "content_block_start", "content_block": {"type": "text", "text": "pre"}}),
        event({"type": "content_block_start", "content_block": {"type": "tool_use", "input": {}}}),
        event({"type": "content_block_start", "content_block": {"type": "redacted_thinking"}}),
        event({"type": "content_block_delta", "delta": {"type": "citations_delta", "citation": {}}}),
        event({"type": "content_block_delta", "delta": {"type": "signature_delta", "signature": "s"}}),
        event({"type": "content_block_delta", "delta": {"type": "input_json_delta", "partial_json": ""}}),
        event({"type": "content_block_delta", "delta": {"type": "text_delta"}}),
        event({"type": "content_block_delta"}),
        event({"type": "content_block_stop", "index": 0}),
        event({"type": "message_delta", "delta": {"stop_reason": "pause_turn"}}),
    ])  # fmt: skip
    assert found == expect(
        OutputChunk(kind=OutputKind.TEXT, text="pre"),
        ToolCall(),  # a tool_use block, even one naming nothing, is a call
        FinishReason(reason="pause_turn"),
        PrematureEnd(),
    )


def test_error_events() -> None:
    error = event({"type": "error", "error": {"type": "api_error", "message": "Internal"}})
    assert run([error]) == expect(UpstreamError(type="api_error", message="Internal"))
    odd = SSEMessage(event="error", data='{"type": "error", "message": "raw"}')
    assert run([odd]) == expect(UpstreamError(message="raw"))


def test_malformed_and_oversize_events_are_skipped() -> None:
    found = run([SSEMessage(event="message_stop", data="{"), Oversize(size=2, limit=1)])
    assert found == expect(PrematureEnd())


def test_whole_body_tool_use_inputs() -> None:
    deep: Any = []
    for _ in range(300):
        deep = [deep]
    payload = {
        "type": "message",
        "content": [
            {"type": "tool_use", "name": "a"},
            {"type": "tool_use", "name": "b", "input": deep},
            {"type": "thinking", "thinking": ""},
        ],
    }
    found = run([JSONDocument(data=json.dumps(payload).encode())], streaming=False)
    assert found == expect(
        OutputChunk(kind=OutputKind.TOOL_CALL),
        OutputChunk(kind=OutputKind.TOOL_CALL),
        ToolCall(name="a"),
        ToolCall(name="b"),  # input nested deeper than JSON serialisation allows: not kept
        StreamComplete(),
    )


@settings(deadline=None)
@given(st.lists(wire_events, max_size=12), st.booleans())
def test_observer_never_raises(events: list[WireEvent], streaming: bool) -> None:
    found = run(events, streaming=streaming)
    assert not (found.complete and found.premature)


@settings(deadline=None)
@given(request_bodies)
def test_parse_request_never_raises(body: bytes) -> None:
    info = DIALECT.parse_request("/v1/messages", body, "anthropic")
    assert info is None or info.provider == "anthropic"
