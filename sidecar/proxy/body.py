"""The response body path: upstream bytes go to the client from the upstream socket's data callback.

For one response body, a ``BodyPump`` stands in for aiohttp's protocol on the upstream connection
(``transport.set_protocol``). Each callback goes to aiohttp's protocol first, so framing (chunked,
Content-Length, read until close), the ``sock_read`` timeout and the keep-alive decision stay
aiohttp's. Then, in the same callback, the decoded bytes are taken out of the response's
StreamReader (``read_nowait``) and written to the client's transport, with the chunked framing the
client response was prepared with. No task wakes up per chunk; the handler's task sleeps until the
body ends, fails, or the client's socket buffer is full.

Back-pressure: when the client transport pauses writing, the pump pauses reading the upstream
(aiohttp's ``pause_reading``, which also stops the ``sock_read`` timer, as aiohttp's own
flow control does) and wakes the handler, which waits for the client to drain and resumes.
Afterwards aiohttp's protocol is put back, so a finished connection returns to the pool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
from aiohttp import web
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_writer import StreamWriter
from aiohttp.web_protocol import RequestHandler

#: Below this size one ``write`` of framing + data is cheaper than ``writelines`` (no iovec).
_JOIN_BELOW = 16 * 1024

Transform = Callable[[bytes], bytes]
"""Bytes to send for bytes received (the usage chunk filter); may return ``b""``."""
Observe = Callable[[bytes, float], None]
"""Called with each received chunk and its arrival time, after the chunk was written."""


class BodyPump(asyncio.Protocol):
    """Copies one upstream response body to the client; see the module docstring."""

    __slots__ = (
        "_chunked",
        "_client",
        "_client_protocol",
        "_content",
        "_observe",
        "_paused",
        "_transform",
        "_upstream",
        "_wake",
        "client_gone",
        "error",
        "sent",
    )

    def __init__(
        self,
        upstream: ResponseHandler,
        content: aiohttp.StreamReader,
        client: asyncio.Transport,
        client_protocol: RequestHandler,
        *,
        chunked: bool,
        transform: Transform | None,
        observe: Observe | None,
    ) -> None:
        self._upstream = upstream
        self._content = content
        self._client = client
        self._client_protocol = client_protocol
        self._chunked = chunked
        self._transform = transform
        self._observe = observe
        self._paused = False
        self._wake: asyncio.Future[None] | None = None
        #: The client's transport closed while the body was being copied.
        self.client_gone = False
        #: What the transform raised; the copy stops and ``run`` raises it.
        self.error: Exception | None = None
        #: Body bytes written to the client (after the transform).
        self.sent = 0

    # -- asyncio.Protocol: every event goes to aiohttp's protocol first -----------------------

    def data_received(self, data: bytes) -> None:
        self._upstream.data_received(data)
        self.drain()

    def eof_received(self) -> None:
        self._upstream.eof_received()
        self.drain()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._upstream.connection_lost(exc)
        self.drain()
        self._notify()

    def pause_writing(self) -> None:
        self._upstream.pause_writing()

    def resume_writing(self) -> None:
        self._upstream.resume_writing()

    # -- the copy ---------------------------------------------------------------------------------

    def drain(self) -> None:
        """Send whatever aiohttp has decoded so far; pause the upstream if the client is full."""
        content = self._content
        while self.error is None:
            try:
                chunk = content.read_nowait()
            except Exception:
                # The response failed (aiohttp set the error on the stream): the handler's wait
                # for the end of the body raises it.
                return
            if not chunk:
                break
            try:
                self._deliver(chunk)
            except Exception as e:  # a bug in the transform: the handler raises it, nothing is lost silently
                self.error = e
        if self._paused or content.is_eof():
            return
        if self.error is not None or self.client_gone or self._client_protocol.writing_paused:
            self._paused = True
            self._upstream.pause_reading()
            self._notify()

    def _deliver(self, chunk: bytes) -> None:
        t = time.perf_counter()
        out = chunk if self._transform is None else self._transform(chunk)
        if out and not self.client_gone:
            client = self._client
            if client.is_closing():
                self.client_gone = True
            else:
                self._write(client, out)
                self.sent += len(out)
        if self._observe is not None:
            self._observe(chunk, t)

    def _write(self, client: asyncio.Transport, out: bytes) -> None:
        if not self._chunked:
            client.write(out)
        elif len(out) < _JOIN_BELOW:
            client.write(b"%x\r\n%b\r\n" % (len(out), out))
        else:
            client.writelines((b"%x\r\n" % len(out), out, b"\r\n"))

    def _notify(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def run(self, transport: asyncio.Transport, writer: StreamWriter) -> None:
        """Copy until the body ends. Raises what aiohttp raised for the body (``ClientError``,
        ``TimeoutError``) and ``ConnectionResetError`` when the client went away."""
        content = self._content
        self.drain()  # bytes that arrived with the response head
        if content.exception() is None and not content.is_eof():
            await self._pump(transport, writer)
        if self.error is not None:
            raise self.error
        if self.client_gone:
            raise ConnectionResetError("client closed the connection")
        # The body ended (or failed: aiohttp's error for it is on the stream).
        if (error := content.exception()) is not None:
            raise error

    async def _pump(self, transport: asyncio.Transport, writer: StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        end = loop.create_task(self._content.wait_eof())
        transport.set_protocol(self)
        try:
            while not end.done() and not self.client_gone and self.error is None:
                if self._paused:
                    await writer.drain()  # the client's socket buffer emptied below its low mark
                    if self._client.is_closing():
                        self.client_gone = True
                        break
                    self._paused = False
                    self._upstream.resume_reading()
                    self.drain()
                    continue
                self._wake = loop.create_future()
                await asyncio.wait((end, self._wake), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._wake = None
            if transport.get_protocol() is self:
                transport.set_protocol(self._upstream)
            if self._paused and not transport.is_closing():
                self._paused = False
                self._upstream.resume_reading()
            if not end.done():
                end.cancel()
            elif not end.cancelled():
                end.exception()  # retrieved here; run() reads it again from the stream


async def copy_body(
    request: web.Request,
    response: web.StreamResponse,
    upstream: aiohttp.ClientResponse,
    *,
    transform: Transform | None,
    observe: Observe | None,
) -> int:
    """Copy the upstream body to the prepared client response; returns the bytes sent.

    Uses a ``BodyPump`` on the upstream connection; when the connection or the client response is
    not one it can drive (no live connection, another writer), the plain loop of ``iter_any`` and
    ``StreamResponse.write`` does the same job."""
    writer = request.writer
    client = request.transport
    connection = upstream.connection
    if (
        isinstance(writer, StreamWriter)
        and client is not None
        and connection is not None
        and connection.protocol is not None
        and connection.transport is not None
    ):
        writer.send_headers()
        pump = BodyPump(
            connection.protocol,
            upstream.content,
            client,
            request.protocol,
            chunked=writer.chunked,
            transform=transform,
            observe=observe,
        )
        try:
            await pump.run(connection.transport, writer)
        finally:
            writer.output_size += pump.sent
        return pump.sent
    sent = 0
    async for chunk in upstream.content.iter_any():
        t = time.perf_counter()
        out = chunk if transform is None else transform(chunk)
        if out:
            await response.write(out)
            sent += len(out)
        if observe is not None:
            observe(chunk, t)
    return sent
