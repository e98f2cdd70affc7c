"""No buffering: each upstream chunk reaches the client while the upstream is still sending."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from tests.conftest import StartSidecar
from tests.proxy.upstreams import serve_handler


async def test_first_chunk_reaches_client_before_upstream_sends_last(start_sidecar: StartSidecar) -> None:
    release_last = asyncio.Event()

    async def upstream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'data: {"first": true}\n\n')
        # The last line is sent only after the client proved it has the first one.
        await asyncio.wait_for(release_last.wait(), timeout=10)
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async with serve_handler(upstream) as url:
        sidecar = await start_sidecar(url)
        async with aiohttp.ClientSession() as client, client.post(f"{sidecar.url}/v1/x", data=b"{}") as r:
            first = await asyncio.wait_for(r.content.readuntil(b"\n\n"), timeout=10)
            assert first == b'data: {"first": true}\n\n'
            release_last.set()
            rest = await r.content.read()
    assert rest == b"data: [DONE]\n\n"


async def test_every_chunk_is_forwarded_as_it_arrives(start_sidecar: StartSidecar) -> None:
    """Lock-step: the upstream sends chunk N+1 only after the client has received chunk N."""
    received = [asyncio.Event() for _ in range(20)]

    async def upstream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        for i, event in enumerate(received):
            await resp.write(b'{"n": %d}\n' % i)
            await asyncio.wait_for(event.wait(), timeout=10)
        await resp.write_eof()
        return resp

    async with serve_handler(upstream) as url:
        sidecar = await start_sidecar(url)
        async with aiohttp.ClientSession() as client, client.post(f"{sidecar.url}/api/chat", data=b"{}") as r:
            for i, event in enumerate(received):
                line = await asyncio.wait_for(r.content.readline(), timeout=10)
                assert line == b'{"n": %d}\n' % i
                event.set()
            assert await r.content.read() == b""


async def test_admin_endpoints(start_sidecar: StartSidecar) -> None:
    async def ok(request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    async with serve_handler(ok) as url:
        sidecar = await start_sidecar(url)
        async with aiohttp.ClientSession() as client:
            async with client.get(f"{sidecar.admin_url}/healthz") as r:
                assert (r.status, await r.json()) == (200, {"status": "ok"})
            async with client.get(f"{sidecar.admin_url}/readyz") as r:
                assert (r.status, await r.json()) == (200, {"status": "ready", "in_flight": 0})
            async with client.get(f"{sidecar.url}/healthz") as r:
                assert await r.text() == "ok", "the proxy port proxies every path, admin paths included"
            sidecar.sidecar.state.draining = True
            async with client.get(f"{sidecar.admin_url}/readyz") as r:
                assert r.status == 503
