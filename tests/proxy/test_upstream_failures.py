"""Upstream down, slow, or closing pooled connections: clear JSON errors, and no spurious 502."""

from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
import pytest
from aiohttp import web

from sidecar.proxy.upstream_log import UPSTREAM_WARNINGS, UpstreamWarnings
from tests.conftest import StartSidecar
from tests.proxy.upstreams import raw_server, read_http_request, serve_handler


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_upstream_down_gives_json_502(start_sidecar: StartSidecar) -> None:
    port = _closed_port()
    sidecar = await start_sidecar(f"http://127.0.0.1:{port}")
    async with aiohttp.ClientSession() as client, client.post(f"{sidecar.url}/api/chat", json={}) as r:
        assert r.status == 502
        assert r.headers["Content-Type"].startswith("application/json")
        body = await r.json()
    assert body["error"]["type"] == "upstream_unreachable"
    assert f"127.0.0.1:{port}" in body["error"]["message"]


async def test_upstream_silent_gives_json_504(start_sidecar: StartSidecar) -> None:
    async def silent(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)
        return web.Response()

    async with serve_handler(silent) as url:
        sidecar = await start_sidecar(url, upstream={"read_timeout_s": 0.2})
        async with (
            aiohttp.ClientSession() as client,
            client.post(f"{sidecar.url}/v1/chat/completions", json={}) as r,
        ):
            assert r.status == 504
            body = await r.json()
    assert body["error"]["type"] == "upstream_timeout"
    assert url in body["error"]["message"]


async def test_upstream_closing_after_each_response_gives_no_502(start_sidecar: StartSidecar) -> None:
    """Like llama.cpp's server after a stream: one response per connection, then the connection is
    closed. A closed pooled connection is never used for the next request."""
    requests_seen = 0

    async def one_request_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests_seen
        if await read_http_request(reader) is None:
            writer.close()
            return
        requests_seen += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    async with raw_server(one_request_per_connection) as url:
        sidecar = await start_sidecar(url)
        async with aiohttp.ClientSession() as client:
            statuses = []
            for _ in range(10):
                async with client.post(f"{sidecar.url}/completion", json={"prompt": "x"}) as r:
                    statuses.append(r.status)
                    assert await r.read() == b"{}"
    assert statuses == [200] * 10
    assert requests_seen == 10


async def test_idempotent_request_dropped_on_a_reused_connection_is_sent_again(
    start_sidecar: StartSidecar,
) -> None:
    """A GET the upstream read on a reused connection and dropped unanswered is safe to repeat, once,
    on a fresh connection."""
    seen: list[bytes] = []

    async def drop_the_second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await read_http_request(reader)
        if first is None:
            writer.close()
            return
        seen.append(first)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        second = await read_http_request(reader)
        if second is not None:
            seen.append(second)
        writer.close()  # the second request on a connection is dropped unanswered

    async with raw_server(drop_the_second) as url:
        sidecar = await start_sidecar(url)
        async with aiohttp.ClientSession() as client:
            for _ in range(2):
                async with client.get(f"{sidecar.url}/v1/models") as r:
                    assert r.status == 200
                    assert await r.read() == b"ok"
    assert len(seen) == 3  # first, the dropped second, and the second again on a fresh connection
    assert seen[1] == seen[2]


async def test_request_body_over_limit_gives_json_413(start_sidecar: StartSidecar) -> None:
    async def ok(request: web.Request) -> web.StreamResponse:
        return web.Response(text="should not be reached")

    async with serve_handler(ok) as url:
        sidecar = await start_sidecar(url, listener={"max_body_bytes": 1024})
        async with (
            aiohttp.ClientSession() as client,
            client.post(f"{sidecar.url}/api/chat", data=b"x" * 2048) as r,
        ):
            assert r.status == 413
            body = await r.json()
    assert body["error"]["type"] == "request_too_large"
    assert "max_body_bytes" in body["error"]["message"]


async def test_upstream_crash_mid_stream_cuts_the_client_response(start_sidecar: StartSidecar) -> None:
    async def crash(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"data: {}\n\n")
        assert request.transport is not None
        request.transport.close()
        return resp

    async with serve_handler(crash) as url:
        sidecar = await start_sidecar(url)
        async with aiohttp.ClientSession() as client, client.post(f"{sidecar.url}/v1/x", json={}) as r:
            assert r.status == 200
            first = await r.content.readuntil(b"\n\n")
            assert first == b"data: {}\n\n"
            try:
                await r.content.read()
                ended_cleanly = True
            except aiohttp.ClientPayloadError:
                ended_cleanly = False
    assert not ended_cleanly, "a cut upstream stream must reach the client as a cut stream"


async def test_an_unreachable_upstream_is_logged_at_warn_once_per_interval(
    start_sidecar: StartSidecar, caplog: pytest.LogCaptureFixture
) -> None:
    port = _closed_port()
    sidecar = await start_sidecar(f"http://127.0.0.1:{port}")
    caplog.set_level(logging.WARNING, logger="sidecar.proxy.upstream")
    UPSTREAM_WARNINGS.reset()  # a fresh interval for this test
    async with aiohttp.ClientSession() as client:
        for _ in range(5):
            async with client.post(f"{sidecar.url}/api/chat", json={}) as r:
                assert r.status == 502
    lines = [r for r in caplog.records if r.name == "sidecar.proxy.upstream"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING
    message = lines[0].getMessage()
    assert message.startswith(f"upstream upstream_unreachable: http://127.0.0.1:{port}: ")
    assert "/api/chat" not in message


def test_warnings_say_how_many_were_left_out(caplog: pytest.LogCaptureFixture) -> None:
    warnings = UpstreamWarnings(interval_s=0.0)
    caplog.set_level(logging.WARNING, logger="sidecar.proxy.upstream")
    warnings.warn("upstream_timeout", "http://m:1", "no answer in time")
    warnings.warn("upstream_timeout", "http://m:1", "no answer in time")
    assert len(caplog.records) == 2
    limited = UpstreamWarnings(interval_s=3600)
    for _ in range(3):
        limited.warn("connection_error", "http://m:1", "ServerDisconnectedError")
    assert len(caplog.records) == 3
    limited._interval_s = 0.0  # the interval has passed
    limited.warn("connection_error", "http://m:1", "ServerDisconnectedError")
    assert caplog.records[-1].getMessage().endswith("(2 more since the last such line)")
