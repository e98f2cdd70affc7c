"""OpenAI chat dialect: request parsing and the observer's edge cases (transcripts cover the
ordinary streams in test_transcripts.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sidecar.genai.accumulator import CallAccumulator
from sidecar.genai.observations import (
    Operation,
    OutputKind,
    RequestInfo,
    ServerTiming,
    UpstreamError,
    Usage,
)
from sidecar.genai.openai_chat import DIALECT, ChatObserver, message_outputs
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage, WireEvent
from tests.genai.common import observe_all, parse_ok, recording
from tests.genai.transcripts import request_bodies, wire_events
from tests.steps import (
    FinishReason,
    OutputChunk,
    PrematureEnd,
    ResponseInfo,
    ServerCounts,
    State,
    StreamComplete,
    ToolCall,
    expect,
    outputs,
    outputs_of,
)

REQUEST = RequestInfo(operation=Operation.CHAT, provider="openai")


def parse(body: dict[str, Any]) -> RequestInfo:
    return parse_ok(DIALECT, "/v1/chat/completions", body, "vllm")


def sse(data: Any, event: str = "message") -> SSEMessage:
    return SSEMessage(event=event, data=data if isinstance(data, str) else json.dumps(data))


def run(events: Sequence[WireEvent], *, streaming: bool = True) -> State:
    return observe_all(recording(DIALECT, REQUEST, streaming), events)


def chunk(delta: dict[str, Any], *, index: int = 0, finish: str | None = None) -> SSEMessage:
    return sse({"id": "c1", "model": "m", "choices": [
        {"index": index, "delta": delta, "finish_reason": finish}
    ]})  # fmt: skip


# ---------------------------------------------------------------- requests


def test_request_parameters_are_read() -> None:
    info = parse({
        "model": "llama", "stream": True, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
        "max_tokens": 100, "stop": ["a", "b"], "seed": 7, "n": 2, "frequency_penalty": 0.1,
        "presence_penalty": -0.2, "response_format": {"type": "json_schema"},
        "stream_options": {"include_usage": True}, "messages": [],
    })  # fmt: skip
    assert info == RequestInfo(
        operation=Operation.CHAT,
        provider="vllm",
        model="llama",
        stream=True,
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        max_tokens=100,
        stop_sequences=("a", "b"),
        seed=7,
        choice_count=2,
        frequency_penalty=0.1,
        presence_penalty=-0.2,
        output_type="json",
        include_usage=True,
        openai_api="chat_completions",
    )


def test_request_defaults_when_fields_are_absent() -> None:
    info = parse({"model": "m", "messages": []})
    assert info.stream is False
    assert info.include_usage is False
    assert (info.temperature, info.top_k, info.max_tokens, info.output_type) == (None,) * 4


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert parse({"max_tokens": 5, "max_completion_tokens": 9}).max_tokens == 9
    assert parse({"max_tokens": 5}).max_tokens == 5


def test_top_logprobs_is_never_top_k() -> None:
    assert parse({"logprobs": True, "top_logprobs": 5}).top_k is None


def test_stop_as_a_single_string() -> None:
    assert parse({"stop": "\n"}).stop_sequences == ("\n",)


def test_output_types() -> None:
    assert parse({"response_format": {"type": "json_object"}}).output_type == "json"
    assert parse({"response_format": {"type": "text"}}).output_type == "text"
    assert parse({"response_format": {"type": "grammar"}}).output_type is None


def test_include_usage_counts_only_for_streams() -> None:
    assert parse({"stream_options": {"include_usage": True}}).include_usage is False


def test_messages_keep_their_order_and_roles() -> None:
    """System and developer messages stay in the input messages, in order (the chat API has no
    separate system field); tool-call turns and tool results keep their ids."""
    info = parse({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]},
        {"role": "user", "content": [
            {"type": "text", "text": "Look:"},
            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        ]},
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
        {"content": "no role"},
        "not a message",
    ]})  # fmt: skip
    assert info.content is not None
    assert info.content.system_instructions() == []
    assert info.content.input_messages() == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "developer", "parts": [{"type": "text", "content": "No emoji."}]},
        {"role": "user", "parts": [
            {"type": "text", "content": "Look:"},
            {"type": "uri", "modality": "image", "uri": "https://x.test/a.png"},
        ]},
        {"role": "assistant", "parts": [
            {"type": "tool_call", "name": "f", "id": "call_1", "arguments": {"a": 1}},
        ]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "response": "42", "id": "call_1"}]},
    ]  # fmt: skip


def test_a_body_that_is_not_a_json_object_is_not_a_request() -> None:
    for body in (b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"):
        assert DIALECT.parse_request("/v1/chat/completions", body, "openai") is None


# ---------------------------------------------------------------- responses


def test_role_only_and_empty_content_chunks_carry_no_output() -> None:
    found = run([chunk({"role": "assistant", "content": ""}), chunk({"content": None})])
    assert found == expect(ResponseInfo(model="m", id="c1"), PrematureEnd())


def test_reasoning_refusal_and_legacy_function_call_deltas() -> None:
    found = run([
        chunk({"reasoning_content": "think"}),
        chunk({"reasoning": "more"}),
        chunk({"refusal": "I can't"}),
        chunk({"function_call": {"name": "f", "arguments": "{}"}}),
        chunk({"function_call": {"name": "f"}}),
    ])  # fmt: skip
    assert outputs_of(found) == outputs(
        OutputChunk(kind=OutputKind.REASONING, text="think"),
        OutputChunk(kind=OutputKind.REASONING, text="more"),
        OutputChunk(kind=OutputKind.TEXT, text="I can't"),
        OutputChunk(kind=OutputKind.TOOL_CALL),
        OutputChunk(kind=OutputKind.TOOL_CALL),
    )
    assert found.tool_calls == {0: [ToolCall(name="f", arguments={}).facts()]}  # the legacy one call


def test_one_output_per_choice_per_chunk_tool_call_first() -> None:
    delta = {
        "content": "text",
        "reasoning_content": "why",
        "tool_calls": [{"index": 0, "function": {"arguments": "{"}}],
    }
    found = run([chunk(delta)])
    assert outputs_of(found) == outputs(OutputChunk(kind=OutputKind.TOOL_CALL))
    assert found.tool_calls == {0: [ToolCall(arguments="{").facts()]}


def test_several_choices_in_one_chunk() -> None:
    message = sse({"choices": [
        {"index": 0, "delta": {"content": "a"}, "finish_reason": None},
        {"index": 1, "delta": {"content": "b"}, "finish_reason": "length"},
        {"delta": {"content": "c"}},
        "junk",
    ]})  # fmt: skip
    assert run([message, sse("[DONE]")]) == expect(
        OutputChunk(kind=OutputKind.TEXT, text="a", choice=0),
        OutputChunk(kind=OutputKind.TEXT, text="b", choice=1),
        OutputChunk(kind=OutputKind.TEXT, text="c", choice=0),
        FinishReason(reason="length", choice=1),
        StreamComplete(),
    )


def test_usage_on_any_chunk_replaces_and_counts_details() -> None:
    found = run([
        sse({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}),
        sse({"choices": [], "usage": {
            "prompt_tokens": 3, "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 2},
            "completion_tokens_details": {"reasoning_tokens": 4},
        }}),
        sse({"choices": [], "usage": {}}),
        sse({"choices": [], "usage": None}),
        sse("[DONE]"),
    ])  # fmt: skip
    assert found == expect(
        Usage(input_tokens=3, output_tokens=1),
        Usage(input_tokens=3, output_tokens=5, cache_read_tokens=2, reasoning_tokens=4),
        StreamComplete(),
    )


def test_llamacpp_timings_without_per_token_field() -> None:
    timings = {"prompt_ms": 20.0, "predicted_ms": 40.0, "predicted_n": 4}
    found = run([sse({"choices": [], "timings": timings})])
    assert found.server_timing == ServerTiming(
        time_to_first_token_s=0.02, time_per_output_token_s=0.01, request_duration_s=0.06
    )


def test_llamacpp_timings_ignore_negative_and_missing_values() -> None:
    found = run([
        sse({"choices": [], "timings": {"prompt_ms": -1.0, "predicted_ms": 10.0, "predicted_n": 0}}),
        sse({"choices": [], "timings": {"cache_n": 3}}),
    ])  # fmt: skip
    # predicted_n is the server's own output count: it stands in for the missing usage object
    assert found == expect(ServerCounts(source="timings", output_tokens=0), PrematureEnd())


def test_malformed_and_oversize_events_are_skipped() -> None:
    found = run([
        sse("{not json"),
        sse("[1, 2]"),
        Oversize(size=10_000_000, limit=4_194_304),
        chunk({"content": "ok"}),
        sse("[DONE]"),
    ])  # fmt: skip
    assert found == expect(
        ResponseInfo(model="m", id="c1"),
        OutputChunk(kind=OutputKind.TEXT, text="ok"),
        StreamComplete(),
    )


def test_stream_without_done_ends_prematurely() -> None:
    assert run([chunk({"content": "partial"})]).premature


def test_nothing_is_observed_after_done() -> None:
    assert run([sse("[DONE]"), chunk({"content": "late"}), sse("[DONE]")]) == expect(StreamComplete())


def test_response_model_and_id_take_the_last_non_empty_value() -> None:
    found = run([
        sse({"id": "a", "model": "m1", "choices": []}),
        sse({"id": "a", "model": "m1", "choices": []}),
        sse({"model": "m2", "choices": []}),
        sse({"id": "", "model": 5, "choices": []}),
    ])  # fmt: skip
    assert (found.response_model, found.response_id) == ("m2", "a")


def test_error_shapes_in_a_stream() -> None:
    assert run([sse({"error": "model overloaded"})]) == expect(UpstreamError(message="model overloaded"))
    assert run([sse({"object": "error", "message": "bad", "type": "BadRequestError"})]) == expect(
        UpstreamError(type="BadRequestError", message="bad")
    )
    assert run([sse({"error": {"code": 503, "message": "busy"}})]) == expect(
        UpstreamError(type="503", message="busy")
    )
    assert run([sse({"message": "odd"}, event="error")]) == expect(UpstreamError(message="odd"))
    assert run([sse({"error": {"code": True}})]) == expect(UpstreamError())


def test_whole_body_with_content_parts_and_error_body() -> None:
    body = {"choices": [{"message": {"content": [{"type": "text", "text": "hi"}]}}]}
    assert run([JSONDocument(data=json.dumps(body).encode())], streaming=False) == expect(
        OutputChunk(kind=OutputKind.TEXT, text="hi"),
        StreamComplete(),
    )
    error = JSONDocument(data=b'{"error": {"type": "server_error", "message": "boom"}}')
    assert run([error], streaming=False) == expect(
        UpstreamError(type="server_error", message="boom"), StreamComplete()
    )


def test_whole_body_cut_short_or_not_an_object_ends_prematurely() -> None:
    assert run([JSONDocument(data=b'{"choices": [')], streaming=False) == expect(PrematureEnd())
    assert run([JSONDocument(data=b"<html>502</html>")], streaming=False) == expect(PrematureEnd())
    assert run([], streaming=False) == expect(PrematureEnd())


def test_whole_body_too_large_to_read_is_not_premature() -> None:
    assert run([Oversize(size=9, limit=8)], streaming=False) == expect()
    assert run([Oversize(size=9, limit=8)], streaming=True) == expect(PrematureEnd())


@settings(deadline=None)
@given(st.lists(wire_events, max_size=12), st.booleans())
def test_observer_never_raises(events: list[WireEvent], streaming: bool) -> None:
    found = run(events, streaming=streaming)
    assert not (found.complete and found.premature)


@settings(deadline=None)
@given(request_bodies)
def test_parse_request_never_raises(body: bytes) -> None:
    info = DIALECT.parse_request("/v1/chat/completions", body, "openai")
    assert info is None or info.operation is Operation.CHAT


def test_choice_without_delta_still_finishes() -> None:
    """No [DONE], but the one choice finished before the body ended: the stream is complete."""
    found = run([sse({"choices": [{"index": 0, "finish_reason": "content_filter"}]})])
    assert found == expect(FinishReason(reason="content_filter"), StreamComplete())


def test_wrongly_typed_parameters_are_left_out() -> None:
    info = parse({"temperature": True, "top_k": 2.5, "seed": "7", "stream": "yes", "model": 3})
    assert (info.temperature, info.top_k, info.seed, info.stream, info.model) == (
        None,
        None,
        None,
        False,
        None,
    )


# ---------------------------------------------------------------------- the per-chunk fast path

_DELTA_VALUES = st.one_of(
    st.sampled_from(["", "a", "b c"]),
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.text(max_size=3),
    st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=3)}), max_size=2),
    st.lists(
        st.fixed_dictionaries({"function": st.fixed_dictionaries({"arguments": st.text(max_size=3)})}),
        max_size=2,
    ),
    st.fixed_dictionaries({"arguments": st.text(max_size=3)}),
)
_DELTA_KEYS = ("content", "refusal", "tool_calls", "function_call", "reasoning_content", "reasoning", "role")


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(st.none(), st.text(max_size=2), st.dictionaries(st.sampled_from(_DELTA_KEYS), _DELTA_VALUES))
)
def test_the_chunk_fast_path_reads_a_delta_as_the_general_reading_does(delta: Any) -> None:
    """``ChatObserver._chunk_output`` skips the general reading for text-only deltas; for any
    delta it gives the first output ``message_outputs(delta, whole=False)`` gives."""
    observer = DIALECT.observer(REQUEST, streaming=True)
    general = message_outputs(delta, whole=False)
    assert observer._chunk_output({"delta": delta}, 0) == (general[0] if general else None)


# ---------------------------------------------------------------------- text chunks by template

#: Half of them "a" or "b", so that texts repeat and two chunks can share all but one text.
_TEXTS = st.sampled_from(["a", "b"]) | st.sampled_from(
    ["tok ", "", 'say "hi"', "back\\slash", "line\n", "é€😀", "\x01", "content", '"content":"']
)


_ODD = ["", "finish", "usage", "refusal", "role", "tool", "id", "n2", "other_content"]
_SPELLING = ["", "spaced", "escaped_key", "escaped_text"]


@st.composite
def _chat_chunks(draw: st.DrawFn) -> list[str]:
    """Chunks as servers write them (compact JSON): runs of chunks of one shape that differ only
    in their text, the shape being plain or odd (a finish reason, usage, a refusal, a role, a
    tool call, another id, a second choice, a second ``content`` member elsewhere, spacing, an
    escaped key or text), with chunks of other shapes in between."""
    main = (draw(st.sampled_from(_ODD)), draw(st.sampled_from(_SPELLING)))
    chunks = []
    for _ in range(draw(st.integers(1, 12))):
        odd, spelling = main
        if draw(st.integers(0, 3)) == 0:
            odd, spelling = draw(st.sampled_from(_ODD)), draw(st.sampled_from(_SPELLING))
        delta: dict[str, Any] = {"content": draw(_TEXTS)}
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
        obj: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        if odd == "finish":
            choice["finish_reason"] = "stop"
        elif odd == "usage":
            obj["usage"] = {"prompt_tokens": 2, "completion_tokens": draw(st.integers(0, 2))}
        elif odd == "refusal":
            delta["refusal"] = draw(_TEXTS)
        elif odd == "role":
            delta["role"] = "assistant"
        elif odd == "tool":
            delta["tool_calls"] = [{"index": 0, "function": {"arguments": "{}"}}]
        elif odd == "id":
            obj["id"] = "c2"
        elif odd == "n2":
            obj["choices"] = [choice, {"index": 1, "delta": {"content": draw(_TEXTS)}}]
        elif odd == "other_content":
            obj["x"] = {"content": draw(_TEXTS)}
        obj.setdefault("choices", [choice])
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=draw(st.booleans()))
        if spelling == "spaced":
            text = json.dumps(obj)
        elif spelling == "escaped_key":
            text = text.replace('"content"', '"\\u0063ontent"', 1)
        elif spelling == "escaped_text":
            text = text.replace('"content":"', '"content":"\\u0061', 1)
        chunks.append(text)
    return chunks


class _NoTemplate(ChatObserver):
    __slots__ = ()
    text_key = None


def _state(observer: Any, chunks: list[str]) -> dict[str, Any]:
    for data in chunks:
        observer.observe(SSEMessage(event="message", data=data))
    acc = observer.acc
    return {
        "chunks": acc.output_chunks,
        "choices": acc.choices,
        "finish": acc.finish_reasons,
        "usage": acc.usage_report(),
        "ids": (acc.response_model, acc.response_id),
        "captured": acc.captured_output(),
    }


def _chunk_of(delta_key: str, *texts: str, extra: str = "") -> str:
    choices = ",".join(f'{{"index":{i},"delta":{{"{delta_key}":"{text}"}}}}' for i, text in enumerate(texts))
    return f'{{"id":"c1","choices":[{choices}]{extra}}}'


@settings(max_examples=500, deadline=None)
@given(_chat_chunks(), st.booleans())
# Two choices whose texts are alike: the template must not take the first for the only one.
@example([_chunk_of("content", "a", "a"), _chunk_of("content", "b", "a")], True)
# The delta's key escaped and another "content" member: not the text, however alike.
@example(
    [
        _chunk_of("\\u0063ontent", "a", extra=',"x":{"content":"a"}'),
        _chunk_of("\\u0063ontent", "a", extra=',"x":{"content":"b"}'),
    ],
    True,
)
# An escaped text is not its raw bytes.
@example([_chunk_of("content", "\\u0061"), _chunk_of("content", "b")], True)
def test_text_chunks_read_by_template_say_what_parsing_them_says(chunks: list[str], capture: bool) -> None:
    """A chunk that is the last parsed one's template with other plain text is not parsed; the
    call's state is the same as when every chunk is parsed, captured text included."""

    def observer(cls: type[ChatObserver]) -> ChatObserver:
        return cls(
            REQUEST, streaming=True, accumulator=CallAccumulator(capture_bytes=4096 if capture else None)
        )

    assert _state(observer(ChatObserver), chunks) == _state(observer(_NoTemplate), chunks)
