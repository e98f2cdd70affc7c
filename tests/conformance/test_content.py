"""Captured content in the spec's shape: for every dialect, what capture exports for a rich
request (system prompts, images, audio, tool-call turns, tool results, tool definitions) and a
rich response validates against the message schemas' facts (tests/conformance/table.py builds a
strict JSON schema from them), and keeps the facts the request said."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sidecar.config import CaptureConfig
from sidecar.genai import (
    anthropic,
    cohere,
    gemini,
    llamacpp,
    ollama,
    openai_chat,
    openai_completions,
    openai_responses,
    tgi,
)
from sidecar.genai.content import MAX_BLOB_CHARS
from sidecar.genai.observations import CapturedChoice, CapturedToolCall, RequestInfo
from sidecar.telemetry.capture import ContentCapture
from tests.conformance.table import message_schema
from tests.genai.transcripts import case_id, discover, load, run_transcript

PNG = "iVBORw0KGgo="
TOOL = {"type": "object", "properties": {"city": {"type": "string"}}}

OPENAI_CHAT = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "No emoji."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/map.png"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ],
    "tools": [
        {"type": "function", "function": {"name": "weather", "description": "Now.", "parameters": TOOL}}
    ],
}
ANTHROPIC = {
    "model": "claude",
    "max_tokens": 10,
    "system": [{"type": "text", "text": "Be brief."}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Use the tool."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
    ],
    "tools": [
        {"name": "weather", "description": "Now.", "input_schema": TOOL},
        {"type": "web_search_20250305", "name": "web_search"},
    ],
}
RESPONSES = {
    "model": "m",
    "instructions": "Be brief.",
    "input": [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Weather?"},
                {"type": "input_image", "image_url": "https://x.test/a.png"},
            ],
        },
        {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ],
    "tools": [{"type": "function", "name": "weather", "parameters": TOOL}, {"type": "web_search"}],
}
OLLAMA_CHAT = {
    "model": "llama3",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is this?", "images": [PNG]},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "sunny", "tool_name": "weather"},
    ],
    "tools": [{"type": "function", "function": {"name": "weather", "parameters": TOOL}}],
}
GEMINI = {
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "contents": [
        {
            "role": "user",
            "parts": [{"text": "Weather?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}],
        },
        {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"sky": "sunny"}}}]},
    ],
    "tools": [{"functionDeclarations": [{"name": "weather", "parameters": TOOL}]}],
}
OLLAMA_GENERATE = {"model": "m", "system": "Be brief.", "prompt": "Hi", "images": [PNG]}
COHERE = {
    "model": "command-r",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "sunny"}]},
    ],
}

#: dialect module, path, body, the system instructions expected (separate fields only).
CASES: dict[str, tuple[Any, str, dict[str, Any], list[str]]] = {
    "openai chat": (openai_chat, "/v1/chat/completions", OPENAI_CHAT, []),
    "openai completions": (openai_completions, "/v1/completions", {"model": "m", "prompt": ["a", "b"]}, []),
    "openai responses": (openai_responses, "/v1/responses", RESPONSES, ["Be brief."]),
    "anthropic": (anthropic, "/v1/messages", ANTHROPIC, ["Be brief."]),
    "ollama chat": (ollama, "/api/chat", OLLAMA_CHAT, []),
    "ollama generate": (ollama, "/api/generate", OLLAMA_GENERATE, ["Be brief."]),
    "gemini": (gemini, "/v1beta/models/gemini:generateContent", GEMINI, ["Be brief."]),
    "cohere": (cohere, "/v2/chat", COHERE, []),
    "llama.cpp": (llamacpp, "/completion", {"prompt": "Hi"}, []),
    "tgi": (tgi, "/generate", {"inputs": "Hi"}, []),
}  # fmt: skip

CAPTURE = ContentCapture(CaptureConfig(mode="SPAN_AND_EVENT"))


def _request(case: str) -> tuple[RequestInfo, dict[str, Any], list[str]]:
    module, path, body, system = CASES[case]
    info = module.DIALECT.parse_request(path, json.dumps(body).encode(), "p")
    assert info is not None
    return info, body, system


@pytest.mark.parametrize("case", list(CASES))
def test_captured_input_validates_against_the_schemas(case: str) -> None:
    info, _, system = _request(case)
    content = CAPTURE.input_content(info)
    assert "gen_ai.input.messages" in content
    for attribute, value in content.items():
        jsonschema.validate(value, message_schema(attribute))
    instructions = content.get("gen_ai.system_instructions", [])
    assert [p["content"] for p in instructions] == system


@pytest.mark.parametrize("case", ["openai chat", "ollama chat", "cohere"])
def test_system_messages_stay_in_the_history_in_order(case: str) -> None:
    info, body, _ = _request(case)
    messages = CAPTURE.input_content(info)["gen_ai.input.messages"]
    assert [m["role"] for m in messages] == [m["role"] for m in body["messages"]]
    assert "gen_ai.system_instructions" not in CAPTURE.input_content(info)


@pytest.mark.parametrize(
    "case", ["openai chat", "openai responses", "anthropic", "gemini", "ollama chat", "cohere"]
)
def test_tool_turns_are_kept_with_ids_names_and_object_arguments(case: str) -> None:
    info, _, _ = _request(case)
    parts = [p for m in CAPTURE.input_content(info)["gen_ai.input.messages"] for p in m["parts"]]
    calls = [p for p in parts if p["type"] == "tool_call"]
    results = [p for p in parts if p["type"] == "tool_call_response"]
    assert len(calls) == 1
    assert len(results) == 1
    assert calls[0]["name"] == "weather"
    assert isinstance(calls[0]["arguments"], dict)
    if "id" in calls[0]:
        assert results[0]["id"] == calls[0]["id"]


def test_openai_media_parts() -> None:
    info, _, _ = _request("openai chat")
    user = CAPTURE.input_content(info)["gen_ai.input.messages"][2]["parts"]
    assert user[1:] == [
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": PNG},
        {"type": "uri", "modality": "image", "uri": "https://x.test/map.png"},
        {"type": "blob", "modality": "audio", "mime_type": "audio/wav", "content": "UklGRg=="},
    ]


def test_large_inline_data_is_not_captured() -> None:
    big = "A" * (MAX_BLOB_CHARS + 1)
    body = {"messages": [{"role": "user", "content": "x", "images": [big]}]}
    info = ollama.DIALECT.parse_request("/api/chat", json.dumps(body).encode(), "ollama")
    assert info is not None
    (message,) = CAPTURE.input_content(info)["gen_ai.input.messages"]
    assert message["parts"][1] == {"type": "blob", "modality": "image", "content": "", "truncated": True}


@pytest.mark.parametrize("case", ["openai chat", "openai responses", "anthropic", "gemini", "ollama chat"])
def test_tool_definitions(case: str) -> None:
    info, _, _ = _request(case)
    tools = CAPTURE.input_content(info)["gen_ai.tool.definitions"]
    jsonschema.validate(tools, message_schema("gen_ai.tool.definitions"))
    assert tools[0]["name"] == "weather"
    assert tools[0]["parameters"] == TOOL


def test_captured_output_validates_and_parses_tool_arguments() -> None:
    call = CapturedToolCall(id="call_1", name="weather", arguments='{"city": "Paris"}')
    choices = {0: CapturedChoice(reasoning="hmm", text="Hi", tool_calls=(call,))}
    (message,) = CAPTURE.output_content(choices, {0: "tool_call"})["gen_ai.output.messages"]
    jsonschema.validate([message], message_schema("gen_ai.output.messages"))
    assert [part["type"] for part in message["parts"]] == ["reasoning", "text", "tool_call"]
    assert message["parts"][2] == {
        "type": "tool_call",
        "id": "call_1",
        "name": "weather",
        "arguments": {"city": "Paris"},
    }


#: Every transcript whose response carries tool calls, streamed and not, of every dialect.
TOOL_TRANSCRIPTS = [path for path in discover() if "tool_calls" in load(path).expected]


def _captured_messages(path: Path, capture: ContentCapture) -> list[Any]:
    acc = run_transcript(path, capture_bytes=capture.output_chars)
    content = capture.output_content(acc.captured_output(), acc.finish_reasons)
    messages: list[Any] = content["gen_ai.output.messages"]
    return messages


def test_every_dialect_with_tool_calls_has_a_tool_call_transcript() -> None:
    dialects = {load(path).dialect_name for path in TOOL_TRANSCRIPTS}
    assert dialects == {"openai_chat", "openai_responses", "anthropic", "gemini", "ollama", "cohere"}
    assert {load(path).streaming for path in TOOL_TRANSCRIPTS} == {True, False}


@pytest.mark.parametrize("mode", ["v1.41", "latest"])
@pytest.mark.parametrize("path", TOOL_TRANSCRIPTS, ids=case_id)
def test_captured_tool_calls_validate_and_say_what_the_response_said(path: Path, mode: str) -> None:
    """Each tool call of the response is one ``tool_call`` part, in order, with the id, the name
    and the arguments (the object the JSON text encodes) the transcript gives."""
    messages = _captured_messages(path, CAPTURE)
    jsonschema.validate(messages, message_schema("gen_ai.output.messages", mode))
    want = load(path).expected["tool_calls"]
    assert [str(i) for i in range(len(messages))] == list(want)
    for message, calls in zip(messages, want.values(), strict=True):
        parts = [part for part in message["parts"] if part["type"] == "tool_call"]
        got = [{k: part[k] for k in ("id", "name", "arguments") if k in part} for part in parts]
        assert got == calls


def test_arguments_cut_by_the_capture_bound_stay_text_and_say_so() -> None:
    """A bound smaller than the arguments keeps their start as a string (not JSON any more),
    marked truncated, and the value still validates."""
    (path,) = [p for p in TOOL_TRANSCRIPTS if case_id(p) == "openai_chat/stream_parallel_tool_calls"]
    acc = run_transcript(path, capture_bytes=10)
    choices = acc.captured_output()
    (message,) = CAPTURE.output_content(choices, acc.finish_reasons)["gen_ai.output.messages"]
    jsonschema.validate([message], message_schema("gen_ai.output.messages"))
    first, second = message["parts"]
    assert first == {
        "type": "tool_call",
        "id": "call_Xk2Lq8mT0dV5",
        "name": "get_weather",
        "arguments": '{"location',
        "truncated": True,
    }
    assert second == {"type": "tool_call", "id": "call_9fQ3wRb7nZ1c", "name": "get_time", "truncated": True}


def test_no_output_messages_without_output() -> None:
    """A call that got no response (429, 502) has finish reasons but no output message."""
    assert CAPTURE.output_content({}, {0: "error"}) == {}


@pytest.mark.parametrize(
    "bad",
    [
        [{"role": "assistant", "parts": [{"type": "tool_call", "arguments": "{}"}]}],  # no name
        [{"role": "user", "parts": [{"type": "text"}]}],  # no content
        [{"role": "tool", "parts": [{"type": "tool_call_response", "id": "x"}]}],  # no response
        [{"role": "user", "parts": [{"type": "image", "content": "x"}]}],  # not a part type
        [{"parts": []}],  # no role
    ],
)
def test_the_schema_rejects_malformed_content(bad: list[Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, message_schema("gen_ai.input.messages"))
