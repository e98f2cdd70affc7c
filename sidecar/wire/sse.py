"""Server-Sent Events (``text/event-stream``) decoding by the WHATWG HTML rules, sans I/O.

Fields ``event``, ``data``, ``id`` (ignored when it holds NUL) and ``retry`` (ASCII digits only,
at most 18 of them); unknown fields and ``:`` comment lines are ignored; one space after the colon
is dropped; a line without a colon is a field name with an empty value; ``data`` lines are joined
with ``\\n``; a blank line dispatches, unless no ``data`` line came (the event type is reset either
way). One leading UTF-8 BOM is stripped. Text is decoded as UTF-8 with U+FFFD for bad bytes; line
separators other than CR and LF (U+2028, U+0085) are data like any other character.

On purpose this departs from the standard at end of input: the standard drops a message that no
blank line ended, but model servers often omit the final blank line, so :meth:`SSEDecoder.close`
dispatches a pending message that has data (an unterminated last line counts as a line).

Caps: a line over ``max_line_bytes`` is skipped (one :class:`Oversize`); if it was a ``data`` or
``event`` line its message is incomplete, so the message is dropped without a second report. A
message whose data grows past ``max_event_bytes`` is dropped with one :class:`Oversize` at its end.
"""

from __future__ import annotations

from typing import Final

from sidecar.wire._lines import DroppedLine, LineSplitter
from sidecar.wire.errors import DecoderClosed
from sidecar.wire.events import Oversize, SSEMessage, WireEvent

_BOM: Final = b"\xef\xbb\xbf"
_COLON: Final = 0x3A
_DEFAULT_EVENT: Final = "message"
_MAX_RETRY_DIGITS: Final = 18  # longer values are no sane delay; int() of huge strings is costly


def one_line_blocks(data: bytes) -> list[bytes] | None:
    """The lines of a chunk that is whole blocks of one line each (every line followed by a blank
    line, LF only), how model servers write their events; ``None`` for any other chunk."""
    if not data.endswith(b"\n\n") or b"\r" in data:
        return None
    blocks = data[:-2].split(b"\n\n")
    if data.count(b"\n") != 2 * len(blocks) or b"" in blocks:
        return None
    return blocks


class SSEDecoder:
    """``feed(bytes)`` returns the messages those bytes complete; ``close()`` at end of input."""

    __slots__ = (
        "_bom_pending",
        "_closed",
        "_data",
        "_data_size",
        "_event",
        "_incomplete",
        "_last_id",
        "_lines",
        "_max_event",
        "_max_line",
        "_retry",
        "blocks",
    )

    def __init__(self, max_line_bytes: int = 1 << 20, max_event_bytes: int = 4 << 20) -> None:
        if max_event_bytes < 1:
            raise ValueError("max_event_bytes must be at least 1")
        self._lines = LineSplitter(max_line_bytes)
        self._max_line = max_line_bytes
        self._max_event = max_event_bytes
        self._closed = False
        self._bom_pending = True
        self._last_id: str | None = None  # persists across messages, as the standard says
        #: Blocks of lines ended so far: one per blank line, and one at :meth:`close`. A caller
        #: that feeds the decoder piece by piece learns from it where a block (an event) ended.
        self.blocks = 0
        self._reset()

    def _reset(self) -> None:
        """Forget the message being built (after dispatch, or a blank line without data)."""
        self._data: list[bytes] = []
        self._data_size = 0  # sum of len(value) + 1 per data line: 0 means no data line yet
        self._event = b""
        self._retry: int | None = None
        self._incomplete = False  # a data/event line of this message was skipped as too long

    @property
    def buffered_bytes(self) -> int:
        """Bytes held now: the partial line plus the data of the message being built."""
        return self._lines.buffered_bytes + sum(map(len, self._data))

    def feed(self, data: bytes) -> list[WireEvent]:
        """Decode the next chunk of the stream."""
        if self._closed:
            raise DecoderClosed("feed() after close()")
        if self._between_messages() and (blocks := one_line_blocks(data)) is not None:
            found = self._data_blocks(blocks)
            if found is not None:
                return found
        lines = self._lines.feed(data)
        if not lines:
            return []
        out: list[WireEvent] = []
        self._process(lines, out)
        return out

    def _between_messages(self) -> bool:
        """Nothing of a line or a message is pending (and a leading BOM was already looked for)."""
        return (
            not self._data_size
            and not self._event
            and self._retry is None
            and not self._incomplete
            and not self._bom_pending
            and self._lines.idle
        )

    def _data_blocks(self, blocks: list[bytes]) -> list[WireEvent] | None:
        """The messages of a chunk's :func:`one_line_blocks` when each is one ``data:`` line
        within the caps, read without splitting lines; ``None`` otherwise (the general reading
        then takes the chunk from its start)."""
        out: list[WireEvent] = []
        last_id = self._last_id
        for block in blocks:
            if not block.startswith(b"data:") or len(block) > self._max_line:
                return None
            value = block[6:] if block[5:6] == b" " else block[5:]
            if len(value) > self._max_event:
                return None
            out.append(SSEMessage(_DEFAULT_EVENT, value.decode("utf-8", "replace"), last_id))
        self.blocks += len(out)
        return out

    def close(self) -> list[WireEvent]:
        """End of input: the last line and the last message, if they carry data."""
        if self._closed:
            raise DecoderClosed("close() called twice")
        self._closed = True
        out: list[WireEvent] = []
        self._process(self._lines.close(), out)
        self._dispatch(out)
        return out

    def _process(self, lines: list[bytes | DroppedLine], out: list[WireEvent]) -> None:
        if self._bom_pending and lines:
            self._bom_pending = False
            first = lines[0]
            if isinstance(first, bytes):
                if first.startswith(_BOM):
                    lines[0] = first[3:]
            elif first.head.startswith(_BOM):
                lines[0] = DroppedLine(size=first.size, head=first.head[3:])
        for line in lines:
            if not isinstance(line, bytes):
                self._skip_line(line, out)
            elif not line:
                self._dispatch(out)
            elif line[0] != _COLON:
                name, colon, value = line.partition(b":")
                if colon and value[:1] == b" ":
                    value = value[1:]
                if name == b"data":
                    size = self._data_size + len(value) + 1
                    self._data_size = size
                    if size - 1 <= self._max_event:
                        self._data.append(value)
                    else:
                        self._data.clear()  # over the cap: keep counting, stop keeping
                elif name == b"event":
                    self._event = value
                elif name == b"id":
                    if b"\0" not in value:
                        self._last_id = value.decode("utf-8", "replace")
                elif name == b"retry" and value.isdigit() and len(value) <= _MAX_RETRY_DIGITS:
                    self._retry = int(value)  # bytes.isdigit() is true for ASCII digits only

    def _skip_line(self, line: DroppedLine, out: list[WireEvent]) -> None:
        out.append(Oversize(size=line.size, limit=self._max_line))
        name, colon, _ = line.head.partition(b":")
        whole = bool(colon) or len(name) == line.size  # the head shows the whole field name
        if whole and name in (b"data", b"event"):
            self._incomplete = True

    def _dispatch(self, out: list[WireEvent]) -> None:
        """Blank line (or end of input): hand out the message built so far, then start afresh."""
        self.blocks += 1
        size = self._data_size
        if size and not self._incomplete:
            if size - 1 > self._max_event:
                out.append(Oversize(size=size - 1, limit=self._max_event))
            else:
                data = self._data
                raw = data[0] if len(data) == 1 else b"\n".join(data)
                event = self._event.decode("utf-8", "replace") if self._event else _DEFAULT_EVENT
                out.append(
                    SSEMessage(
                        event=event,
                        data=raw.decode("utf-8", "replace"),
                        id=self._last_id,
                        retry=self._retry,
                    )
                )
        self._reset()
