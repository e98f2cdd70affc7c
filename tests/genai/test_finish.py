"""The finish-reason counter's labels: one normalised set across providers, as the README says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sidecar.genai.finish import NORMALISED, normalised

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(
    ("provider_value", "label"),
    [
        ("stop", "stop"),  # OpenAI, vLLM, llama.cpp's /v1, Ollama
        ("end_turn", "stop"),  # Anthropic
        ("stop_sequence", "stop"),
        ("eos_token", "stop"),  # TGI
        ("COMPLETE", "stop"),  # Cohere
        ("STOP", "stop"),  # Gemini
        ("eos", "stop"),  # llama.cpp stop_type
        ("stopped_word", "stop"),  # older llama.cpp
        ("length", "length"),
        ("max_tokens", "length"),  # Anthropic: the case a `length` dashboard used to miss
        ("MAX_TOKENS", "length"),  # Gemini, Cohere
        ("limit", "length"),  # llama.cpp stop_type
        ("none", "length"),  # llama.cpp: its own /v1 says length
        ("stopped_limit", "length"),  # older llama.cpp
        ("tool_calls", "tool_call"),
        ("function_call", "tool_call"),
        ("tool_use", "tool_call"),
        ("TOOL_CALL", "tool_call"),  # Cohere
        ("content_filter", "content_filter"),
        ("refusal", "content_filter"),
        ("SAFETY", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("error", "error"),
        ("ERROR", "error"),  # Cohere
        ("TIMEOUT", "error"),  # Cohere
        ("UNEXPECTED_TOOL_CALL", "error"),  # Gemini
        ("pause_turn", "other"),
        ("OTHER", "other"),
        ("LANGUAGE", "other"),
        ("something new", "other"),
        ("99", "other"),  # a Gemini enum number no table names
    ],
)
def test_provider_values_map_to_one_label(provider_value: str, label: str) -> None:
    assert normalised(provider_value) == label


def test_there_are_six_labels() -> None:
    assert {*NORMALISED.values(), normalised("?")} == {
        "stop", "length", "tool_call", "content_filter", "error", "other",
    }  # fmt: skip


def _readme_table() -> dict[str, list[str]]:
    """The README's finish-reason table: label -> the provider values its row names."""
    text = README.read_text(encoding="utf-8")
    start = text.index("| label | provider values |")
    rows: dict[str, list[str]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        label, values = (cell.strip() for cell in line.strip("|").split("|"))
        rows[label.strip("`")] = re.findall(r"`([^`]+)`", values)
    return rows


def test_the_readme_table_is_what_the_code_does() -> None:
    rows = _readme_table()
    assert set(rows) == {"stop", "length", "tool_call", "content_filter", "error", "other"}
    for label, values in rows.items():
        named = [v for v in values if " " not in v]  # "an enum number no table names" is prose
        assert named, label
        for value in named:
            assert normalised(value) == label, (label, value)


def test_every_mapped_value_is_in_the_readme_table() -> None:
    documented = {v.lower() for values in _readme_table().values() for v in values}
    assert set(NORMALISED) <= documented
