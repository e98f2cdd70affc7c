"""The request body as the client sent it: never decompressed, bounded in size, time and memory.

A body small enough to parse (``listener.max_parse_bytes``) is held whole, within a budget shared by
all requests (``listener.max_buffered_bytes``), so that GenAI telemetry can read it and the upstream
send can be repeated when it provably did not reach the server. Any other body is streamed to the
upstream as it arrives, with the client's own framing (``Content-Length`` or chunked): its memory is
the socket buffers, whatever its size and however many arrive at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

#: Largest piece read from the client at once while streaming a body to the upstream.
_STREAM_PIECE = 64 * 1024


class BodyError(Exception):
    """Reading the request body failed in a way the client is told about (413, 408, 400)."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


@dataclass(slots=True)
class BufferBudget:
    """Bytes of request bodies held in memory at once, across all requests."""

    limit: int
    used: int = 0

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyLimits:
    max_body_bytes: int
    max_parse_bytes: int
    timeout_s: float


class RequestBody:
    """One request's body: whole (``for_parsing``) or a stream (``payload``), read once."""

    __slots__ = (
        "_budget",
        "_data",
        "_limits",
        "_request",
        "_reserved",
        "_whole",
        "error",
        "pieces",
        "received",
        "started",
    )

    def __init__(self, request: web.BaseRequest, limits: BodyLimits, budget: BufferBudget) -> None:
        self._request = request
        self._limits = limits
        self._budget = budget
        self._reserved = 0
        #: The whole body when it is held; the part read so far when it is streamed.
        self._data = b""
        self._whole = False
        #: Wire bytes received from the client so far.
        self.received = 0
        #: True once a byte of the body has been handed to the upstream send.
        self.started = False
        #: Pieces handed to the upstream send in its current attempt (each one write).
        self.pieces = 0
        #: Why the stream to the upstream stopped, if the client's side failed (too large, too slow).
        self.error: BodyError | None = None

    # ------------------------------------------------------------------ reading

    async def read_head(self) -> None:
        """Hold the body whole if it may be parsed and fits the shared budget; else leave it to stream.

        Raises :class:`BodyError` (too large, too slow) for the caller to answer.
        """
        request = self._request
        if not request.body_exists:
            self._whole = True
            return
        cap = self._limits.max_parse_bytes
        declared = request.content_length
        if declared is not None:
            if declared <= cap and self._budget.take(declared):
                self._reserved = declared
                self._data = await self._read_up_to(declared)
                self._whole = True
            return
        # Chunked: read up to the cap; a body that ends within it is held whole.
        if not self._budget.take(cap):
            return
        self._reserved = cap
        self._data = await self._read_up_to(cap + 1)
        if len(self._data) <= cap and request.content.at_eof():
            self._budget.give(cap - len(self._data))
            self._reserved = len(self._data)
            self._whole = True

    async def _read_up_to(self, n: int) -> bytes:
        parts = []
        got = 0
        while got < n:
            chunk = await self._next(n - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    async def _next(self, n: int) -> bytes:
        """The next piece of the body (at most ``n`` bytes), with the body timeout and size cap."""
        try:
            async with asyncio.timeout(self._limits.timeout_s):
                chunk = await self._request.content.read(n)
        except TimeoutError:
            limit = self._limits.timeout_s
            message = f"request body stalled for listener.body_timeout_s ({limit} s)"
            raise self._fail(408, "request_timeout", message) from None
        self.received += len(chunk)
        if self.received > self._limits.max_body_bytes:
            limit = self._limits.max_body_bytes
            raise self._fail(
                413, "request_too_large", f"request body exceeds listener.max_body_bytes ({limit} bytes)"
            )
        return chunk

    def _fail(self, status: int, error_type: str, message: str) -> BodyError:
        self.error = BodyError(status, error_type, message)
        return self.error

    # ------------------------------------------------------------------ using

    @property
    def whole(self) -> bool:
        """The body is held in memory in full (it may be parsed and the send repeated)."""
        return self._whole

    def for_parsing(self) -> bytes | None:
        """The body bytes for parsing, if the whole body is held (under ``listener.max_parse_bytes``)."""
        return self._data if self._whole else None

    def replace(self, data: bytes) -> None:
        """Send ``data`` instead (the one documented rewrite: ``stream_options.include_usage``)."""
        assert self._whole, "only a body held whole can be rewritten"
        self._data = data

    @property
    def replayable(self) -> bool:
        """The upstream send may be repeated: the body is held, or none of it was consumed yet."""
        return self._whole or not self.started

    def payload(self) -> bytes | AsyncIterator[bytes] | None:
        """What the upstream send writes: the held bytes, or a fresh stream of the rest."""
        self.pieces = 0
        if self._whole:
            self.started = True
            self.pieces = 1
            return self._data or None
        return self._stream()

    async def _stream(self) -> AsyncIterator[bytes]:
        if self._data:
            self.started = True
            self.pieces += 1
            yield self._data
            self._data = b""
            self.release()
        while True:
            chunk = await self._next(_STREAM_PIECE)
            if not chunk:
                return
            self.started = True
            self.pieces += 1
            yield chunk

    def release(self) -> None:
        """Give the held bytes back to the shared budget (idempotent)."""
        if self._reserved:
            self._budget.give(self._reserved)
            self._reserved = 0
