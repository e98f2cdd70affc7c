"""Small purpose-built upstream servers on loopback, for behaviour the simulator does not script."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve_handler(handler: Handler, path: str = "/{tail:.*}") -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", path, handler)
    async with serve_app(app) as url:
        yield url


async def replay(
    request: web.Request,
    body: bytes,
    content_type: str,
    *,
    step: int = 97,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Answer ``request`` with ``body`` (a recorded response) in pieces of ``step`` bytes."""
    await request.read()
    resp = web.StreamResponse(headers={"Content-Type": content_type, **(headers or {})})
    await resp.prepare(request)
    for i in range(0, len(body), step):
        await resp.write(body[i : i + step])
    await resp.write_eof()
    return resp


@asynccontextmanager
async def raw_server(
    on_connection: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A raw TCP server, for connection-level behaviour an HTTP framework hides."""
    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def read_http_request(reader: asyncio.StreamReader) -> bytes | None:
    """Read one request head and its Content-Length body; None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head + body
