"""genai.inject_include_usage: usage is measured by default, and the client gets the bytes it would
get calling the model server directly with its own options."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from sidecar import _json
from sidecar.simulator import RunningSimulator, SimulatorSettings, start_simulator
from tests.conftest import RunningSidecar, StartSidecar
from tests.proxy.upstreams import serve_handler

SETTINGS = SimulatorSettings(ttfc_ms=0, itl_ms=0, tokens=7)
BODY = {"model": "m", "messages": [{"role": "user", "content": "two words"}], "stream": True}
PATHS = ("/v1/chat/completions", "/v1/completions")


@pytest.fixture
async def two_sims() -> AsyncIterator[tuple[RunningSimulator, RunningSimulator]]:
    """Two identical simulators: one called directly, one behind the sidecar (same ids, same text)."""
    a, b = await start_simulator(settings=SETTINGS), await start_simulator(settings=SETTINGS)
    yield a, b
    await a.close()
    await b.close()


def _body(path: str) -> dict[str, Any]:
    if path == "/v1/completions":
        return {"model": "m", "prompt": "two words", "stream": True}
    return BODY


async def _raw(url: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    async with aiohttp.ClientSession() as client, client.post(url + path, data=body, headers=headers) as r:
        assert r.status == 200
        data = await r.read()
    return re.sub(rb'"created":\d+', b'"created":0', data)


def _token_sums(sidecar: RunningSidecar) -> dict[str, float]:
    data = sidecar.sink.metrics.get_metrics_data()
    sums: dict[str, float] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "gen_ai.client.token.usage":
                    for point in metric.data.data_points:
                        kind = str(point.attributes["gen_ai.token.type"])
                        sums[kind] = sums.get(kind, 0.0) + point.sum
    return sums


def _counter(sidecar: RunningSidecar, name: str) -> float:
    data = sidecar.sink.metrics.get_metrics_data()
    return sum(
        point.value
        for resource in (data.resource_metrics if data else ())
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    )


@pytest.mark.parametrize("path", PATHS)
async def test_by_default_usage_is_recorded_and_the_client_gets_the_direct_bytes(
    two_sims: tuple[RunningSimulator, RunningSimulator], start_sidecar: StartSidecar, path: str
) -> None:
    direct_sim, proxied_sim = two_sims
    sidecar = await start_sidecar(proxied_sim.url)
    body = _json.dumps(_body(path))
    direct = await _raw(direct_sim.url, path, body)
    proxied = await _raw(sidecar.url, path, body)
    assert b'"choices":[]' not in direct
    assert proxied == direct
    received = proxied_sim.state.last(path)
    assert received is not None
    assert _json.loads(received.body)["stream_options"] == {"include_usage": True}
    assert received.header("Accept-Encoding") == "identity"
    # the simulator counts whitespace words: "two words" in, SETTINGS.tokens out
    assert _token_sums(sidecar) == {"input": 2.0, "output": float(SETTINGS.tokens)}


async def test_the_openai_sdk_sees_the_same_chunks_and_tokens_are_exact(
    two_sims: tuple[RunningSimulator, RunningSimulator], start_sidecar: StartSidecar
) -> None:
    """A plain SDK streaming call (no stream_options) with nothing configured."""
    direct_sim, proxied_sim = two_sims
    sidecar = await start_sidecar(proxied_sim.url)

    async def chunks(base: str) -> list[dict[str, Any]]:
        async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-x", max_retries=0) as client:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "two words"}], stream=True
            )
            return [{**c.model_dump(), "created": 0} async for c in stream]

    direct = await chunks(direct_sim.url)
    proxied = await chunks(sidecar.url)
    assert proxied == direct
    assert all(c["usage"] is None for c in direct)
    assert _token_sums(sidecar) == {"input": 2.0, "output": float(SETTINGS.tokens)}


async def test_a_client_that_asks_for_usage_itself_gets_its_usage_chunk(
    two_sims: tuple[RunningSimulator, RunningSimulator], start_sidecar: StartSidecar
) -> None:
    direct_sim, proxied_sim = two_sims
    sidecar = await start_sidecar(proxied_sim.url)
    body = _json.dumps({**BODY, "stream_options": {"include_usage": True}})
    direct = await _raw(direct_sim.url, PATHS[0], body)
    assert b'"choices":[]' in direct
    assert await _raw(sidecar.url, PATHS[0], body) == direct
    received = proxied_sim.state.last(PATHS[0])
    assert received is not None
    assert received.body == body


async def test_false_adds_nothing_and_no_usage_is_known(
    simulator: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    sidecar = await start_sidecar(simulator.url, genai={"inject_include_usage": False})
    body = _json.dumps(BODY)
    await _raw(sidecar.url, PATHS[0], body)
    received = simulator.state.last(PATHS[0])
    assert received is not None
    assert received.body == body
    assert _token_sums(sidecar) == {}
    points = sidecar.points("genai_sidecar.usage.missing")
    assert [(dict(p.attributes), p.value) for p in points] == [
        ({"gen_ai.operation.name": "chat", "reason": "not_requested"}, 1)
    ]


async def test_non_streaming_and_other_dialects_are_never_rewritten(
    simulator: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    sidecar = await start_sidecar(simulator.url)
    for path, body in (
        ("/v1/chat/completions", {**BODY, "stream": False}),
        ("/v1/responses", {"model": "m", "input": "hi", "stream": True}),
        ("/api/chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    ):
        raw = _json.dumps(body)
        async with aiohttp.ClientSession() as client, client.post(sidecar.url + path, data=raw) as r:
            await r.read()
        received = simulator.state.last(path)
        assert received is not None
        assert received.body == raw, path


# ------------------------------------------------------------------------ hand-made upstreams


def _event(choices: str, usage: str = "") -> bytes:
    return b'data: {"id":"c1","object":"chat.completion.chunk","choices":' + (choices + usage + "}").encode()


CHUNK = _event('[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]')
FINAL = _event('[{"index":0,"delta":{},"finish_reason":"stop"}]')
USAGE = _event("[]", ',"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}')


async def test_mixed_line_ends_never_leak_the_usage_chunk(start_sidecar: StartSidecar) -> None:
    """A server whose blank lines mix LF and CRLF (``\\n\\r\\n`` is a blank line for the SSE
    standard): the client still gets every byte but the injected usage event's."""
    parts = [CHUNK + b"\n\r\n", FINAL + b"\r\n\n", USAGE + b"\n\r\n", b"data: [DONE]\r\n\r\n"]

    async def server(request: web.Request) -> web.StreamResponse:
        body = _json.loads(await request.read())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for part in parts:
            if part.startswith(USAGE) and "stream_options" not in body:
                continue
            await response.write(part)
        return response

    async with serve_handler(server) as url:
        sidecar = await start_sidecar(url)
        body = _json.dumps(BODY)
        direct = await _raw(url, PATHS[0], body)
        proxied = await _raw(sidecar.url, PATHS[0], body)
    assert USAGE not in direct
    assert proxied == direct
    assert _token_sums(sidecar) == {"input": 4.0, "output": 2.0}


class Rejecting:
    """An OpenAI-compatible server that does not know ``stream_options`` (answers 422 with it),
    recording every body it receives."""

    def __init__(self, status: int = 422, reject_everything: bool = False) -> None:
        self.status = status
        self.reject_everything = reject_everything
        self.bodies: list[bytes] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.bodies.append(raw)
        if self.reject_everything or b"stream_options" in raw:
            error = {"error": {"message": "Extra inputs are not permitted: stream_options"}}
            return web.json_response(error, status=self.status)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for part in (CHUNK, FINAL, b"data: [DONE]"):
            await response.write(part + b"\n\n")
        return response


@pytest.mark.parametrize("status", [400, 422])
async def test_auto_resends_a_rejected_request_unmodified_once_then_stops_injecting(
    start_sidecar: StartSidecar, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    upstream = Rejecting(status)
    body = b'{"model": "m",  "stream": true, "messages": []}'  # spacing kept byte for byte
    with caplog.at_level(logging.INFO, logger="sidecar.proxy.usage_injection"):
        async with serve_handler(upstream.handle) as url:
            sidecar = await start_sidecar(url)
            direct = await _raw(url, PATHS[0], body)
            upstream.bodies.clear()
            first = await _raw(sidecar.url, PATHS[0], body)
            second = await _raw(sidecar.url, PATHS[0], body)
    assert first == second == direct
    injected, resent, later = upstream.bodies
    assert b'"include_usage":true' in injected
    assert resent == body
    assert later == body  # the path is remembered: no second try
    assert _counter(sidecar, "genai_sidecar.usage.injection_refused") == 1
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1
    assert "/v1/chat/completions" in infos[0].getMessage()


async def test_true_keeps_trying_and_resends_each_time(start_sidecar: StartSidecar) -> None:
    upstream = Rejecting()
    body = _json.dumps(BODY)
    async with serve_handler(upstream.handle) as url:
        sidecar = await start_sidecar(url, genai={"inject_include_usage": True})
        await _raw(sidecar.url, PATHS[0], body)
        await _raw(sidecar.url, PATHS[0], body)
    assert [b"stream_options" in b for b in upstream.bodies] == [True, False, True, False]
    assert upstream.bodies[1] == upstream.bodies[3] == body
    assert _counter(sidecar, "genai_sidecar.usage.injection_refused") == 2


async def test_a_rejection_the_unmodified_request_meets_too_is_not_the_injections(
    start_sidecar: StartSidecar,
) -> None:
    """A bad request is bad either way: the client gets the server's answer to its own request,
    and injection stays on for that path."""
    upstream = Rejecting(400, reject_everything=True)
    body = _json.dumps(BODY)
    async with serve_handler(upstream.handle) as url:
        sidecar = await start_sidecar(url)
        async with aiohttp.ClientSession() as client:
            for _ in range(2):
                async with client.post(sidecar.url + PATHS[0], data=body) as r:
                    assert r.status == 400
                    assert "Extra inputs" in (await r.json())["error"]["message"]
    assert [b"stream_options" in b for b in upstream.bodies] == [True, False, True, False]
    assert _counter(sidecar, "genai_sidecar.usage.injection_refused") == 0


async def test_the_resend_restores_the_clients_accept_encoding(start_sidecar: StartSidecar) -> None:
    seen: list[str | None] = []
    upstream = Rejecting()

    async def server(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Accept-Encoding"))
        return await upstream.handle(request)

    async with serve_handler(server) as url:
        sidecar = await start_sidecar(url)
        await _raw(sidecar.url, PATHS[0], _json.dumps(BODY), headers={"Accept-Encoding": "gzip"})
    assert seen == ["identity", "gzip"]


async def test_auto_does_not_ask_llama_cpp_which_reports_counts_unasked(
    simulator: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    """llama.cpp's timings carry the counts; asking would move them off the client's last chunk."""
    sidecar = await start_sidecar(simulator.url, genai={"provider": "llama_cpp"})
    body = _json.dumps(BODY)
    await _raw(sidecar.url, PATHS[0], body)
    received = simulator.state.last(PATHS[0])
    assert received is not None
    assert received.body == body


async def test_auto_stops_asking_a_path_whose_server_sent_timings(start_sidecar: StartSidecar) -> None:
    bodies: list[bytes] = []
    timings = b',"timings":{"prompt_n":4,"predicted_n":2,"prompt_ms":1.0,"predicted_per_token_ms":1.0}'

    async def llama_like(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        bodies.append(raw)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for part in (CHUNK, FINAL[:-1] + timings + b"}", b"data: [DONE]"):
            await response.write(part + b"\n\n")
        return response

    async with serve_handler(llama_like) as url:
        sidecar = await start_sidecar(url)
        for _ in range(2):
            await _raw(sidecar.url, PATHS[0], _json.dumps(BODY))
    assert [b"stream_options" in b for b in bodies] == [True, False]
