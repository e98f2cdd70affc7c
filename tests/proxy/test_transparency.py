"""Status, end-to-end headers and body bytes reach the client unchanged; hop-by-hop headers do not."""

from __future__ import annotations

import gzip
import hashlib
import io

import aiohttp
from aiohttp import web
from yarl import URL

from tests.conftest import StartSidecar
from tests.proxy.upstreams import serve_handler


async def test_64_mib_response_arrives_byte_identical(start_sidecar: StartSidecar, simulator) -> None:  # type: ignore[no-untyped-def]
    sidecar = await start_sidecar(simulator.url)
    n = 64 * 1024 * 1024
    direct, proxied = hashlib.sha256(), hashlib.sha256()
    size = 0
    async with aiohttp.ClientSession(auto_decompress=False) as client:
        async with client.get(f"{simulator.url}/sim/bytes", params={"n": n, "chunk": 65536}) as r:
            async for chunk in r.content.iter_any():
                direct.update(chunk)
        async with client.get(f"{sidecar.url}/sim/bytes", params={"n": n, "chunk": 65536}) as r:
            assert r.status == 200
            async for chunk in r.content.iter_any():
                proxied.update(chunk)
                size += len(chunk)
    assert size == n
    assert proxied.hexdigest() == direct.hexdigest()


async def test_64_mib_request_body_arrives_byte_identical(start_sidecar: StartSidecar) -> None:
    payload = bytes(range(256)) * (64 * 1024 * 4)  # 64 MiB
    seen: dict[str, str] = {}

    async def digest(request: web.Request) -> web.StreamResponse:
        h = hashlib.sha256()
        async for chunk in request.content.iter_any():
            h.update(chunk)
        seen["sha256"] = h.hexdigest()
        return web.Response(text="ok")

    async with serve_handler(digest) as url:
        sidecar = await start_sidecar(url, listener={"max_body_bytes": 65 * 1024 * 1024})
        async with (
            aiohttp.ClientSession() as client,
            client.post(f"{sidecar.url}/upload", data=io.BytesIO(payload)) as r,
        ):
            assert r.status == 200
    assert seen["sha256"] == hashlib.sha256(payload).hexdigest()


async def test_headers_status_and_compressed_body_pass_through(start_sidecar: StartSidecar) -> None:
    body = gzip.compress(b'{"model": "m", "done": true}\n' * 100)
    received: dict[str, str] = {}

    async def upstream(request: web.Request) -> web.StreamResponse:
        received.update(request.headers)
        received["_raw_path"] = request.raw_path
        return web.Response(
            status=429,
            body=body,
            headers={
                "Content-Type": "application/x-ndjson",
                "Content-Encoding": "gzip",
                "X-Request-Id": "abc-123",
                "Retry-After": "7",
                "Keep-Alive": "timeout=5",
                "Connection": "keep-alive, X-Hop",
                "X-Hop": "must-not-pass",
            },
        )

    async with serve_handler(upstream) as url:
        sidecar = await start_sidecar(url)
        async with (
            aiohttp.ClientSession(auto_decompress=False) as client,
            client.post(
                URL(f"{sidecar.url}/api/chat?keep=1&x=%2F", encoded=True),
                data=b'{"model": "m"}',
                headers={
                    "Authorization": "Bearer secret",
                    "X-Custom": "v",
                    "Proxy-Authorization": "Basic hop",
                    "Connection": "keep-alive, X-Client-Hop",
                    "X-Client-Hop": "drop-me",
                    "Accept-Encoding": "gzip",
                },
            ) as r,
        ):
            status, headers, got = r.status, r.headers, await r.read()

    assert status == 429
    assert got == body, "compressed bodies pass through compressed"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["X-Request-Id"] == "abc-123"
    assert headers["Retry-After"] == "7"
    assert "X-Hop" not in headers
    assert "Keep-Alive" not in headers
    # request side
    assert received["_raw_path"] == "/api/chat?keep=1&x=%2F"
    assert received["Authorization"] == "Bearer secret"
    assert received["X-Custom"] == "v"
    assert received["Accept-Encoding"] == "gzip"
    assert "Proxy-Authorization" not in received
    assert "X-Client-Hop" not in received
    assert received["X-Forwarded-For"] == "127.0.0.1"
    assert received["X-Forwarded-Proto"] == "http"
    assert received["Host"] == url.removeprefix("http://")


async def test_no_headers_are_invented_for_the_upstream(start_sidecar: StartSidecar) -> None:
    received: dict[str, str] = {}

    async def upstream(request: web.Request) -> web.StreamResponse:
        received.update(request.headers)
        return web.Response(text="ok")

    async with serve_handler(upstream) as url:
        sidecar = await start_sidecar(url)
        async with (
            aiohttp.ClientSession(skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept")) as client,
            client.get(f"{sidecar.url}/api/tags") as r,
        ):
            assert r.status == 200
    assert "Accept-Encoding" not in received
    assert "User-Agent" not in received
