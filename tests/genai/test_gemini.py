"""The Gemini dialect: model from the path, ``generationConfig``, and the response observer.

Recorded streams: ``tests/data/transcripts/gemini``. These tests pin the completion rule (no
sentinel), usage arithmetic, finish-reason mapping, several candidates and odd input.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.genai.finish import normalised
from sidecar.genai.gemini import DIALECT
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
    as_document,
    encode,
    message_events_over,
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

STREAM = "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"


_REQUESTS = request_bodies_over(
    (
        "contents",
        "parts",
        "text",
        "role",
        "systemInstruction",
        "system_instruction",
        "generationConfig",
        "generation_config",
        "temperature",
        "topP",
        "topK",
        "maxOutputTokens",
        "stopSequences",
        "seed",
        "candidateCount",
        "responseMimeType",
    )
)


def parse(path: str, body: Any) -> RequestInfo | None:
    return DIALECT.parse_request(path, encode(body), "gcp.gemini")


def observe(chunks: list[Any], *, streaming: bool = True, candidates: int | None = None) -> State:
    request = RequestInfo(
        operation=Operation.GENERATE_CONTENT, provider="gcp.gemini", choice_count=candidates
    )
    return observe_all(
        recording(DIALECT, request, streaming),
        chunks,
        as_document,
    )


def candidate(*parts: dict[str, Any], index: int | None = None, finish: str | None = None) -> Any:
    found: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if index is not None:
        found["index"] = index
    if finish is not None:
        found["finishReason"] = finish
    return found


# ---------------------------------------------------------------- requests


def test_request_model_and_stream_come_from_the_path() -> None:
    info = parse(
        STREAM,
        {
            "systemInstruction": {"parts": [{"text": "Be terse."}, {"inlineData": {}}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}, {"text": " there"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
                {"parts": [{"text": "again"}]},
            ],
            "generationConfig": {
                "temperature": 0.1,
                "topP": 0.8,
                "topK": 40.0,
                "maxOutputTokens": 100,
                "stopSequences": ["x"],
                "seed": 9,
                "candidateCount": 2,
                "presencePenalty": 0.5,
                "frequencyPenalty": 0.25,
                "responseMimeType": "application/json",
            },
        },
    )
    assert info == RequestInfo(
        operation=Operation.GENERATE_CONTENT,
        provider="gcp.gemini",
        model="gemini-2.0-flash",
        stream=True,
        temperature=0.1,
        top_p=0.8,
        top_k=40,
        max_tokens=100,
        stop_sequences=("x",),
        seed=9,
        choice_count=2,
        frequency_penalty=0.25,
        presence_penalty=0.5,
        output_type="json",
    )


def test_snake_case_generation_config_is_read_too() -> None:
    """Proto JSON accepts snake_case names; some clients send them."""
    info = parse(
        "/v1beta/models/gemini-pro:generateContent",
        {
            "system_instruction": {"parts": [{"text": "S"}]},
            "generation_config": {
                "top_p": 0.5,
                "top_k": 3,
                "max_output_tokens": 7,
                "stop_sequences": "END",
                "candidate_count": 1,
                "response_mime_type": "text/plain",
            },
        },
    )
    assert info is not None
    assert (info.model, info.stream, info.top_p, info.top_k, info.max_tokens) == (
        "gemini-pro",
        False,
        0.5,
        3,
        7,
    )
    assert (info.stop_sequences, info.choice_count, info.output_type) == (("END",), 1, "text")
    assert info.content is not None
    assert info.content.system_instructions() == [{"type": "text", "content": "S"}]


@pytest.mark.parametrize(
    ("path", "model", "stream"),
    [
        ("/v1/models/gemini-1.5-pro:streamGenerateContent", "gemini-1.5-pro", True),
        (
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash-001"
            ":generateContent",
            "gemini-2.0-flash-001",
            False,
        ),
        ("/v1beta/tunedModels/my-tuned:generateContent", "my-tuned", False),
        ("/v1beta/models/gemini-2.0-flash%3AstreamGenerateContent?alt=sse", "gemini-2.0-flash", True),
        ("/v1beta/gemini:generateContent", None, False),
    ],
)
def test_model_from_path(path: str, model: str | None, stream: bool) -> None:
    info = parse(path, {"generationConfig": {"responseMimeType": "text/x.enum"}})
    assert info is not None
    assert (info.model, info.stream, info.output_type) == (model, stream, None)


@pytest.mark.parametrize("body", [b"", b"]", b"[{}]", b"true"])
def test_a_body_that_is_not_a_json_object_yields_no_request(body: bytes) -> None:
    assert parse(STREAM, body) is None


@given(_REQUESTS)
def test_parse_request_never_raises(body: bytes) -> None:
    DIALECT.parse_request(STREAM, body, "gcp.gemini")


# ---------------------------------------------------------------- responses


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "error"),
        ("UNEXPECTED_TOOL_CALL", "error"),
        ("TOO_MANY_TOOL_CALLS", "error"),
        ("IMAGE_PROHIBITED_CONTENT", "content_filter"),
        ("LANGUAGE", "other"),
        ("OTHER", "other"),
    ],
)
def test_finish_reasons(reason: str, label: str) -> None:
    """The span keeps Gemini's own value; the counter's label is the normalised one."""
    out = observe([{"candidates": [candidate(finish=reason)]}])
    assert out == expect(FinishReason(reason=reason), StreamComplete())
    assert normalised(reason) == label


@pytest.mark.parametrize(
    ("number", "name"),
    # googleapis google/ai/generativelanguage/v1beta/generative_service.proto, Candidate.FinishReason
    [
        (1, "STOP"),
        (2, "MAX_TOKENS"),
        (6, "LANGUAGE"),
        (10, "MALFORMED_FUNCTION_CALL"),
        (13, "TOO_MANY_TOOL_CALLS"),
    ],
)
def test_a_numeric_finish_reason_is_the_enum_name_it_stands_for(number: int, name: str) -> None:
    out = observe([{"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": number}]}])
    assert out.finish_reasons == {0: name}


def test_an_unknown_enum_number_is_kept_as_its_digits_not_a_guessed_name() -> None:
    out = observe([{"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": 99}]}])
    assert out.finish_reasons == {0: "99"}
    assert normalised("99") == "other"


def test_a_numeric_block_reason_is_its_enum_name() -> None:
    # PromptFeedback.BlockReason: 3 = BLOCKLIST
    out = observe([{"promptFeedback": {"blockReason": 3}}])
    assert out.finish_reasons == {0: "BLOCKLIST"}
    assert out.complete


def test_stream_completes_when_every_requested_candidate_finished() -> None:
    chunks = [
        {"candidates": [candidate({"text": "a"}), candidate({"text": "b"}, index=1)]},
        {"candidates": [candidate(finish="STOP", index=1)]},
        {"candidates": [candidate({"text": "c"}, finish="MAX_TOKENS")]},
    ]
    assert observe(chunks, candidates=2) == expect(
        OutputChunk(kind=OutputKind.TEXT, text="a", choice=0),
        OutputChunk(kind=OutputKind.TEXT, text="b", choice=1),
        FinishReason(reason="STOP", choice=1),
        OutputChunk(kind=OutputKind.TEXT, text="c", choice=0),
        FinishReason(reason="MAX_TOKENS", choice=0),
        StreamComplete(),
    )


def test_blocked_prompt_ends_the_stream_with_its_block_reason() -> None:
    chunk = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4},
    }
    assert observe([chunk]) == expect(
        Usage(input_tokens=4),
        FinishReason(reason="SAFETY"),
        StreamComplete(),
    )
    assert normalised("SAFETY") == "content_filter"


def test_one_chunk_per_candidate_tool_call_first() -> None:
    parts: list[dict[str, Any]] = [
        {"text": "thinking", "thought": True},
        {"text": "answer"},
        {"functionCall": {"name": "f", "args": {}}},
        {"text": ""},
        {"thoughtSignature": "c2ln"},
    ]
    assert observe([{"candidates": [candidate(*parts)]}], streaming=False) == expect(
        OutputChunk(kind=OutputKind.TOOL_CALL),
        ToolCall(name="f", arguments={}),
        StreamComplete(),
    )


def test_usage_replaces_and_is_not_repeated() -> None:
    meta = {"promptTokenCount": 3, "thoughtsTokenCount": 2}
    out = observe([{"usageMetadata": meta}, {"usageMetadata": meta}, {"usageMetadata": {}}])
    assert out == expect(Usage(input_tokens=3, output_tokens=2, reasoning_tokens=2), PrematureEnd())


def test_error_element_in_a_streamed_array_ends_the_stream() -> None:
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    out = observe([{"candidates": [candidate({"text": "x"})]}, error])
    assert out == expect(
        OutputChunk(kind=OutputKind.TEXT, text="x"),
        UpstreamError(type="UNAVAILABLE", message="The model is overloaded."),
    )


def test_error_without_status_uses_the_code() -> None:
    out = observe([{"error": {"code": 429, "message": "quota"}}], streaming=False)
    assert out.error == UpstreamError(type="429", message="quota")


def test_a_whole_streamed_array_as_one_body() -> None:
    """Without the stream hint the proxy reads the array as one JSON body."""
    body = [
        {"candidates": [candidate({"text": "a"})], "modelVersion": "m", "responseId": "r"},
        {"candidates": [candidate({"text": "b"}, finish="STOP")]},
        "junk",
    ]
    out = observe([JSONDocument(data=json.dumps(body).encode())], streaming=False)
    assert out == expect(
        ResponseInfo(model="m", id="r"),
        OutputChunk(kind=OutputKind.TEXT, text="a"),
        OutputChunk(kind=OutputKind.TEXT, text="b"),
        FinishReason(reason="STOP"),
        StreamComplete(),
    )


def test_odd_events_are_skipped() -> None:
    events: list[Any] = [
        Oversize(size=5, limit=1),
        SSEMessage(event="message", data="not json"),
        SSEMessage(event="message", data="7"),
        {"candidates": [1, {"content": "x"}]},
    ]
    assert observe(events) == expect(PrematureEnd())


_events = message_events_over(
    (
        "candidates", "content", "parts", "text", "thought", "functionCall", "index",
        "finishReason", "usageMetadata", "promptTokenCount", "candidatesTokenCount",
        "thoughtsTokenCount", "cachedContentTokenCount", "modelVersion", "responseId",
        "promptFeedback", "blockReason", "error", "code", "message", "status",
    )
)  # fmt: skip


@given(st.lists(_events | ODD, max_size=8), st.booleans(), st.none() | st.integers(0, 3))
def test_observer_never_raises(events: list[WireEvent], streaming: bool, candidates: int | None) -> None:
    observe(events, streaming=streaming, candidates=candidates)
