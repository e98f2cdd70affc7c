"""Newline-delimited JSON (``application/x-ndjson``, JSON Lines) framing, sans I/O.

Each line that is not blank becomes one :class:`JSONDocument` holding the line's bytes with the
surrounding whitespace (a CR before the LF included) stripped. The JSON is not parsed here. A last
line without a newline is emitted at :meth:`NDJSONDecoder.close`; a line over the cap is skipped
and reported once as :class:`Oversize`.
"""

from __future__ import annotations

from typing import Final

from sidecar.wire._lines import DroppedLine, LineSplitter
from sidecar.wire.errors import DecoderClosed
from sidecar.wire.events import JSONDocument, Oversize, WireEvent

_JSON_WS: Final = b" \t\r\n"


class NDJSONDecoder:
    """``feed(bytes)`` returns one event per line those bytes complete; ``close()`` at the end."""

    __slots__ = ("_closed", "_lines", "_max_line")

    def __init__(self, max_line_bytes: int = 1 << 20) -> None:
        self._lines = LineSplitter(max_line_bytes, lone_cr=False)
        self._max_line = max_line_bytes
        self._closed = False

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for the partial last line (never more than ``max_line_bytes``)."""
        return self._lines.buffered_bytes

    def feed(self, data: bytes) -> list[WireEvent]:
        """Frame the next chunk."""
        if self._closed:
            raise DecoderClosed("feed() after close()")
        return self._frame(self._lines.feed(data))

    def close(self) -> list[WireEvent]:
        """End of input: the last line if it had no newline."""
        if self._closed:
            raise DecoderClosed("close() called twice")
        self._closed = True
        return self._frame(self._lines.close())

    def _frame(self, lines: list[bytes | DroppedLine]) -> list[WireEvent]:
        out: list[WireEvent] = []
        for line in lines:
            if isinstance(line, bytes):
                text = line.strip(_JSON_WS)
                if text:
                    out.append(JSONDocument(data=text))
            else:
                out.append(Oversize(size=line.size, limit=self._max_line))
        return out
