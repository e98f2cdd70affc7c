"""A whole, non-streamed JSON body (``application/json``), buffered up to a cap, sans I/O.

The body is held until :meth:`JSONBodyDecoder.close` and then handed out as one
:class:`JSONDocument`. Past ``max_body_bytes`` the decoder lets go of what it held, only counts,
and reports one :class:`Oversize` at close. An empty body yields nothing.
"""

from __future__ import annotations

from sidecar.wire.errors import DecoderClosed
from sidecar.wire.events import JSONDocument, Oversize, WireEvent


class JSONBodyDecoder:
    """``feed(bytes)`` only buffers; ``close()`` returns the one document (or its Oversize)."""

    __slots__ = ("_buf", "_closed", "_max", "_size")

    def __init__(self, max_body_bytes: int = 4 << 20) -> None:
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1")
        self._max = max_body_bytes
        self._buf = bytearray()
        self._size = 0
        self._closed = False

    @property
    def buffered_bytes(self) -> int:
        """Bytes held (never more than ``max_body_bytes``)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[WireEvent]:
        """Take the next chunk of the body; nothing is complete before the end."""
        if self._closed:
            raise DecoderClosed("feed() after close()")
        size = self._size + len(data)
        if size > self._max:
            if self._size <= self._max:  # just crossed the cap
                self._buf = bytearray()  # let the memory go, not just the length
        else:
            self._buf += data
        self._size = size
        return []

    def close(self) -> list[WireEvent]:
        """End of body: the document, an Oversize, or nothing for an empty body."""
        if self._closed:
            raise DecoderClosed("close() called twice")
        self._closed = True
        size = self._size
        body = bytes(self._buf)
        self._buf = bytearray()
        if size > self._max:
            return [Oversize(size=size, limit=self._max)]
        if not size:
            return []
        return [JSONDocument(data=body)]
