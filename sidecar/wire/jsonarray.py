"""A JSON array streamed element by element, sans I/O.

Gemini's ``streamGenerateContent`` without ``alt=sse`` answers ``application/json`` with one array,
``[{...},\\r\\n{...}]``, sent a piece at a time. Each top-level element is handed out, as its raw
bytes, the moment its last byte arrives. Whitespace may appear between any tokens.

The scanner keeps its state (nesting depth, inside a string, after a backslash) between chunks, so
no byte is looked at twice, and it jumps with precompiled patterns from one structural byte to the
next instead of stepping through bytes in Python. It checks the array's own punctuation (the
opening ``[``, the ``,`` between elements, the closing ``]``) and raises :class:`MalformedArray`
when that is wrong; it does not validate the elements, which the dialect parses.
"""

from __future__ import annotations

import re
from typing import Final

from sidecar.wire.errors import DecoderClosed, MalformedArray
from sidecar.wire.events import JSONDocument, Oversize, WireEvent

# Inside an element, outside strings: everything up to the next bracket, whole strings
# included. It stops at a bracket, at the end of the chunk, or at the opening quote of a string
# that this chunk does not finish. Possessive quantifiers: a failed try never backtracks.
_SKIP: Final = re.compile(rb'(?:[^"\[\]{}]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.DOTALL)
# The rest of a string that began in an earlier chunk, same stopping rules.
_STRING_REST: Final = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*(")?', re.DOTALL)
# The byte after a number or a literal (true, false, null).
_SCALAR_END: Final = re.compile(rb'[ \t\r\n,\[\]{}"]')
_NOT_WS: Final = re.compile(rb"[^ \t\r\n]")

_QUOTE: Final = 0x22
_COMMA: Final = 0x2C
_OPEN: Final = frozenset(b"[{")
_CLOSE_ARRAY: Final = 0x5D
_BAD_START: Final = frozenset(b",]}:")

# Scanner states.
_BEFORE: Final = 0  # before the opening [
_FIRST: Final = 1  # after [: an element or ]
_NEXT: Final = 2  # after a comma: an element
_IN_VALUE: Final = 3  # inside an object or array element, outside strings
_IN_STRING: Final = 4  # inside a string (at depth 0 the element is the string)
_IN_SCALAR: Final = 5  # inside a number or literal element
_AFTER: Final = 6  # after an element: , or ]
_DONE: Final = 7  # after the closing ]: whitespace only


class JSONArrayDecoder:
    """``feed(bytes)`` returns the elements those bytes complete; ``close()`` at end of input.

    An element longer than ``max_element_bytes`` is not kept: it is scanned to its end and
    reported once as :class:`Oversize`. ``close()`` on an unfinished array just ends; the dialect
    notices the missing last element.
    """

    __slots__ = ("_buf", "_closed", "_depth", "_escape", "_max", "_size", "_skipping", "_state")

    def __init__(self, max_element_bytes: int = 4 << 20) -> None:
        if max_element_bytes < 1:
            raise ValueError("max_element_bytes must be at least 1")
        self._max = max_element_bytes
        self._state = _BEFORE
        self._depth = 0
        self._escape = False  # the last chunk ended on a backslash inside a string
        self._buf = bytearray()  # the element so far, from earlier chunks
        self._size = 0  # bytes of the element so far, kept or not
        self._skipping = False  # the element passed the cap
        self._closed = False

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for the unfinished element (never more than ``max_element_bytes``)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[WireEvent]:
        """Scan the next chunk."""
        if self._closed:
            raise DecoderClosed("feed() after close() or an error")
        try:
            return self._scan(data)
        except MalformedArray:
            self._closed = True
            raise

    def close(self) -> list[WireEvent]:
        """End of input. Nothing is pending that could still be emitted."""
        if self._closed:
            raise DecoderClosed("close() after close() or an error")
        self._closed = True
        self._buf = bytearray()
        return []

    def _scan(self, data: bytes) -> list[WireEvent]:
        out: list[WireEvent] = []
        n = len(data)
        pos = 0
        state = self._state
        depth = self._depth
        start = 0 if state in (_IN_VALUE, _IN_STRING, _IN_SCALAR) else -1  # element start
        while pos < n:
            if state == _IN_VALUE:
                m = _SKIP.match(data, pos)
                assert m is not None  # the pattern matches the empty string
                pos = m.end()
                if pos == n:
                    break
                c = data[pos]
                pos += 1
                if c == _QUOTE:
                    state = _IN_STRING  # a string that goes on in the next chunk
                elif c in _OPEN:
                    depth += 1
                else:
                    depth -= 1
                    if depth == 0:
                        self._emit(data, start, pos, out)
                        state = _AFTER
            elif state == _IN_STRING:
                if self._escape:
                    self._escape = False
                    pos += 1
                    continue
                m = _STRING_REST.match(data, pos)
                assert m is not None  # the pattern matches the empty string
                pos = m.end()
                if m.group(1) is not None:
                    if depth == 0:
                        self._emit(data, start, pos, out)
                        state = _AFTER
                    else:
                        state = _IN_VALUE
                elif pos < n:  # stopped on a backslash that ends the chunk
                    self._escape = True
                    pos = n
            elif state == _IN_SCALAR:
                m = _SCALAR_END.search(data, pos)
                if m is None:
                    break
                pos = m.start()
                self._emit(data, start, pos, out)
                state = _AFTER
            else:
                m = _NOT_WS.search(data, pos)
                if m is None:
                    break
                i = m.start()
                c = data[i]
                pos = i + 1
                if state == _AFTER:
                    if c == _COMMA:
                        state = _NEXT
                    elif c == _CLOSE_ARRAY:
                        state = _DONE
                    else:
                        raise MalformedArray(f"expected ',' or ']' after an element, got {c:#04x}")
                elif state in (_FIRST, _NEXT):
                    start = i
                    if c in _OPEN:
                        depth = 1
                        state = _IN_VALUE
                    elif c == _QUOTE:
                        depth = 0
                        state = _IN_STRING
                    elif c == _CLOSE_ARRAY and state == _FIRST:
                        start = -1
                        state = _DONE
                    elif c in _BAD_START:
                        raise MalformedArray(f"expected an element, got {c:#04x}")
                    else:
                        state = _IN_SCALAR
                elif state == _BEFORE:
                    if c != 0x5B:
                        raise MalformedArray(f"a JSON array starts with '[', got {c:#04x}")
                    state = _FIRST
                else:
                    raise MalformedArray(f"data after the closing ']': {c:#04x}")
        self._state = state
        self._depth = depth
        if state in (_IN_VALUE, _IN_STRING, _IN_SCALAR):
            self._carry(data, start)
        return out

    def _carry(self, data: bytes, start: int) -> None:
        """Keep the unfinished element's bytes from this chunk, within the cap."""
        size = self._size + len(data) - start
        self._size = size
        if self._skipping:
            return
        if size > self._max:
            self._skipping = True
            self._buf = bytearray()  # let the memory go, not just the length
        else:
            self._buf += data[start:]

    def _emit(self, data: bytes, start: int, end: int, out: list[WireEvent]) -> None:
        """The element ends at ``end``: hand it out, or report it as too long."""
        size = self._size + end - start
        if self._skipping or size > self._max:
            out.append(Oversize(size=size, limit=self._max))
        elif self._buf:
            out.append(JSONDocument(data=bytes(self._buf) + data[start:end]))
        else:
            out.append(JSONDocument(data=data[start:end]))
        self._buf.clear()
        self._size = 0
        self._skipping = False
