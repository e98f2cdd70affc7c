"""The Ollama dialect: request parsing and the NDJSON / JSON response observer.

The recorded streams live in ``tests/data/transcripts/ollama``; these tests pin the rules one at
a time (streaming default, zero-omitted metrics, timing arithmetic, errors, odd input).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.genai.observations import (
    Operation,
    OutputKind,
    RequestInfo,
    ServerTiming,
    UpstreamError,
    Usage,
)
from sidecar.genai.ollama import DIALECT
from sidecar.wire.events import JSONDocument, Oversize, WireEvent
from tests.genai.common import (
    ODD,
    as_document,
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
)

_REQUESTS = request_bodies_over(
    (
        "model",
        "messages",
        "role",
        "content",
        "stream",
        "options",
        "temperature",
        "top_p",
        "top_k",
        "num_predict",
        "stop",
        "seed",
        "format",
        "system",
        "prompt",
        "input",
        "frequency_penalty",
        "presence_penalty",
    )
)


def parse(path: str, body: Any) -> RequestInfo | None:
    return DIALECT.parse_request(path, encode(body), "ollama")


def observe(lines: list[Any], *, streaming: bool = True, operation: Operation = Operation.CHAT) -> State:
    """Observations of ``lines`` (objects are JSON-encoded; events pass as they are) + close."""
    observer = recording(DIALECT, RequestInfo(operation=operation, provider="ollama"), streaming)
    return observe_all(observer, lines, as_document)


# ---------------------------------------------------------------- requests


def test_chat_request_reads_model_options_and_messages() -> None:
    info = parse(
        "/api/chat",
        {
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant"},
            ],
            "format": {"type": "object"},
            "options": {
                "temperature": 0.5,
                "top_p": 0.9,
                "top_k": 20,
                "num_predict": 128,
                "stop": ["\n", "END"],
                "seed": 42,
                "frequency_penalty": 0.25,
                "presence_penalty": 0.5,
            },
        },
    )
    assert info == RequestInfo(
        operation=Operation.CHAT,
        provider="ollama",
        model="llama3.2",
        stream=True,
        temperature=0.5,
        top_p=0.9,
        top_k=20,
        max_tokens=128,
        stop_sequences=("\n", "END"),
        seed=42,
        frequency_penalty=0.25,
        presence_penalty=0.5,
        output_type="json",
    )


@pytest.mark.parametrize(("stream", "expected"), [(None, True), (True, True), (False, False), ("yes", True)])
def test_chat_and_generate_stream_unless_told_not_to(stream: Any, expected: bool) -> None:
    body: dict[str, Any] = {"model": "m", "prompt": "p"}
    if stream is not None:
        body["stream"] = stream
    for path in ("/api/chat", "/api/generate"):
        info = parse(path, body)
        assert info is not None
        assert info.stream is expected


def test_generate_request_takes_system_and_prompt_and_json_format() -> None:
    info = parse(
        "/api/generate?x=1",
        {"model": "m", "system": "S", "prompt": "P", "format": "json", "stream": False},
    )
    assert info is not None
    assert info.operation is Operation.TEXT_COMPLETION
    assert info.content is not None
    assert info.content.system_instructions() == [{"type": "text", "content": "S"}]
    assert info.content.input_messages() == [{"role": "user", "parts": [{"type": "text", "content": "P"}]}]
    assert info.output_type == "json"
    assert info.stream is False


def test_unlimited_num_predict_is_no_max_tokens() -> None:
    info = parse("/api/generate", {"model": "m", "options": {"num_predict": -1}})
    assert info is not None
    assert info.max_tokens is None
    assert info.output_type is None


@pytest.mark.parametrize("path", ["/api/embed", "/api/embeddings/"])
def test_embeddings_are_never_streamed(path: str) -> None:
    info = parse(path, {"model": "all-minilm", "input": "hi", "stream": True})
    assert info is not None
    assert (info.operation, info.stream) == (Operation.EMBEDDINGS, False)


@pytest.mark.parametrize(
    ("body", "operation"),
    [
        ({"messages": []}, Operation.CHAT),
        ({"input": ["a"]}, Operation.EMBEDDINGS),
        ({"prompt": "p"}, Operation.TEXT_COMPLETION),
    ],
)
def test_configured_route_picks_the_operation_from_the_body(
    body: dict[str, Any], operation: Operation
) -> None:
    info = parse("/ollama/custom", body)
    assert info is not None
    assert info.operation is operation


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_yields_no_request(body: bytes) -> None:
    assert parse("/api/chat", body) is None


@given(_REQUESTS)
def test_parse_request_never_raises(body: bytes) -> None:
    for path in ("/api/chat", "/api/generate", "/api/embed", "/other"):
        DIALECT.parse_request(path, body, "ollama")


# ---------------------------------------------------------------- responses


def test_the_last_model_named_is_the_response_model() -> None:
    lines = [
        {"model": "a", "message": {"content": "x"}},
        {"model": "a", "message": {"content": "y"}},
        {"model": "b", "message": {"content": ""}},
    ]
    assert observe(lines) == expect(
        ResponseInfo(model="a"),
        OutputChunk(kind=OutputKind.TEXT, text="x"),
        OutputChunk(kind=OutputKind.TEXT, text="y"),
        ResponseInfo(model="b"),
        PrematureEnd(),
    )


def test_done_line_without_metrics_counts_zero_tokens_and_reports_no_timing() -> None:
    """Ollama omits zero-valued metrics (``omitempty``): absent counts on the done line are 0."""
    assert observe([{"model": "m", "done": True, "done_reason": "load"}]) == expect(
        ResponseInfo(model="m"),
        Usage(input_tokens=0, output_tokens=0),
        FinishReason(reason="load"),
        StreamComplete(),
    )


def test_timing_uses_what_is_present_and_skips_tpot_without_tokens() -> None:
    done = {"done": True, "prompt_eval_duration": 2_000_000, "eval_duration": 5, "eval_count": 0}
    found = observe([done])
    assert found.server_timing == ServerTiming(time_to_first_token_s=0.002)
    assert found.complete


def test_empty_done_reason_reports_no_finish_reason() -> None:
    """``DoneReason`` is empty when the runner connection closed; there is nothing to report."""
    out = observe([{"done": True, "done_reason": "", "eval_count": 3}])
    assert out.finish_reasons == {}
    assert out.complete


def test_tool_call_wins_over_text_and_reasoning_in_one_line() -> None:
    line = {
        "message": {
            "content": "c",
            "thinking": "t",
            "tool_calls": [{"function": {"name": "f", "arguments": {}}}],
        }
    }
    assert observe([line], streaming=False) == expect(
        OutputChunk(kind=OutputKind.TOOL_CALL),
        ToolCall(name="f", arguments={}),
        StreamComplete(),
    )


def test_generate_lines_report_response_and_thinking() -> None:
    out = observe([{"thinking": "hmm"}, {"response": "ok"}, {"response": ""}])
    assert out == expect(
        OutputChunk(kind=OutputKind.REASONING, text="hmm"),
        OutputChunk(kind=OutputKind.TEXT, text="ok"),
        PrematureEnd(),
    )


def test_error_object_is_read_too() -> None:
    assert observe([{"error": {"message": "boom", "type": "server"}}]) == expect(
        UpstreamError(type="server", message="boom"),
    )


def test_legacy_embeddings_report_no_usage() -> None:
    out = observe([{"embedding": [0.1, 0.2]}], streaming=False, operation=Operation.EMBEDDINGS)
    assert out == expect(StreamComplete())


def test_embed_without_count_reports_zero_input_tokens() -> None:
    out = observe([{"model": "e", "embeddings": [[0.1]]}], streaming=False)
    assert out == expect(ResponseInfo(model="e"), Usage(input_tokens=0), StreamComplete())


def test_oversize_and_malformed_lines_are_skipped() -> None:
    lines: list[Any] = [
        Oversize(size=10, limit=5),
        JSONDocument(data=b"{not json"),
        JSONDocument(data=b"[1, 2]"),
        {"model": "m", "done": True},
    ]
    assert observe(lines) == expect(
        ResponseInfo(model="m"),
        Usage(input_tokens=0, output_tokens=0),
        StreamComplete(),
    )


def test_stream_without_done_line_ended_prematurely_but_a_body_did_not() -> None:
    line = {"model": "m", "message": {"content": "x"}}
    assert observe([line]).premature
    body = observe([line], streaming=False)
    assert body.complete
    assert not body.premature


def test_a_body_cut_short_is_premature() -> None:
    assert observe([JSONDocument(data=b'{"model": "m", "mess')], streaming=False) == expect(PrematureEnd())


def test_close_twice_is_premature_once() -> None:
    observer = recording(DIALECT, RequestInfo(operation=Operation.CHAT, provider="o"), True)
    observer.close()
    observer.close()
    assert observer.acc.premature
    assert not observer.acc.complete


_ollama_keys = st.sampled_from(
    (
        "model", "message", "content", "thinking", "tool_calls", "response", "done",
        "done_reason", "error", "prompt_eval_count", "eval_count", "load_duration",
        "prompt_eval_duration", "eval_duration", "total_duration", "embeddings", "embedding",
    )
)  # fmt: skip
_ollama_lines = json_values(_ollama_keys).map(as_document)


@given(st.lists(_ollama_lines | ODD, max_size=8), st.booleans())
def test_observer_never_raises(events: list[WireEvent], streaming: bool) -> None:
    for operation in (Operation.CHAT, Operation.EMBEDDINGS):
        observe(events, streaming=streaming, operation=operation)
