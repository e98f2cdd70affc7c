"""Telemetry measured through the real proxy against the simulator: known delays, known token counts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import anthropic
import ollama
import openai
import pytest
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from sidecar.simulator import RunningSimulator, SimulatorSettings, start_simulator
from tests.conftest import RunningSidecar, StartSidecar

TTFC_S = 0.15
TOKENS = 9
PROMPT = "one two three four five"  # five words: the simulator's input token count
SETTINGS = SimulatorSettings(ttfc_ms=TTFC_S * 1000, itl_ms=5, tokens=TOKENS)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(settings=SETTINGS)
    yield running
    await running.close()


@dataclass
class Expect:
    operation: str
    provider: str
    input_tokens: int


async def _first_content(t0: float, items: AsyncIterator[Any], has_content: Callable[[Any], bool]) -> float:
    """Read the whole stream; return the client-side time from ``t0`` to its first content item."""
    first = None
    async for item in items:
        if first is None and has_content(item):
            first = time.perf_counter() - t0
    assert first is not None, "the stream carried no content"
    return first


async def _ollama_chat(base: str) -> float:
    async with ollama.AsyncClient(host=base) as client:
        t = time.perf_counter()
        messages = [{"role": "user", "content": PROMPT}]
        parts = await client.chat(model="m", messages=messages, stream=True)
        return await _first_content(t, parts, lambda p: bool(p.message.content))


async def _ollama_generate(base: str) -> float:
    async with ollama.AsyncClient(host=base) as client:
        t = time.perf_counter()
        parts = await client.generate(model="m", prompt=PROMPT, stream=True)
        return await _first_content(t, parts, lambda p: bool(p.response))


def _openai(base: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0)


async def _openai_chat(base: str) -> float:
    async with _openai(base) as client:
        t = time.perf_counter()
        messages: Any = [{"role": "user", "content": PROMPT}]
        usage: Any = {"include_usage": True}
        chunks = await client.chat.completions.create(
            model="m", messages=messages, stream=True, stream_options=usage
        )
        return await _first_content(t, chunks, lambda c: bool(c.choices and c.choices[0].delta.content))


async def _openai_completions(base: str) -> float:
    async with _openai(base) as client:
        t = time.perf_counter()
        usage: Any = {"include_usage": True}
        chunks = await client.completions.create(model="m", prompt=PROMPT, stream=True, stream_options=usage)
        return await _first_content(t, chunks, lambda c: bool(c.choices and c.choices[0].text))


async def _openai_responses(base: str) -> float:
    async with _openai(base) as client:
        t = time.perf_counter()
        events = await client.responses.create(model="m", input=PROMPT, stream=True)
        return await _first_content(t, events, lambda e: e.type == "response.output_text.delta")


async def _anthropic(base: str) -> float:
    async with anthropic.AsyncAnthropic(base_url=base, api_key="k", max_retries=0) as client:
        t = time.perf_counter()
        messages: Any = [{"role": "user", "content": PROMPT}]
        async with client.messages.stream(model="m", max_tokens=100, messages=messages) as stream:
            return await _first_content(t, stream.text_stream, bool)


CASES: dict[str, tuple[Callable[[str], Awaitable[float]], Expect]] = {
    "ollama chat": (_ollama_chat, Expect("chat", "ollama", 5)),
    "ollama generate": (_ollama_generate, Expect("text_completion", "ollama", 5)),
    "openai chat": (_openai_chat, Expect("chat", "openai", 5)),
    "openai completions": (_openai_completions, Expect("text_completion", "openai", 5)),
    "openai responses": (_openai_responses, Expect("chat", "openai", 5)),
    "anthropic messages": (_anthropic, Expect("chat", "anthropic", 5)),
}


def _points(sidecar: RunningSidecar, name: str) -> list[Any]:
    return sidecar.points(name)


@pytest.mark.parametrize("case", list(CASES))
async def test_timing_and_tokens_match_the_model_server(
    case: str, sim: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    call, expect = CASES[case]
    sidecar = await start_sidecar(sim.url)
    client_ttfc = await call(sidecar.url)

    (ttfc,) = _points(sidecar, "gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.count == 1
    # From the first *content* chunk: not the role-only chunk / message_start the simulator sends at once.
    assert TTFC_S <= ttfc.sum <= client_ttfc
    assert dict(ttfc.attributes) == {
        "gen_ai.operation.name": expect.operation,
        "gen_ai.provider.name": expect.provider,
        "gen_ai.request.model": "m",
        "gen_ai.response.model": "m",
        "server.address": "127.0.0.1",
        "server.port": sim.port,
    }
    (tpoc,) = _points(sidecar, "gen_ai.client.operation.time_per_output_chunk")
    assert tpoc.count == TOKENS - 1, "one sample per output chunk after the first"
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in _points(sidecar, "gen_ai.client.token.usage")}
    assert tokens == {"input": expect.input_tokens, "output": TOKENS}
    (duration,) = _points(sidecar, "gen_ai.client.operation.duration")
    assert duration.sum >= TTFC_S + (TOKENS - 1) * 0.005
    assert "error.type" not in duration.attributes

    (span,) = sidecar.sink.spans.get_finished_spans()
    assert span.name == f"{expect.operation} m"
    assert span.kind == SpanKind.CLIENT
    assert span.attributes is not None
    assert span.attributes["gen_ai.usage.output_tokens"] == TOKENS
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.time_to_first_chunk"] == pytest.approx(ttfc.sum)


async def test_traceparent_continues_and_reaches_the_upstream(
    sim: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    sidecar = await start_sidecar(sim.url)
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {"traceparent": f"00-{trace_id}-{parent_id}-01", "tracestate": "vendor=x"}
    body = {"model": "m", "messages": [{"role": "user", "content": PROMPT}], "stream": False}
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"{sidecar.url}/api/chat", json=body, headers=headers) as r,
    ):
        assert r.status == 200
        await r.read()
    (span,) = sidecar.sink.spans.get_finished_spans()
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == parent_id
    received = sim.state.last("/api/chat")
    assert received is not None
    upstream_tp = received.header("traceparent")
    assert upstream_tp == f"00-{trace_id}-{format(span.context.span_id, '016x')}-01"
    assert received.header("tracestate") == "vendor=x"
    assert sidecar.sink.metrics.get_metrics_data() is not None
    assert not _points(sidecar, "gen_ai.client.operation.time_to_first_chunk"), "no TTFC for non-streaming"


@pytest.mark.parametrize(
    ("fault", "error_type"), [("429", "429"), ("500", "500"), ("crash", "upstream_disconnected")]
)
async def test_upstream_faults_carry_error_type(
    fault: str, error_type: str, sim: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    sidecar = await start_sidecar(sim.url)
    body = {"model": "m", "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"{sidecar.url}/v1/chat/completions", json=body, headers={"x-sim-fault": fault}) as r,
    ):
        try:
            await r.read()
        except aiohttp.ClientPayloadError:
            assert fault == "crash"
    (duration,) = _points(sidecar, "gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == error_type
    (span,) = sidecar.sink.spans.get_finished_spans()
    assert span.status.is_ok is False
    assert span.attributes is not None
    assert span.attributes["error.type"] == error_type
    if fault == "crash":
        assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


async def test_latest_semconv_through_the_proxy(sim: RunningSimulator, start_sidecar: StartSidecar) -> None:
    sidecar = await start_sidecar(sim.url, telemetry={"semconv": "latest"})
    await _openai_chat(sidecar.url)
    inputs = _points(sidecar, "gen_ai.client.inference.usage.input_tokens")
    assert [(p.value, p.attributes["gen_ai.token.modality"]) for p in inputs] == [(5, "unknown")]
    (out,) = _points(sidecar, "gen_ai.client.inference.usage.output_tokens")
    assert out.value == TOKENS
    assert not _points(sidecar, "gen_ai.client.token.usage")
    assert _points(sidecar, "gen_ai.client.inference.time_to_first_chunk")[0].count == 1


async def test_metrics_endpoint_parses_as_prometheus_text(
    sim: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    sidecar = await start_sidecar(sim.url)
    await _ollama_chat(sidecar.url)
    async with aiohttp.ClientSession() as client, client.get(f"{sidecar.admin_url}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(await r.text())}
    ttfc = families["gen_ai_client_operation_time_to_first_chunk_seconds"]
    assert ttfc.type == "histogram"
    bounds = sorted({float(s.labels["le"]) for s in ttfc.samples if s.name.endswith("_bucket")})
    assert bounds[:3] == [0.01, 0.02, 0.04]
    assert bounds[-2:] == [81.92, float("inf")]
    assert "genai_sidecar_requests_active" in families
