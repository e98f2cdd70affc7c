"""Split a byte stream into lines, across chunk boundaries, with a cap on line length.

Lines are split on bytes and handed out without their line end; decoding text is the caller's
business, done once per complete line. The pending partial line holds no line-end byte, so new
input is the only thing ever searched: no byte is scanned twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, cast

_EOL: Final = re.compile(rb"\r\n?|\n")
_HEAD_BYTES: Final = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class DroppedLine:
    """A line longer than the cap, skipped rather than buffered.

    ``size`` is the whole line's length in bytes (line end excluded); ``head`` its first 16 bytes
    (or all of it if shorter), enough to tell what kind of line it was (an SSE comment, a field).
    """

    size: int
    head: bytes


Line = bytes | DroppedLine


class LineSplitter:
    """Bytes in, complete lines out.

    With ``lone_cr`` (the default, for Server-Sent Events) CR, LF and CRLF all end a line; a CR
    that ends one chunk and an LF that starts the next are one line end. A line ending in CR is
    handed out at once, not held back to see whether an LF follows. Without ``lone_cr`` (NDJSON)
    only LF ends a line and a CR stays in the line.

    A line longer than ``max_line_bytes`` is never accumulated: it is counted while its bytes pass
    and reported once, as a :class:`DroppedLine`, when it ends (or at :meth:`close`). The splitter
    then goes on at the next line.
    """

    __slots__ = ("_buf", "_dropped", "_dropping", "_head", "_lone_cr", "_max", "_skip_lf")

    def __init__(self, max_line_bytes: int, *, lone_cr: bool = True) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be at least 1")
        self._max = max_line_bytes
        self._lone_cr = lone_cr
        self._buf = bytearray()  # the pending partial line; never holds a line-end byte
        self._skip_lf = False  # the previous chunk ended in CR: an LF first is part of that end
        self._dropping = False  # inside an overlong line: count, do not keep
        self._dropped = 0
        self._head = b""

    @property
    def idle(self) -> bool:
        """No partial line is pending: the next chunk starts a new line."""
        return not (self._buf or self._dropping or self._skip_lf)

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for the pending partial line (never more than ``max_line_bytes``)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Line]:
        """Take the next chunk; return the lines it completes, in order."""
        if not data:  # an empty chunk changes nothing, not even a pending CR's state
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
                if not data:
                    return []
        if not self._lone_cr:
            parts = data.split(b"\n")
        elif b"\r" in data:
            parts = _EOL.split(data)
            self._skip_lf = data[-1] == 0x0D
        else:
            parts = data.split(b"\n")
        tail = parts.pop()  # the bytes after the last line end: the start of the next line
        lines = cast("list[Line]", parts)  # ours to change: overlong lines get replaced
        if lines:
            first = parts[0]
            if self._dropping:
                head = self._head
                if len(head) < _HEAD_BYTES:
                    head = (head + first[:_HEAD_BYTES])[:_HEAD_BYTES]
                lines[0] = DroppedLine(size=self._dropped + len(first), head=head)
                self._dropping = False
                self._dropped = 0
            elif self._buf:
                joined = bytes(self._buf) + first
                self._buf.clear()
                lines[0] = joined
                if len(joined) > self._max:
                    lines[0] = DroppedLine(size=len(joined), head=joined[:_HEAD_BYTES])
            if len(data) > self._max:  # only then can a line inside this chunk be too long
                self._drop_long(lines)
            if tail:
                self._start(tail)
        elif tail:
            self._extend(tail)
        return lines

    def close(self) -> list[Line]:
        """End of input: the unterminated last line, if any. The splitter is then empty."""
        self._skip_lf = False
        if self._dropping:
            line: Line = DroppedLine(size=self._dropped, head=self._head)
            self._dropping = False
            self._dropped = 0
            return [line]
        if self._buf:
            last = bytes(self._buf)
            self._buf.clear()
            return [last]
        return []

    def _drop_long(self, lines: list[Line]) -> None:
        """Replace each complete line over the cap by its :class:`DroppedLine`."""
        limit = self._max
        for i, line in enumerate(lines):
            if isinstance(line, bytes) and len(line) > limit:
                lines[i] = DroppedLine(size=len(line), head=line[:_HEAD_BYTES])

    def _start(self, tail: bytes) -> None:
        """Begin a new partial line (the splitter holds none)."""
        if len(tail) > self._max:
            self._dropping = True
            self._dropped = len(tail)
            self._head = tail[:_HEAD_BYTES]
        else:
            self._buf += tail

    def _extend(self, more: bytes) -> None:
        """Continue the pending partial line (no line end in ``more``)."""
        if self._dropping:
            self._dropped += len(more)
            if len(self._head) < _HEAD_BYTES:  # only with a cap below the head size
                self._head = (self._head + more[:_HEAD_BYTES])[:_HEAD_BYTES]
        elif len(self._buf) + len(more) > self._max:
            self._dropping = True
            self._dropped = len(self._buf) + len(more)
            self._head = (bytes(self._buf[:_HEAD_BYTES]) + more[:_HEAD_BYTES])[:_HEAD_BYTES]
            self._buf = bytearray()  # let the memory go, not just the length
        else:
            self._buf += more
