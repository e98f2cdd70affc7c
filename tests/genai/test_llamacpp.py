"""The llama.cpp native ``/completion`` dialect: request parsing and the SSE / JSON observer.

Recorded streams: ``tests/data/transcripts/llamacpp``. These tests pin the usage arithmetic, the
``stop_type`` mapping, several completions per request (``n_cmpl``) and odd input.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.genai.finish import normalised
from sidecar.genai.llamacpp import DIALECT
from sidecar.genai.observations import (
    Operation,
    OutputKind,
    RequestInfo,
    ServerTiming,
    UpstreamError,
    Usage,
)
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage, WireEvent
from tests.genai.common import ODD, encode, message_events_over, observe_all, recording, request_bodies_over
from tests.steps import (
    FinishReason,
    OutputChunk,
    PrematureEnd,
    ResponseInfo,
    State,
    StreamComplete,
    expect,
)

_REQUESTS = request_bodies_over(
    (
        "prompt",
        "stream",
        "n_predict",
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "stop",
        "n_cmpl",
        "n",
        "json_schema",
        "response_format",
        "type",
        "model",
        "frequency_penalty",
    )
)


def parse(body: Any, path: str = "/completion") -> RequestInfo | None:
    return DIALECT.parse_request(path, encode(body), "llama_cpp")


def observe(events: list[Any], *, streaming: bool = True, choices: int | None = None) -> State:
    request = RequestInfo(operation=Operation.TEXT_COMPLETION, provider="llama_cpp", choice_count=choices)
    return observe_all(recording(DIALECT, request, streaming), events)


def final(**fields: Any) -> dict[str, Any]:
    return {"content": "", "stop": True, **fields}


# ---------------------------------------------------------------- requests


def test_request_fields() -> None:
    info = parse(
        {
            "prompt": "Hello",
            "stream": True,
            "n_predict": 32,
            "temperature": 0.8,
            "top_p": 0.95,
            "top_k": 40,
            "seed": 7,
            "stop": ["</s>"],
            "n_cmpl": 2,
            "frequency_penalty": 0.1,
            "presence_penalty": 0.2,
            "json_schema": {"type": "object"},
        },
        "/completions",
    )
    assert info == RequestInfo(
        operation=Operation.TEXT_COMPLETION,
        provider="llama_cpp",
        stream=True,
        temperature=0.8,
        top_p=0.95,
        top_k=40,
        max_tokens=32,
        stop_sequences=("</s>",),
        seed=7,
        choice_count=2,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        output_type="json",
    )


def test_request_defaults_and_fallbacks() -> None:
    """``stream`` defaults to false; ``max_tokens`` and ``n`` stand in for ``n_predict`` and
    ``n_cmpl``; ``n_predict: -1`` means no limit; a token-list prompt is not captured."""
    info = parse({"prompt": [1, 2, 3], "max_tokens": 5, "n": 3, "model": "alias"})
    assert info is not None
    assert (info.stream, info.max_tokens, info.choice_count, info.model) == (False, 5, 3, "alias")
    assert info.content is not None
    assert info.content.input_messages() == []
    unlimited = parse({"prompt": "p", "n_predict": -1})
    assert unlimited is not None
    assert unlimited.max_tokens is None


@pytest.mark.parametrize(
    ("response_format", "output_type"),
    [
        ({"type": "json_object"}, "json"),
        ({"type": "json_schema", "schema": {}}, "json"),
        ({"type": "text"}, "text"),
        ({"type": "other"}, None),
        (None, None),
    ],
)
def test_output_type_from_response_format(response_format: Any, output_type: str | None) -> None:
    info = parse({"prompt": "p", "response_format": response_format})
    assert info is not None
    assert info.output_type == output_type


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null"])
def test_a_body_that_is_not_a_json_object_yields_no_request(body: bytes) -> None:
    assert parse(body) is None


@given(_REQUESTS)
def test_parse_request_never_raises(body: bytes) -> None:
    DIALECT.parse_request("/completion", body, "llama_cpp")


# ---------------------------------------------------------------- responses


@pytest.mark.parametrize(
    ("stop_type", "label"),
    [("eos", "stop"), ("word", "stop"), ("limit", "length"), ("none", "length"), ("new", "other")],
)
def test_stop_type_is_the_reason(stop_type: str, label: str) -> None:
    """The span keeps the server's ``stop_type``; the counter's label is the normalised one."""
    out = observe([final(stop_type=stop_type, tokens_predicted=1)])
    assert out.finish_reasons == {0: stop_type}
    assert normalised(stop_type) == label


@pytest.mark.parametrize(
    ("flag", "label"), [("stopped_eos", "stop"), ("stopped_word", "stop"), ("stopped_limit", "length")]
)
def test_an_older_servers_stopped_flag_is_the_reason(flag: str, label: str) -> None:
    flags = dict.fromkeys(("stopped_eos", "stopped_word", "stopped_limit"), False) | {flag: True}
    out = observe([final(tokens_predicted=1, **flags)])
    assert out.finish_reasons == {0: flag}
    assert normalised(flag) == label


def test_no_stopped_flag_set_is_no_reason() -> None:
    flags = dict.fromkeys(("stopped_eos", "stopped_word", "stopped_limit"), False)
    assert observe([final(tokens_predicted=1, **flags)]).finish_reasons == {}


def test_input_falls_back_to_prompt_n_plus_cache_n() -> None:
    out = observe([final(timings={"prompt_n": 5, "cache_n": 7, "predicted_n": 2})])
    assert out.usage == Usage(input_tokens=12, output_tokens=2, cache_read_tokens=7)


def test_final_without_counts_reports_no_usage_or_timing() -> None:
    assert observe([final()]) == expect(StreamComplete())


def test_no_time_per_token_without_predicted_tokens() -> None:
    out = observe([final(tokens_predicted=0, timings={"prompt_ms": 4.0, "predicted_per_token_ms": None})])
    assert out == expect(
        Usage(output_tokens=0),
        ServerTiming(time_to_first_token_s=0.004),
        StreamComplete(),
    )


def test_several_completions_sum_their_output_and_complete_after_the_last() -> None:
    """With ``n_cmpl: 2`` each completion ends with its own ``stop: true`` object."""
    events = [
        {"index": 0, "content": "a", "stop": False},
        {"index": 1, "content": "b", "stop": False},
        final(index=1, model="m", tokens_evaluated=4, tokens_predicted=3, stop_type="eos"),
        final(index=0, model="m", tokens_evaluated=4, tokens_predicted=2, stop_type="limit"),
    ]
    assert observe(events, choices=2) == expect(
        OutputChunk(kind=OutputKind.TEXT, text="a", choice=0),
        OutputChunk(kind=OutputKind.TEXT, text="b", choice=1),
        ResponseInfo(model="m"),
        Usage(input_tokens=4, output_tokens=3),
        FinishReason(reason="eos", choice=1),
        Usage(input_tokens=4, output_tokens=5),
        FinishReason(reason="limit", choice=0),
        StreamComplete(),
    )


def test_non_streamed_list_of_completions() -> None:
    body = [
        final(index=0, content="x", tokens_predicted=1),
        final(index=1, content="y", tokens_predicted=2),
        "junk",
    ]
    out = observe([JSONDocument(data=json.dumps(body).encode())], streaming=False, choices=2)
    assert out == expect(
        OutputChunk(kind=OutputKind.TEXT, text="x", choice=0),
        Usage(output_tokens=1),
        OutputChunk(kind=OutputKind.TEXT, text="y", choice=1),
        Usage(output_tokens=3),
        StreamComplete(),
    )


def test_error_as_plain_string() -> None:
    assert observe([{"error": "slot unavailable"}]) == expect(
        UpstreamError(message="slot unavailable"),
    )


def test_error_code_stands_in_for_a_missing_type() -> None:
    assert observe([{"error": {"code": 503, "message": "Loading model"}}]).error == UpstreamError(
        type="503", message="Loading model"
    )


def test_skips_oversize_non_json_and_non_objects() -> None:
    events: list[Any] = [
        Oversize(size=9, limit=4),
        SSEMessage(event="message", data="[DONE]"),
        SSEMessage(event="message", data="42"),
        {"content": "", "stop": False},
    ]
    assert observe(events) == expect(PrematureEnd())


def test_non_streamed_body_that_is_not_a_result_is_read_whole() -> None:
    body = JSONDocument(data=b'{"unexpected": true}')
    assert observe([body], streaming=False) == expect(StreamComplete())


_events = message_events_over(
    (
        "content", "index", "stop", "model", "tokens_predicted", "tokens_evaluated", "timings",
        "prompt_n", "cache_n", "predicted_n", "prompt_ms", "predicted_per_token_ms",
        "stop_type", "error", "code", "message", "type",
    )
)  # fmt: skip


@given(st.lists(_events | ODD, max_size=8), st.booleans(), st.none() | st.integers(0, 3))
def test_observer_never_raises(events: list[WireEvent], streaming: bool, choices: int | None) -> None:
    observe(events, streaming=streaming, choices=choices)
