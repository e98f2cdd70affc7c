"""OpenAI legacy completions dialect: prompt capture and ``choices[].text`` output."""

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
)
from sidecar.genai.openai_completions import DIALECT
from sidecar.wire.events import SSEMessage, WireEvent
from tests.genai.common import observe_all, recording
from tests.genai.transcripts import request_bodies, wire_events
from tests.steps import OutputChunk, PrematureEnd, State, StreamComplete, expect

REQUEST = RequestInfo(operation=Operation.TEXT_COMPLETION, provider="openai")


def parse(body: dict[str, Any]) -> RequestInfo | None:
    return DIALECT.parse_request("/v1/completions", json.dumps(body).encode(), "llama_cpp")


def run(events: Sequence[WireEvent], *, streaming: bool = True) -> State:
    return observe_all(recording(DIALECT, REQUEST, streaming), events)


def test_request_is_a_text_completion_with_prompt_messages() -> None:
    info = parse({"model": "m", "prompt": "Once", "max_tokens": 8, "stream": True, "n": 3})
    assert info == RequestInfo(
        operation=Operation.TEXT_COMPLETION,
        provider="llama_cpp",
        model="m",
        stream=True,
        max_tokens=8,
        choice_count=3,
        usage_requested=False,  # a stream without stream_options.include_usage
    )


def test_prompt_lists_keep_strings_and_drop_token_ids() -> None:
    info = parse({"prompt": ["a", [1, 2, 3], "b"]})
    assert info is not None
    assert info.content is not None
    assert info.content.input_messages() == [
        {"role": "user", "parts": [{"type": "text", "content": "a"}]},
        {"role": "user", "parts": [{"type": "text", "content": "b"}]},
    ]
    info = parse({"prompt": [1, 2, 3]})
    assert info is not None
    assert info.content is not None
    assert info.content.input_messages() == []


def test_non_object_body_is_not_a_request() -> None:
    assert DIALECT.parse_request("/v1/completions", b"[]", "openai") is None


def test_empty_text_is_not_output() -> None:
    events = [
        SSEMessage(event="message", data='{"choices": [{"text": "", "index": 0}]}'),
        SSEMessage(event="message", data='{"choices": [{"text": 5, "index": 0}]}'),
        SSEMessage(event="message", data='{"choices": [{"text": "x", "index": 2}]}'),
    ]
    assert run(events) == expect(OutputChunk(kind=OutputKind.TEXT, text="x", choice=2), PrematureEnd())


def test_done_completes() -> None:
    assert run([SSEMessage(event="message", data="[DONE]")]) == expect(StreamComplete())


@settings(deadline=None)
@given(st.lists(wire_events, max_size=12), st.booleans())
def test_observer_never_raises(events: list[WireEvent], streaming: bool) -> None:
    found = run(events, streaming=streaming)
    assert not (found.complete and found.premature)


@settings(deadline=None)
@given(request_bodies)
def test_parse_request_never_raises(body: bytes) -> None:
    info = DIALECT.parse_request("/v1/completions", body, "openai")
    assert info is None or info.operation is Operation.TEXT_COMPLETION
