"""The TGI dialect: ``/generate`` and ``/generate_stream`` requests and responses.

Recorded streams: ``tests/data/transcripts/tgi``. These tests pin the streaming flag from the
path, finish reasons as TGI spells them, special tokens, the prompt count and odd input.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.genai.finish import normalised
from sidecar.genai.observations import (
    Operation,
    OutputKind,
    RequestInfo,
    Usage,
)
from sidecar.genai.tgi import DIALECT
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage, WireEvent
from tests.genai.common import ODD, encode, message_events_over, observe_all, recording, request_bodies_over
from tests.steps import (
    OutputChunk,
    PrematureEnd,
    State,
    StreamComplete,
    expect,
    outputs,
    outputs_of,
)

_REQUESTS = request_bodies_over(
    (
        "inputs",
        "parameters",
        "max_new_tokens",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "stop",
        "grammar",
        "type",
        "stream",
        "frequency_penalty",
    )
)


def parse(path: str, body: Any) -> RequestInfo | None:
    return DIALECT.parse_request(path, encode(body), "tgi")


def observe(events: list[Any], *, streaming: bool = True) -> State:
    request = RequestInfo(operation=Operation.TEXT_COMPLETION, provider="tgi")
    return observe_all(recording(DIALECT, request, streaming), events)


def token(text: str, *, special: bool = False, index: int = 1) -> dict[str, Any]:
    return {"index": index, "token": {"id": 1, "text": text, "special": special}}


# ---------------------------------------------------------------- requests


def test_request_parameters() -> None:
    info = parse(
        "/generate_stream",
        {
            "inputs": "What is Deep Learning?",
            "parameters": {
                "max_new_tokens": 20,
                "temperature": 0.5,
                "top_p": 0.9,
                "top_k": 10,
                "seed": 1,
                "stop": ["\n"],
                "frequency_penalty": 0.3,
                "grammar": {"type": "json", "value": {}},
            },
        },
    )
    assert info == RequestInfo(
        operation=Operation.TEXT_COMPLETION,
        provider="tgi",
        stream=True,
        temperature=0.5,
        top_p=0.9,
        top_k=10,
        max_tokens=20,
        stop_sequences=("\n",),
        seed=1,
        frequency_penalty=0.3,
        output_type="json",
    )


@pytest.mark.parametrize(
    ("path", "body", "stream"),
    [
        ("/generate", {"inputs": "x"}, False),
        ("/generate_stream?x=1", {"inputs": "x"}, True),
        ("/", {"inputs": "x", "stream": True}, True),
        ("/", {"inputs": "x", "parameters": {"grammar": {"type": "regex"}}}, False),
    ],
)
def test_streaming_comes_from_the_path(path: str, body: dict[str, Any], stream: bool) -> None:
    info = parse(path, body)
    assert info is not None
    assert info.stream is stream
    assert info.output_type is None


@pytest.mark.parametrize("body", [b"nope", b"[]", b"1"])
def test_a_body_that_is_not_a_json_object_yields_no_request(body: bytes) -> None:
    assert parse("/generate", body) is None


@given(_REQUESTS)
def test_parse_request_never_raises(body: bytes) -> None:
    DIALECT.parse_request("/generate_stream", body, "tgi")


# ---------------------------------------------------------------- responses


@pytest.mark.parametrize(
    ("reason", "label"),
    [("eos_token", "stop"), ("stop_sequence", "stop"), ("length", "length"), ("new_reason", "other")],
)
def test_finish_reasons(reason: str, label: str) -> None:
    """The span keeps TGI's own value; the counter's label is the normalised one."""
    out = observe([{**token("x"), "generated_text": "x", "details": {"finish_reason": reason}}])
    assert out.finish_reasons == {0: reason}
    assert normalised(reason) == label


def test_special_and_empty_tokens_are_not_output() -> None:
    events = [token(""), token("<|eot|>", special=True), token("a")]
    assert observe(events) == expect(OutputChunk(kind=OutputKind.TEXT, text="a"), PrematureEnd())


def test_token_index_is_a_position_not_a_choice() -> None:
    assert outputs_of(observe([token("a", index=7)])) == outputs(OutputChunk(kind=OutputKind.TEXT, text="a"))


def test_prompt_tokens_from_older_servers() -> None:
    out = observe([{"generated_text": "", "details": {"prompt_tokens": 3, "generated_tokens": 0}}])
    assert out == expect(Usage(input_tokens=3, output_tokens=0), StreamComplete())


def test_non_streamed_list_from_the_compat_route() -> None:
    body = [{"generated_text": "a"}, {"generated_text": "b"}, 3]
    out = observe([JSONDocument(data=json.dumps(body).encode())], streaming=False)
    assert out == expect(
        OutputChunk(kind=OutputKind.TEXT, text="a", choice=0),
        OutputChunk(kind=OutputKind.TEXT, text="b", choice=1),
        StreamComplete(),
    )


def test_non_streamed_empty_generation_still_completes() -> None:
    out = observe([JSONDocument(data=b'{"generated_text": ""}')], streaming=False)
    assert out == expect(StreamComplete())


def test_odd_events_are_skipped() -> None:
    events: list[Any] = [Oversize(size=2, limit=1), SSEMessage(event="message", data="{"), "str"]
    assert observe(events) == expect(PrematureEnd())
    assert observe(events, streaming=False) == expect()


_events = message_events_over(
    (
        "index", "token", "text", "special", "generated_text", "details", "finish_reason",
        "generated_tokens", "input_length", "prompt_tokens", "error", "error_type",
    )
)  # fmt: skip


@given(st.lists(_events | ODD, max_size=8), st.booleans())
def test_observer_never_raises(events: list[WireEvent], streaming: bool) -> None:
    observe(events, streaming=streaming)
