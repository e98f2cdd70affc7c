"""Decoding never touches the stream: bad bytes switch telemetry off for that stream only."""

from __future__ import annotations

import re

import aiohttp
from aiohttp import web

from sidecar.simulator import RunningSimulator
from tests.conftest import RunningSidecar, StartSidecar
from tests.proxy.upstreams import serve_handler

GEMINI_PATH = "/v1beta/models/gemini-x:streamGenerateContent"
BROKEN_ARRAY = b'[{"candidates": [{"content": {"parts": [{"text": "hi"}]}}]} garbage'


async def _metrics(sidecar: RunningSidecar) -> str:
    async with aiohttp.ClientSession() as client, client.get(f"{sidecar.admin_url}/metrics") as r:
        return await r.text()


def _value(exposition: str, pattern: str) -> float | None:
    m = re.search(pattern + r"\S* (\S+)$", exposition, re.MULTILINE)
    return float(m.group(1)) if m else None


async def test_undecodable_stream_passes_unchanged_and_counts_a_tap_error(
    start_sidecar: StartSidecar,
) -> None:
    async def gemini(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for i in range(0, len(BROKEN_ARRAY), 7):
            await resp.write(BROKEN_ARRAY[i : i + 7])
        await resp.write_eof()
        return resp

    async with serve_handler(gemini) as url:
        sidecar = await start_sidecar(url)
        body = {"contents": [{"parts": [{"text": "hello"}]}]}
        async with aiohttp.ClientSession() as client:
            for _ in range(2):
                async with client.post(f"{sidecar.url}{GEMINI_PATH}", json=body) as r:
                    assert r.status == 200
                    assert await r.read() == BROKEN_ARRAY
    exposition = await _metrics(sidecar)
    assert _value(exposition, r'genai_sidecar_tap_errors_total\{[^}]*reason="wire_error"') == 2.0
    # the calls themselves are still measured (duration), each on its own
    assert _value(exposition, r"gen_ai_client_operation_duration_seconds_count\{") == 2.0


async def test_malformed_and_oversize_lines_do_not_stop_the_count(
    simulator: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    sidecar = await start_sidecar(simulator.url, genai={"max_line_bytes": 64 * 1024})
    body = {"model": "m", "messages": [{"role": "user", "content": "a b c"}], "stream": True}
    async with aiohttp.ClientSession() as client:
        for fault in ("malformed", "oversize"):
            headers = {"x-sim-fault": fault, "x-sim-tokens": "10", "x-sim-oversize-bytes": "200000"}
            async with client.post(f"{sidecar.url}/api/chat", json=body, headers=headers) as direct_check:
                payload = await direct_check.read()
            assert payload.rstrip().endswith(b"}")
    exposition = await _metrics(sidecar)
    assert _value(exposition, r'genai_sidecar_tap_errors_total\{[^}]*reason="wire_error"') is None
    assert _value(exposition, r'gen_ai_client_token_usage_sum\{.*gen_ai_token_type="output"') == 20.0
