"""Edge cases of the request path: Expect, early client exits, shutdown cuts, dot segments."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from tests.conftest import RunningSidecar, StartSidecar
from tests.proxy.upstreams import raw_server, read_http_request, serve_handler


def _durations(sidecar: RunningSidecar) -> list[Any]:
    data = sidecar.sink.metrics.get_metrics_data()
    assert data is not None
    return [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "gen_ai.client.operation.duration"
        for p in m.data.data_points
    ]


async def test_expect_100_continue_is_not_passed_on(start_sidecar: StartSidecar) -> None:
    """The sidecar has the whole body already; an upstream that never sends 100 must not hang it."""

    async def no_continue(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await asyncio.wait_for(read_http_request(reader), timeout=10)
        assert request is not None
        assert b"expect:" not in request.lower()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    async with raw_server(no_continue) as url:
        sidecar = await start_sidecar(url)
        async with aiohttp.ClientSession() as client:
            resp = client.post(f"{sidecar.url}/api/chat", data=b"{}", expect100=True)
            async with resp as r:
                assert r.status == 200
                assert await asyncio.wait_for(r.read(), timeout=10) == b"ok"


async def test_client_leaving_before_the_response_head_closes_the_upstream(
    start_sidecar: StartSidecar,
) -> None:
    upstream_gone = asyncio.Event()

    async def thinking(request: web.Request) -> web.StreamResponse:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            upstream_gone.set()
            raise
        return web.Response(text="late")

    async with serve_handler(thinking) as url:
        sidecar = await start_sidecar(url)
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": False}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as client:
            try:
                async with client.post(f"{sidecar.url}/v1/chat/completions", json=body) as r:
                    await r.read()
            except TimeoutError:
                pass
        await asyncio.wait_for(upstream_gone.wait(), timeout=10)
    for _ in range(100):
        if sidecar.sidecar.state.in_flight == 0 and _durations(sidecar):
            break
        await asyncio.sleep(0.02)
    (point,) = _durations(sidecar)
    assert point.attributes["error.type"] == "client_cancel"


async def test_streams_cut_by_shutdown_are_recorded_as_shutdown(start_sidecar: StartSidecar) -> None:
    started = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        started.set()
        while True:
            await resp.write(b'{"model":"m","message":{"content":"x"},"done":false}\n')
            await asyncio.sleep(0.02)

    async with serve_handler(endless) as url:
        sidecar = await start_sidecar(url, listener={"shutdown_grace_s": 0.3})
        async with aiohttp.ClientSession() as client:
            r = await client.post(f"{sidecar.url}/api/chat", json={"model": "m", "messages": []})
            await started.wait()
            await sidecar.sidecar.shutdown()
            r.close()
    (point,) = _durations(sidecar)
    assert point.attributes["error.type"] == "shutdown"


async def test_dot_segments_cannot_leave_the_upstream_path(start_sidecar: StartSidecar) -> None:
    seen: list[str] = []

    async def record(request: web.Request) -> web.StreamResponse:
        seen.append(request.raw_path)
        return web.Response(text="ok")

    async with serve_handler(record) as url:
        sidecar = await start_sidecar(f"{url}/tenant-a")
        async with aiohttp.ClientSession() as client:
            target = URL(f"{sidecar.url}/%2E%2E/tenant-b/v1/models", encoded=True)
            async with client.get(target) as r:
                assert r.status == 400
                assert (await r.json())["error"]["type"] == "bad_request"
            async with client.get(f"{sidecar.url}/v1/models") as r:
                assert r.status == 200
    assert seen == ["/tenant-a/v1/models"]
