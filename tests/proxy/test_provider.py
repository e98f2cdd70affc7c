"""One upstream, one provider: the sidecar labels every call with the server its responses name.

Loopback upstreams answer like llama.cpp's ``llama-server`` and like Ollama, replaying recorded
responses from ``tests/data/transcripts``; the official SDKs call them through the sidecar.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import ollama
import openai
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from sidecar import _json
from tests.conftest import RunningSidecar, StartSidecar
from tests.proxy.upstreams import replay, serve_app

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "data" / "transcripts"
SSE = "text/event-stream"
MESSAGES: Any = [{"role": "user", "content": "Name one colour."}]
DURATION = "gen_ai.client.operation.duration"
TTFC = "gen_ai.client.operation.time_to_first_chunk"


def _recorded(case: str) -> bytes:
    return (TRANSCRIPTS / case).read_bytes()


def _usage_asked(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


class Upstream:
    """A model server stand-in: the request bodies it got, per path."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    async def body(self, request: web.Request) -> dict[str, Any]:
        body = _json.loads(await request.read())
        self.bodies.append((request.path, body))
        return body  # type: ignore[no-any-return]


@asynccontextmanager
async def llama_server(upstream: Upstream, *, server_header: bool = True) -> AsyncIterator[str]:
    """Answers as llama-server b11434 did (captures): ``/v1`` streams with ``timings`` on the
    finishing chunk, or on the usage chunk when the request asked for usage; native
    ``/completion`` streams; ``Server: llama.cpp`` on each (``server_header``)."""
    plain = _recorded("openai_chat/llamacpp_stream.sse")
    with_usage = _recorded("openai_chat/llamacpp_stream_usage.sse")
    native = _recorded("llamacpp/llamacpp_stream.sse")
    headers = {"Server": "llama.cpp"} if server_header else {}

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await upstream.body(request)
        return await replay(request, with_usage if _usage_asked(body) else plain, SSE, headers=headers)

    async def completion(request: web.Request) -> web.StreamResponse:
        await upstream.body(request)
        return await replay(request, native, SSE, headers=headers)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/completion", completion)
    async with serve_app(app) as url:
        yield url


@asynccontextmanager
async def ollama_server(upstream: Upstream) -> AsyncIterator[str]:
    """Answers as Ollama does: native ``/api/chat`` NDJSON, and ``/v1`` chunks with
    ``system_fingerprint: "fp_ollama"`` (the usage chunk only when asked)."""
    native = _recorded("ollama/chat_stream_text.ndjson")
    v1 = _recorded("openai_chat/ollama_stream.sse")
    v1_plain = b"".join(e + b"\n\n" for e in v1.split(b"\n\n") if e and b'"choices":[]' not in e)

    async def chat(request: web.Request) -> web.StreamResponse:
        await upstream.body(request)
        return await replay(request, native, "application/x-ndjson")

    async def v1_chat(request: web.Request) -> web.StreamResponse:
        body = await upstream.body(request)
        return await replay(request, v1 if _usage_asked(body) else v1_plain, SSE)

    app = web.Application()
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/v1/chat/completions", v1_chat)
    async with serve_app(app) as url:
        yield url


async def _openai_stream(sidecar: RunningSidecar) -> None:
    async with openai.AsyncOpenAI(base_url=f"{sidecar.url}/v1", api_key="k", max_retries=0) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        contents = [c.choices[0].delta.content async for c in stream if c.choices]
    assert any(contents)


async def _native_completion(sidecar: RunningSidecar) -> None:
    body = {"prompt": "The sky is", "stream": True, "n_predict": 8}
    async with aiohttp.ClientSession() as http, http.post(f"{sidecar.url}/completion", json=body) as r:
        assert r.status == 200
        assert b'"stop":true' in await r.read()


async def _ollama_chat(sidecar: RunningSidecar) -> None:
    async with ollama.AsyncClient(host=sidecar.url) as client:
        parts = await client.chat(model="llama3.2", messages=MESSAGES, stream=True)
        assert [p async for p in parts][-1].done


def _by_provider(sidecar: RunningSidecar, name: str, field: str = "count") -> dict[str, float]:
    values: dict[str, float] = {}
    for point in sidecar.points(name):
        provider = str(point.attributes["gen_ai.provider.name"])
        values[provider] = values.get(provider, 0) + getattr(point, field)
    return values


def _tokens(sidecar: RunningSidecar) -> dict[tuple[str, str], float]:
    sums: dict[tuple[str, str], float] = {}
    for p in sidecar.points("gen_ai.client.token.usage"):
        key = (str(p.attributes["gen_ai.provider.name"]), str(p.attributes["gen_ai.token.type"]))
        sums[key] = sums.get(key, 0) + p.sum
    return sums


def _span_providers(sidecar: RunningSidecar) -> list[Any]:
    spans = sorted(sidecar.sink.spans.get_finished_spans(), key=lambda s: s.start_time or 0)
    return [(s.attributes or {}).get("gen_ai.provider.name") for s in spans]


async def _exposition_counts(sidecar: RunningSidecar) -> dict[str, float]:
    """``gen_ai_client_operation_duration_seconds_count`` per provider, as /metrics says."""
    async with aiohttp.ClientSession() as http, http.get(f"{sidecar.admin_url}/metrics") as r:
        text = await r.text()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gen_ai_client_operation_duration_seconds_count":
                provider = sample.labels["gen_ai_provider_name"]
                counts[provider] = counts.get(provider, 0) + sample.value
    return counts


@pytest.mark.parametrize("server_header", [True, False], ids=["Server header", "timings only"])
async def test_llamacpp_v1_the_call_that_reveals_keeps_its_label_the_next_ones_say_llama_cpp(
    start_sidecar: StartSidecar, caplog: pytest.LogCaptureFixture, server_header: bool
) -> None:
    upstream = Upstream()
    caplog.set_level(logging.INFO, logger="sidecar.proxy.handler")
    async with llama_server(upstream, server_header=server_header) as url:
        sidecar = await start_sidecar(url)
        await _openai_stream(sidecar)  # its last chunk carries llama.cpp's timings
        await _openai_stream(sidecar)
        await _openai_stream(sidecar)
    # The first call started as `openai` and stays so in every metric, TTFC included, and its span.
    assert _by_provider(sidecar, DURATION) == {"openai": 1, "llama_cpp": 2}
    assert _by_provider(sidecar, TTFC) == {"openai": 1, "llama_cpp": 2}
    assert _span_providers(sidecar) == ["openai", "llama_cpp", "llama_cpp"]
    assert await _exposition_counts(sidecar) == {"openai": 1.0, "llama_cpp": 2.0}
    # Tokens as each response said: the first call was asked for usage (the usage chunk, 34 / 7),
    # the later ones are not (llama_cpp: auto injection never asks it), their timings say 34 / 7.
    assert [_usage_asked(body) for _, body in upstream.bodies] == [True, False, False]
    assert _tokens(sidecar) == {
        ("openai", "input"): 34,
        ("openai", "output"): 7,
        ("llama_cpp", "input"): 68,
        ("llama_cpp", "output"): 14,
    }
    said = [r.getMessage() for r in caplog.records if "responses say it is" in r.getMessage()]
    assert len(said) == 1
    assert "llama_cpp" in said[0]


async def test_llamacpp_native_call_names_the_upstream_for_its_v1_calls(start_sidecar: StartSidecar) -> None:
    upstream = Upstream()
    async with llama_server(upstream) as url:
        sidecar = await start_sidecar(url)
        await _native_completion(sidecar)
        await _openai_stream(sidecar)
    assert _by_provider(sidecar, DURATION) == {"llama_cpp": 2}
    assert _span_providers(sidecar) == ["llama_cpp", "llama_cpp"]
    assert await _exposition_counts(sidecar) == {"llama_cpp": 2.0}
    assert not _usage_asked(upstream.bodies[1][1])


async def test_ollama_native_call_names_the_upstream_for_its_v1_calls(start_sidecar: StartSidecar) -> None:
    async with ollama_server(Upstream()) as url:
        sidecar = await start_sidecar(url)
        await _ollama_chat(sidecar)
        await _openai_stream(sidecar)
    assert _by_provider(sidecar, DURATION) == {"ollama": 2}
    assert _by_provider(sidecar, TTFC) == {"ollama": 2}
    assert _span_providers(sidecar) == ["ollama", "ollama"]
    assert await _exposition_counts(sidecar) == {"ollama": 2.0}
    # /api/chat's done line 26 / 282; the /v1 call's usage chunk (asked by the sidecar) 26 / 4.
    assert _tokens(sidecar) == {("ollama", "input"): 52, ("ollama", "output"): 286}


async def test_ollama_v1_fingerprint_names_ollama_from_the_next_call(start_sidecar: StartSidecar) -> None:
    async with ollama_server(Upstream()) as url:
        sidecar = await start_sidecar(url)
        await _openai_stream(sidecar)
        await _openai_stream(sidecar)
    assert _by_provider(sidecar, DURATION) == {"openai": 1, "ollama": 1}
    assert _by_provider(sidecar, TTFC) == {"openai": 1, "ollama": 1}
    assert _span_providers(sidecar) == ["openai", "ollama"]


async def test_the_configured_provider_always_wins(start_sidecar: StartSidecar) -> None:
    async with llama_server(Upstream()) as url:
        sidecar = await start_sidecar(url, genai={"provider": "vllm"})
        await _native_completion(sidecar)
        await _openai_stream(sidecar)
        await _openai_stream(sidecar)
    assert _by_provider(sidecar, DURATION) == {"vllm": 3}
    assert _span_providers(sidecar) == ["vllm", "vllm", "vllm"]
    assert await _exposition_counts(sidecar) == {"vllm": 3.0}


async def test_nothing_a_response_says_becomes_a_label_verbatim(start_sidecar: StartSidecar) -> None:
    """Fields that look like a server's name, but are not one inference knows, change nothing."""
    chunk = {
        "id": "c1",
        "model": "m",
        "provider": "Together",
        "system_fingerprint": "fp_llama_cpp",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
        "timings": {"queue_ms": 5},
    }
    body = b"data: " + _json.dumps(chunk) + b"\n\ndata: [DONE]\n\n"

    async def chat(request: web.Request) -> web.StreamResponse:
        return await replay(request, body, SSE)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    async with serve_app(app) as url:
        sidecar = await start_sidecar(url)
        await _openai_stream(sidecar)
        await _openai_stream(sidecar)
    assert _by_provider(sidecar, DURATION) == {"openai": 2}
    assert _span_providers(sidecar) == ["openai", "openai"]
