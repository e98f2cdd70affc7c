"""The response body path (proxy/body.py): back-pressure from a slow client, pooled connections
after a pumped body, and every framing the upstream may use."""

from __future__ import annotations

import asyncio
import hashlib
import socket

import aiohttp
from aiohttp import web

from tests.conftest import StartSidecar
from tests.proxy.upstreams import raw_server, read_http_request, serve_handler

CHUNK = 64 * 1024
TOTAL = 64 * 1024 * 1024


def _block(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest() * (CHUNK // 32)


async def test_a_client_that_stops_reading_stops_the_upstream(start_sidecar: StartSidecar) -> None:
    written = 0

    async def big(request: web.Request) -> web.StreamResponse:
        nonlocal written
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        for i in range(TOTAL // CHUNK):
            await resp.write(_block(i))  # waits while the sidecar does not read
            written += CHUNK
        await resp.write_eof()
        return resp

    async with serve_handler(big) as url:
        sidecar = await start_sidecar(url)
        host, port = sidecar.url.removeprefix("http://").rsplit(":", 1)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock, limit=CHUNK)
        # HTTP/1.0: the response is delimited by the close, so the bytes read are the body itself.
        writer.write(f"GET /big HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 200")
        # The client reads nothing more: the upstream must come to a stop, bounded by socket buffers.
        stable, last = 0, -1
        while stable < 5:
            await asyncio.sleep(0.2)
            stable = stable + 1 if written == last else 0
            last = written
        assert written < TOTAL // 4, f"the upstream wrote {written} bytes to a client that reads nothing"
        # Reading again resumes the copy, and every byte arrives in order.
        digest = hashlib.sha256()
        received = 0
        while data := await reader.read(1 << 20):
            digest.update(data)
            received += len(data)
        writer.close()
    expected = hashlib.sha256()
    for i in range(TOTAL // CHUNK):
        expected.update(_block(i))
    assert written == TOTAL
    assert received == TOTAL
    assert digest.hexdigest() == expected.hexdigest()


async def _upstream_ports(
    start_sidecar: StartSidecar, content_type: str, server: str | None = None
) -> list[int]:
    """Three sequential calls through the sidecar to a chunked upstream answering ``content_type``
    (and ``Server: server``); the client-side port of each upstream connection, as the upstream
    saw it."""
    peers: list[int] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername")[1])
        headers = {"Content-Type": content_type}
        if server is not None:
            headers["Server"] = server
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        for i in range(3):
            await resp.write(f"data: {i}\n\n".encode())
            await asyncio.sleep(0.01)
        await resp.write_eof()
        return resp

    async with serve_handler(stream) as url:
        sidecar = await start_sidecar(url)
        async with aiohttp.ClientSession() as client:
            bodies = []
            for _ in range(3):
                async with client.post(f"{sidecar.url}/v1/x", json={}) as r:
                    bodies.append(await r.read())
    assert bodies == [b"data: 0\n\ndata: 1\n\ndata: 2\n\n"] * 3
    return peers


async def test_a_pumped_body_leaves_its_connection_in_the_pool(start_sidecar: StartSidecar) -> None:
    peers = await _upstream_ports(start_sidecar, "application/octet-stream")
    assert len(set(peers)) == 1, f"each request opened a new upstream connection: ports {peers}"


async def test_a_streamed_response_connection_stays_in_the_pool(start_sidecar: StartSidecar) -> None:
    peers = await _upstream_ports(start_sidecar, "text/event-stream")
    assert len(set(peers)) == 1, f"each stream opened a new upstream connection: ports {peers}"


async def test_llamacpp_stream_connections_are_not_reused(start_sidecar: StartSidecar) -> None:
    """llama.cpp's server closes a connection a moment after a stream, without saying so: a
    reused one would fail after the next POST was written, which is never sent twice."""
    peers = await _upstream_ports(start_sidecar, "text/event-stream", server="llama.cpp")
    assert len(set(peers)) == 3, f"a llama.cpp stream's connection was reused: ports {peers}"


async def test_bodies_framed_by_length_and_by_close_pass_whole(start_sidecar: StartSidecar) -> None:
    payload = b"".join(_block(i) for i in range(40))  # 2.5 MiB

    async def by_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n")
        writer.write(b"Connection: close\r\n\r\n")
        for i in range(0, len(payload), 100_000):
            writer.write(payload[i : i + 100_000])
            await writer.drain()
        writer.close()

    async def by_length(request: web.Request) -> web.Response:
        return web.Response(body=payload, content_type="application/octet-stream")

    async with raw_server(by_close) as close_url, serve_handler(by_length) as length_url:
        for url in (close_url, length_url):
            sidecar = await start_sidecar(url)
            async with aiohttp.ClientSession() as client, client.get(f"{sidecar.url}/b") as r:
                assert r.status == 200
                body = await r.read()
            assert hashlib.sha256(body).digest() == hashlib.sha256(payload).digest(), url
