"""Provider inference: which server a response names, bounded to known names, first one kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidecar.genai.accumulator import CallAccumulator
from sidecar.genai.observations import Operation, RequestInfo
from sidecar.genai.openai_chat import DIALECT as CHAT
from sidecar.genai.provider import INFERABLE, OLLAMA, UpstreamProvider, is_llamacpp_timings, revealed
from sidecar.wire.events import SSEMessage


def _chat(*chunks: dict[str, Any]) -> CallAccumulator:
    info = RequestInfo(operation=Operation.CHAT, provider="openai", stream=True)
    observer = CHAT.observer(info, streaming=True)
    for chunk in chunks:
        observer.observe(SSEMessage(event="message", data=json.dumps(chunk)))
    observer.close()
    return observer.acc


def _chunk(**fields: Any) -> dict[str, Any]:
    return {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "x"}}], **fields}


def test_ollama_fingerprint_names_ollama() -> None:
    assert revealed(_chat(_chunk(system_fingerprint="fp_ollama"))) == OLLAMA


@pytest.mark.parametrize("fingerprint", ["fp_44709d6fcb", "b0-unknown", "fp_ollama2", "FP_OLLAMA", ""])
def test_other_fingerprints_name_nothing(fingerprint: str) -> None:
    assert revealed(_chat(_chunk(system_fingerprint=fingerprint))) is None


@pytest.mark.parametrize(
    ("timings", "llama_cpp"),
    [
        ({"prompt_n": 3, "predicted_n": 2, "prompt_ms": 1.0}, True),
        ({"predicted_n": 2}, True),
        ({"queue_ms": 5}, False),  # a timings object of another shape
        ([1, 2], False),
    ],
)
def test_only_llamacpps_timings_name_it(timings: Any, llama_cpp: bool) -> None:
    assert is_llamacpp_timings(timings) is llama_cpp
    assert revealed(_chat(_chunk(timings=timings))) == ("llama_cpp" if llama_cpp else None)


@pytest.mark.parametrize(
    ("server", "name"), [("llama.cpp", "llama_cpp"), ("uvicorn", None), ("ollama", None), (None, None)]
)
def test_llamacpps_server_header_names_it(server: str | None, name: str | None) -> None:
    assert revealed(_chat(_chunk()), server) == name


def test_a_provider_field_in_the_response_is_never_a_name() -> None:
    assert revealed(_chat(_chunk(provider="Together", system_fingerprint="fp_together"))) is None


def test_the_first_revealed_provider_stays() -> None:
    upstream = UpstreamProvider()
    assert upstream.learn(_chat(_chunk())) is None
    assert upstream.learn(_chat(_chunk(system_fingerprint="fp_ollama"))) == "ollama"
    assert upstream.learn(_chat(_chunk(timings={"predicted_n": 1}))) is None
    assert upstream.name == "ollama"


def test_only_known_names_are_learned() -> None:
    call = CallAccumulator()
    call.reveal("something else")
    upstream = UpstreamProvider()
    assert upstream.learn(call) is None
    assert upstream.name is None
    assert {"llama_cpp", "ollama", "tgi"} == INFERABLE
