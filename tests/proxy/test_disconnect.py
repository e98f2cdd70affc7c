"""A client that walks away mid-stream closes the upstream response at once; nothing leaks."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from tests.conftest import StartSidecar
from tests.proxy.upstreams import serve_handler


async def test_client_disconnect_closes_upstream(start_sidecar: StartSidecar) -> None:
    upstream_gone = asyncio.Event()
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            while True:
                await resp.write(b'data: {"choices": [{"delta": {"content": "x"}}]}\n\n')
                sent += 1
                await asyncio.sleep(0.01)
        except (ConnectionResetError, asyncio.CancelledError):
            upstream_gone.set()
            raise

    async with serve_handler(endless) as url:
        sidecar = await start_sidecar(url)
        client = aiohttp.ClientSession()
        r = await client.post(f"{sidecar.url}/v1/chat/completions", json={"model": "m", "stream": True})
        await r.content.readuntil(b"\n\n")
        r.close()  # walk away mid-stream
        await client.close()
        await asyncio.wait_for(upstream_gone.wait(), timeout=10)
        # The proxy's pool holds no connection to the dead stream, and no stream is in flight.
        for _ in range(100):
            if not sidecar.sidecar.state.in_flight:
                break
            await asyncio.sleep(0.01)
        assert sidecar.sidecar.state.in_flight == 0
        sent_at_close = sent
        await asyncio.sleep(0.1)
        assert sent == sent_at_close, "the upstream keeps no writer alive after the client left"
