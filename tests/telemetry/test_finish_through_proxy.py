"""Finish reasons through the real proxy: the provider's own value on the span, the normalised
label on the counter. Each upstream replays a transcript's recorded bytes."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import StartSidecar
from tests.proxy.upstreams import replay, serve_handler

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "data" / "transcripts"
_TYPES = {".sse": "text/event-stream", ".jsonarray": "application/json"}


@pytest.mark.parametrize(
    ("case", "marker", "on_the_span", "label"),
    [
        # enum-encoding=int: the name the number stands for (Candidate.FinishReason 2)
        ("gemini/stream_enum_int_max_tokens.sse", b'"finishReason": 2', "MAX_TOKENS", "length"),
        ("gemini/stream_safety.sse", b'"finishReason": "SAFETY"', "SAFETY", "content_filter"),
        ("cohere/chat_stream_tool_call.sse", b'"finish_reason":"TOOL_CALL"', "TOOL_CALL", "tool_call"),
        ("tgi/generate_stream.sse", b'"finish_reason":"eos_token"', "eos_token", "stop"),
        # an older server: the one stopped_* boolean that is true
        (
            "llamacpp/completion_stream_stopped_booleans.sse",
            b'"stopped_limit":true',
            "stopped_limit",
            "length",
        ),
        ("llamacpp/completion_stream.sse", b'"stop_type":"eos"', "eos", "stop"),
    ],
)
async def test_span_has_the_providers_value_and_the_counter_its_label(
    start_sidecar: StartSidecar, case: str, marker: bytes, on_the_span: str, label: str
) -> None:
    body_path = TRANSCRIPTS / case
    raw = body_path.read_bytes()
    assert raw.count(marker) == 1, "the transcript says why it finished once"
    meta = json.loads(body_path.with_name(body_path.name.split(".")[0] + ".expected.json").read_text())

    async def recorded(request: web.Request) -> web.StreamResponse:
        return await replay(request, raw, _TYPES[body_path.suffix])

    async with serve_handler(recorded) as url:
        sidecar = await start_sidecar(url)
        async with (
            aiohttp.ClientSession() as client,
            client.post(sidecar.url + meta["path"], json=meta["request"]) as r,
        ):
            assert r.status == 200
            assert await r.read() == raw
    (span,) = sidecar.sink.spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["gen_ai.response.finish_reasons"] == (on_the_span,)
    counts = {
        p.attributes["genai_sidecar.finish_reason"]: p.value
        for p in sidecar.points("genai_sidecar.finish_reasons")
    }
    assert counts == {label: 1}
