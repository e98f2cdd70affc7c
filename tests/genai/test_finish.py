"""The finish-reason counter's labels: one normalised set across providers."""

from __future__ import annotations

import pytest

from sidecar.genai.finish import NORMALISED, normalised


@pytest.mark.parametrize(
    ("provider_value", "label"),
    [
        ("stop", "stop"),  # OpenAI, vLLM, llama.cpp, Ollama
        ("end_turn", "stop"),  # Anthropic
        ("stop_sequence", "stop"),
        ("eos_token", "stop"),  # TGI
        ("COMPLETE", "stop"),  # Cohere
        ("length", "length"),
        ("max_tokens", "length"),  # Anthropic: the case a `length` dashboard used to miss
        ("MAX_TOKENS", "length"),  # Gemini, Cohere
        ("tool_calls", "tool_call"),
        ("function_call", "tool_call"),
        ("tool_use", "tool_call"),
        ("content_filter", "content_filter"),
        ("refusal", "content_filter"),
        ("SAFETY", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("error", "error"),
        ("pause_turn", "other"),
        ("OTHER", "other"),
        ("something new", "other"),
    ],
)
def test_provider_values_map_to_one_label(provider_value: str, label: str) -> None:
    assert normalised(provider_value) == label


def test_there_are_six_labels() -> None:
    assert {*NORMALISED.values(), normalised("?")} == {
        "stop", "length", "tool_call", "content_filter", "error", "other",
    }  # fmt: skip
