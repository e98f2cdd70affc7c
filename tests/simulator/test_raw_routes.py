"""Raw routes and request recording: /sim/bytes, /sim/echo, /sim/requests, SimulatorState."""

from __future__ import annotations

import hashlib
import json
import time

import aiohttp
import pytest

from sidecar.simulator import (
    RunningSimulator,
    SimulatorSettings,
    pseudorandom_bytes,
    start_simulator,
)


async def test_bytes_are_deterministic_and_sized(http: aiohttp.ClientSession) -> None:
    n = 1_000_003
    async with http.get("/sim/bytes", params={"n": n, "chunk": 4096}) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/octet-stream"
        assert resp.content_length == n
        body = await resp.read()
    assert body == pseudorandom_bytes(n)
    async with http.get("/sim/bytes", params={"n": n, "chunk": 100_000, "chunked": 1}) as resp:
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert await resp.read() == body
    async with http.get("/sim/bytes", params={"n": 1000, "seed": 7}) as resp:
        other = await resp.read()
    assert other == pseudorandom_bytes(1000, seed=7)
    assert other != body[:1000]


async def test_bytes_size_from_header_and_pacing(http: aiohttp.ClientSession) -> None:
    async with http.get("/sim/bytes", headers={"x-sim-body-bytes": "5000"}) as resp:
        assert len(await resp.read()) == 5000
    started = time.monotonic()
    async with http.get("/sim/bytes", params={"n": 4000, "chunk": 1000, "delay_ms": 40}) as resp:
        assert len(await resp.read()) == 4000
    assert time.monotonic() - started >= 3 * 0.04


@pytest.mark.parametrize("query", ["n=-1", "chunk=0", "n=abc"])
async def test_bytes_rejects_bad_parameters(http: aiohttp.ClientSession, query: str) -> None:
    async with http.get(f"/sim/bytes?{query}") as resp:
        assert resp.status == 400


async def test_64_mib_stream(http: aiohttp.ClientSession) -> None:
    n = 64 * 1024 * 1024
    digest = hashlib.sha256()
    size = 0
    async with http.get("/sim/bytes", params={"n": n}) as resp:
        async for chunk in resp.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
    assert size == n
    assert digest.hexdigest() == hashlib.sha256(pseudorandom_bytes(n)).hexdigest()


async def test_echo_returns_body_and_headers(http: aiohttp.ClientSession) -> None:
    payload = bytes(range(256)) * 10
    headers = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "Content-Type": "application/x-test",
        "X-Tenant": "caf\u00e9",
    }
    async with http.post("/sim/echo", data=payload, headers=headers) as resp:
        assert await resp.read() == payload
        assert resp.content_type == "application/x-test"
        seen = json.loads(resp.headers["x-sim-echo-headers"])
    assert seen["traceparent"] == headers["traceparent"]
    assert seen["x-tenant"] == "caf\u00e9"
    assert seen["content-length"] == str(len(payload))
    async with http.post("/sim/echo?format=json", data=payload, headers=headers) as resp:
        summary = await resp.json()
    assert summary["body_size"] == len(payload)
    assert summary["body_sha256"] == hashlib.sha256(payload).hexdigest()
    assert summary["headers"]["traceparent"] == headers["traceparent"]


async def test_state_records_requests(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    headers = {"Content-Type": "application/json", "x-sim-tokens": "2", "traceparent": "00-ab-cd-01"}
    async with http.post("/v1/chat/completions?x=1", data=body, headers=headers) as resp:
        assert resp.status == 200
    async with http.get("/api/tags"):
        pass
    last_chat = sim.state.last("/v1/chat/completions")
    assert last_chat is not None
    assert last_chat.method == "POST"
    assert last_chat.query_string == "x=1"
    assert last_chat.body_size == len(body)
    assert last_chat.body == body
    assert last_chat.header("TRACEPARENT") == "00-ab-cd-01"
    assert last_chat.header("x-missing") is None
    last = sim.state.last()
    assert last is not None
    assert last.path == "/api/tags"
    async with http.get("/sim/requests") as resp:
        listed = await resp.json()
    assert [r["path"] for r in listed["requests"]] == ["/v1/chat/completions", "/api/tags"]
    assert listed["requests"][0]["headers"]["traceparent"] == "00-ab-cd-01"
    assert listed["active_streams"] == 0


async def test_history_is_bounded() -> None:
    sim = await start_simulator(settings=SimulatorSettings(history=3, record_body_bytes=4))
    try:
        async with aiohttp.ClientSession(base_url=sim.url) as http:
            for i in range(5):
                async with http.post("/sim/echo", data=f"body-{i}".encode()):
                    pass
    finally:
        await sim.close()
    assert len(sim.state.requests) == 3
    assert [r.body for r in sim.state.requests] == [b"body"] * 3
    assert [r.body_size for r in sim.state.requests] == [6, 6, 6]


async def test_root_answers_like_ollama(http: aiohttp.ClientSession) -> None:
    async with http.get("/") as resp:
        assert await resp.text() == "Ollama is running"


async def test_non_json_body_is_a_400(http: aiohttp.ClientSession) -> None:
    async with http.post("/v1/chat/completions", data=b"{not json") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_request_error"
    async with http.post("/api/chat", data=b"[1, 2]") as resp:
        assert resp.status == 400
        assert "error" in await resp.json()
