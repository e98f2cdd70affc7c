"""The Cohere v2 dialect: ``/v2/chat`` and ``/v2/embed`` requests and responses.

Recorded streams: ``tests/data/transcripts/cohere``. These tests pin billed-versus-tokens usage,
the finish-reason mapping, the event name as a fallback for ``type`` and odd input.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.genai.cohere import DIALECT
from sidecar.genai.finish import normalised
from sidecar.genai.observations import (
    Operation,
    OutputKind,
    RequestInfo,
    UpstreamError,
    Usage,
)
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage, WireEvent
from tests.genai.common import (
    ODD,
    SCALARS,
    as_document,
    as_typed_message,
    encode,
    json_values,
    observe_all,
    recording,
    request_bodies_over,
)
from tests.steps import (
    FinishReason,
    OutputChunk,
    PrematureEnd,
    ResponseInfo,
    State,
    StreamComplete,
    ToolCall,
    expect,
    outputs,
    outputs_of,
)

_REQUESTS = request_bodies_over(
    (
        "model",
        "messages",
        "role",
        "content",
        "text",
        "type",
        "stream",
        "temperature",
        "p",
        "k",
        "max_tokens",
        "stop_sequences",
        "seed",
        "response_format",
        "texts",
    )
)


def parse(path: str, body: Any) -> RequestInfo | None:
    return DIALECT.parse_request(path, encode(body), "cohere")


def observe(events: list[Any], *, streaming: bool = True) -> State:
    observer = recording(DIALECT, RequestInfo(operation=Operation.CHAT, provider="cohere"), streaming)
    return observe_all(observer, events, as_typed_message)


def end(**delta: Any) -> dict[str, Any]:
    return {"type": "message-end", "delta": delta}


# ---------------------------------------------------------------- requests


def test_chat_request() -> None:
    info = parse(
        "/v2/chat",
        {
            "model": "command-a-03-2025",
            "stream": True,
            "messages": [
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image_url"}]},
                {"role": "tool", "content": [{"type": "document", "document": {}}]},
            ],
            "temperature": 0.3,
            "p": 0.75,
            "k": 50,
            "max_tokens": 300,
            "stop_sequences": ["\n\n"],
            "seed": 4,
            "frequency_penalty": 0.1,
            "presence_penalty": 0.2,
            "response_format": {"type": "json_object"},
        },
    )
    assert info == RequestInfo(
        operation=Operation.CHAT,
        provider="cohere",
        model="command-a-03-2025",
        stream=True,
        temperature=0.3,
        top_p=0.75,
        top_k=50,
        max_tokens=300,
        stop_sequences=("\n\n",),
        seed=4,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        output_type="json",
    )


def test_chat_stream_defaults_to_false() -> None:
    info = parse("/v2/chat", {"model": "m", "messages": []})
    assert info is not None
    assert (info.operation, info.stream, info.output_type) == (Operation.CHAT, False, None)


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v2/embed", {"texts": ["a"], "stream": True}), ("/custom", {"texts": ["a"]})],
)
def test_embed_requests(path: str, body: dict[str, Any]) -> None:
    info = parse(path, {"model": "embed-v4.0", **body})
    assert info is not None
    assert (info.operation, info.stream, info.model) == (Operation.EMBEDDINGS, False, "embed-v4.0")


@pytest.mark.parametrize("body", [b"", b"x", b"[1]"])
def test_a_body_that_is_not_a_json_object_yields_no_request(body: bytes) -> None:
    assert parse("/v2/chat", body) is None


@given(_REQUESTS)
def test_parse_request_never_raises(body: bytes) -> None:
    DIALECT.parse_request("/v2/chat", body, "cohere")


# ---------------------------------------------------------------- responses


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_call"),
        ("ERROR", "error"),
        ("TIMEOUT", "error"),
        ("SOMETHING_NEW", "other"),
    ],
)
def test_finish_reasons(reason: str, label: str) -> None:
    """The span keeps Cohere's own value; the counter's label is the normalised one."""
    assert observe([end(finish_reason=reason)]) == expect(FinishReason(reason=reason), StreamComplete())
    assert normalised(reason) == label


def test_billed_units_win_field_by_field() -> None:
    usage = {"billed_units": {"output_tokens": 5}, "tokens": {"input_tokens": 90, "output_tokens": 6}}
    assert observe([end(usage=usage)]).usage == Usage(input_tokens=90, output_tokens=5)


def test_event_name_stands_in_for_a_missing_type() -> None:
    events = [
        SSEMessage(event="content-delta", data='{"delta":{"message":{"content":{"text":"hi"}}}}'),
        SSEMessage(event="message-end", data="{}"),
    ]
    assert observe(events) == expect(OutputChunk(kind=OutputKind.TEXT, text="hi"), StreamComplete())


def test_thinking_content_is_reasoning() -> None:
    delta = {"type": "content-delta", "delta": {"message": {"content": {"thinking": "hmm"}}}}
    assert outputs_of(observe([delta])) == outputs(OutputChunk(kind=OutputKind.REASONING, text="hmm"))


def test_lifecycle_events_carry_no_output() -> None:
    events = [
        {"type": "content-start", "delta": {"message": {"content": {"type": "text", "text": ""}}}},
        {"type": "content-delta", "delta": {"message": {"content": {"text": ""}}}},
        {"type": "tool-call-start", "delta": {"message": {}}},
        {"type": "tool-call-end"},
        {"type": "citation-start", "delta": {"message": {"citations": {}}}},
        {"type": "debug"},
    ]
    assert observe(events) == expect(PrematureEnd())


def test_non_streamed_tool_call_and_plan() -> None:
    body = {
        "id": "abc",
        "message": {
            "role": "assistant",
            "tool_plan": "I will look it up.",
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        "finish_reason": "TOOL_CALL",
        "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 4}},
    }
    out = observe([JSONDocument(data=json.dumps(body).encode())], streaming=False)
    assert out == expect(
        ResponseInfo(id="abc"),
        OutputChunk(kind=OutputKind.TOOL_CALL),
        ToolCall(id="t1", name="f", arguments={}),
        Usage(input_tokens=3, output_tokens=4),
        FinishReason(reason="TOOL_CALL"),
        StreamComplete(),
    )


def test_non_streamed_error_without_id() -> None:
    out = observe([JSONDocument(data=b'{"message": "too many tokens"}')], streaming=False)
    assert out == expect(UpstreamError(message="too many tokens"), StreamComplete())


def test_odd_events_are_skipped() -> None:
    events: list[Any] = [
        Oversize(size=3, limit=2),
        SSEMessage(event="message", data=":("),
        SSEMessage(event="message", data="[]"),
        {"type": "message-start"},
    ]
    assert observe(events) == expect(PrematureEnd())
    assert observe(events[:3], streaming=False) == expect()


_keys = st.sampled_from(
    (
        "type", "id", "delta", "message", "content", "text", "thinking", "tool_plan",
        "tool_calls", "function", "arguments", "finish_reason", "usage", "billed_units",
        "tokens", "input_tokens", "output_tokens", "error", "meta",
    )
)  # fmt: skip
_types = st.sampled_from(
    (
        "message-start", "content-start", "content-delta", "content-end", "tool-plan-delta",
        "tool-call-start", "tool-call-delta", "tool-call-end", "message-end", "message",
    )
)  # fmt: skip
_values = json_values(_keys, SCALARS | _types)
_events = st.builds(SSEMessage, event=_types, data=_values.map(json.dumps)) | _values.map(as_document)


@given(st.lists(_events | ODD, max_size=8), st.booleans())
def test_observer_never_raises(events: list[WireEvent], streaming: bool) -> None:
    observe(events, streaming=streaming)
