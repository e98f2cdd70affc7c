"""OpenAI embeddings dialect: never streamed, usage and identity from one body."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.genai.observations import (
    Operation,
    RequestInfo,
    Usage,
)
from sidecar.genai.openai_embeddings import DIALECT
from sidecar.wire.events import JSONDocument, SSEMessage, WireEvent
from tests.genai.common import observe_all, recording
from tests.genai.transcripts import request_bodies, wire_events
from tests.steps import PrematureEnd, ResponseInfo, State, StreamComplete, expect

REQUEST = RequestInfo(operation=Operation.EMBEDDINGS, provider="openai")


def run(events: Sequence[WireEvent], *, streaming: bool = False) -> State:
    return observe_all(recording(DIALECT, REQUEST, streaming), events)


def test_request_reads_the_model_and_never_streams() -> None:
    body = b'{"model": "bge", "input": ["a", "b"], "stream": true}'
    assert DIALECT.parse_request("/v1/embeddings", body, "vllm") == RequestInfo(
        operation=Operation.EMBEDDINGS, provider="vllm", model="bge"
    )
    assert DIALECT.parse_request("/v1/embeddings", b"nope", "vllm") is None


def test_body_without_usage() -> None:
    assert run([JSONDocument(data=b'{"model": "bge", "data": []}')]) == expect(
        ResponseInfo(model="bge"),
        StreamComplete(),
    )


def test_an_sse_message_is_read_like_a_body() -> None:
    message = SSEMessage(event="message", data='{"usage": {"prompt_tokens": 4}}')
    assert run([message], streaming=True) == expect(Usage(input_tokens=4), StreamComplete())


def test_unreadable_body_is_premature() -> None:
    assert run([JSONDocument(data=b'{"data": [[0.1,')]) == expect(PrematureEnd())


@settings(deadline=None)
@given(st.lists(wire_events, max_size=6), st.booleans())
def test_observer_never_raises(events: list[WireEvent], streaming: bool) -> None:
    found = run(events, streaming=streaming)
    assert not (found.complete and found.premature)


@settings(deadline=None)
@given(request_bodies)
def test_parse_request_never_raises(body: bytes) -> None:
    info = DIALECT.parse_request("/v1/embeddings", body, "openai")
    assert info is None or info.stream is False
