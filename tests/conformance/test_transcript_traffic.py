"""Recorded responses with tool calls and usage broken down by modality, served by a real upstream
on loopback through the real proxy, in each naming mode: every metric, span and event passes the
conformance table, the captured output validates against the message schema and holds the tool
calls the response made, and the breakdown by modality is on the span (where the mode's
conventions have it) and splits the usage counters, with the values the response gave."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web

from tests.conformance.collect import prometheus_problems, sdk_metric_points, sdk_spans
from tests.conformance.table import MODES, SpanRecord, check_event, check_metric, check_span, message_schema
from tests.conftest import RunningSidecar, StartSidecar
from tests.genai.transcripts import ROOT, Transcript, load

CASES = (
    "openai_chat/non_stream_audio_usage",
    "openai_chat/stream_parallel_tool_calls",
    "openai_responses/stream_parallel_function_calls",
    "anthropic/stream_parallel_tool_use",
    "gemini/generate_content_function_calls",
    "ollama/chat_nonstream_tool_calls",
    "cohere/chat_tool_calls",
)
TRANSCRIPTS = {case: load(ROOT / f"{case}.expected.json") for case in CASES}
CONTENT_TYPES = {".sse": "text/event-stream", ".json": "application/json", ".ndjson": "application/x-ndjson"}
#: Input / output / cache-read usage keys of an expected file, and the attribute kind they give.
BREAKDOWNS = (("input_modalities", "input_tokens"), ("output_modalities", "output_tokens"))


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    """A model server answering each request with the transcript its ``x-transcript`` names."""

    async def answer(request: web.Request) -> web.Response:
        transcript = TRANSCRIPTS[request.headers["x-transcript"]]
        content_type = CONTENT_TYPES[transcript.body_path.suffix]
        return web.Response(body=transcript.body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _sidecar(mode: str, upstream: str, start_sidecar: StartSidecar) -> RunningSidecar:
    tables: dict[str, dict[str, Any]] = {
        "telemetry": {"semconv": mode},
        "telemetry.capture": {"mode": "SPAN_AND_EVENT"},
    }
    sidecar = await start_sidecar(upstream, **tables)
    async with aiohttp.ClientSession() as session:
        for case, transcript in TRANSCRIPTS.items():
            body = transcript.request or {}
            headers = {"x-transcript": case}
            async with session.post(sidecar.url + transcript.path, json=body, headers=headers) as response:
                assert response.status == 200
                assert await response.read() == transcript.body
    return sidecar


def _span_of(spans: list[SpanRecord], transcript: Transcript) -> SpanRecord:
    (span,) = [
        s for s in spans if s.attributes.get("gen_ai.response.id") == transcript.expected.get("response_id")
    ]
    return span


@pytest.mark.parametrize("mode", MODES)
async def test_recorded_tool_calls_and_modalities_conform(
    mode: str, upstream: str, start_sidecar: StartSidecar
) -> None:
    sidecar = await _sidecar(mode, upstream, start_sidecar)
    sink = sidecar.sink
    points = sdk_metric_points(sink.metrics.get_metrics_data())
    spans = sdk_spans(sink.spans.get_finished_spans())
    assert len(spans) == len(CASES)
    problems = [p for point in points for p in check_metric(mode, point)]
    problems += [p for span in spans for p in check_span(mode, span)]
    for log in sink.logs.get_finished_logs():
        record = log.log_record
        if not (record.event_name or "").startswith("gen_ai."):
            continue  # the own-namespace call record
        attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in (record.attributes or {}).items()}
        severity = record.severity_number.value if record.severity_number is not None else None
        problems += check_event(mode, str(record.event_name), attrs, severity)
    body, _ = sink.telemetry.prometheus_exposition()
    problems += prometheus_problems(mode, body.decode())
    assert not problems, "\n".join(problems)

    schema = message_schema("gen_ai.output.messages", "v1.41" if mode == "v1.41" else "latest")
    latest = mode != "v1.41"
    for case, transcript in TRANSCRIPTS.items():
        span = _span_of(spans, transcript)
        expected = transcript.expected
        calls = expected.get("tool_calls", {})
        if calls:
            messages = json.loads(span.attributes["gen_ai.output.messages"])
            jsonschema.validate(messages, schema)
            got = [
                [{k: part[k] for k in ("id", "name", "arguments") if k in part} for part in message["parts"]]
                for message in messages
            ]
            assert [[p for p in parts if "name" in p] for parts in got] == list(calls.values()), case
        modality_attributes = {k: v for k, v in span.attributes.items() if _is_modality_attribute(k)}
        want = _modality_attributes(expected["usage"]) if latest else {}
        assert modality_attributes == want, case

    if latest:  # the usage counters: split by the breakdown, the rest under "unknown"
        for case in ("openai_chat/non_stream_audio_usage", "gemini/generate_content_function_calls"):
            usage = TRANSCRIPTS[case].expected["usage"]
            model = _request_model(TRANSCRIPTS[case])
            for modalities_key, total_key in BREAKDOWNS:
                name = f"gen_ai.client.inference.usage.{total_key}"
                split = {
                    p.attributes["gen_ai.token.modality"]: p.value
                    for p in _points(sidecar, name)
                    if p.attributes.get("gen_ai.request.model") == model
                }
                want_split = dict(usage[modalities_key])
                rest = usage[total_key] - sum(want_split.values())
                if rest:
                    want_split["unknown"] = rest
                assert split == want_split, (case, name)


def _is_modality_attribute(key: str) -> bool:
    parts = key.split(".")
    return key.startswith("gen_ai.usage.") and parts[2] in ("text", "image", "audio")


def _modality_attributes(usage: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for modalities_key, kind in (*BREAKDOWNS, ("cache_read_modalities", "cache_read.input_tokens")):
        for modality, count in usage.get(modalities_key, {}).items():
            out[f"gen_ai.usage.{modality}.{kind}"] = count
    return out


def _request_model(transcript: Transcript) -> str:
    model = (transcript.request or {}).get("model")
    if isinstance(model, str):
        return model
    return Path(transcript.path).name.split(":")[0]  # Gemini: the model is in the path


def _points(sidecar: RunningSidecar, name: str) -> list[Any]:
    return sidecar.points(name)
