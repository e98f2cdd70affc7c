"""Usage injection for OpenAI-format streams (``genai.inject_include_usage``, on by default).

Without ``stream_options.include_usage`` an OpenAI-format server streams no token counts. The
proxy adds it to the request (:func:`add_include_usage`) and removes from the response the one
extra event it causes — the usage-only chunk, ``"choices": []`` with ``usage`` — before the client
sees it (:class:`UsageChunkFilter`), so the client receives the bytes it would have received had
it called the server directly. The tap still sees the original bytes, so the usage is recorded.
Sans-I/O: bytes in, bytes out.
"""

from __future__ import annotations

import re
from typing import Final

from sidecar import _json
from sidecar.genai import _fields
from sidecar.wire.events import SSEMessage, WireEvent
from sidecar.wire.sse import SSEDecoder, one_line_blocks

#: Dialects whose streaming requests accept ``stream_options.include_usage``.
INJECTABLE: Final = frozenset({"openai_chat", "openai_completions"})

#: A usage-only chunk is a few hundred bytes; a held block longer than this is not one.
MAX_HELD_BYTES: Final = 64 * 1024
_INSERT: Final = b'"stream_options":{"include_usage":true}'

#: Runs of line-end bytes: a blank line (the end of an SSE block) can only end inside one, at a
#: line-end byte that follows another line-end byte.
_EOL_RUN: Final = re.compile(rb"[\r\n]{2,}")
_EOL_BYTES: Final = frozenset(b"\r\n")
_CR: Final = 0x0D
_LF: Final = 0x0A
_EMPTY_CHOICES: Final = re.compile(r'"choices"\s*:\s*\[\s*\]')
_EMPTY_CHOICES_BYTES: Final = re.compile(rb'"choices"\s*:\s*\[\s*\]')


def add_include_usage(body: bytes) -> bytes | None:
    """The request body with ``stream_options.include_usage = true``; None if it is not a JSON object.

    Without ``stream_options`` the member is inserted as text, so every other byte of the body
    (number spellings included) reaches the model server as the client wrote it.
    """
    obj = _fields.parse_object(body)
    if obj is None:
        return None
    options = obj.get("stream_options")
    if options is None and "stream_options" not in obj:
        start = body.index(b"{") + 1
        empty = not obj
        return body[:start] + _INSERT + (b"" if empty else b",") + body[start:]
    obj["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return _json.dumps(obj)


def is_usage_only(data: str) -> bool:
    """Whether an SSE message's data is the usage-only chunk: ``choices`` empty, ``usage`` an object."""
    if '"usage"' not in data or _EMPTY_CHOICES.search(data) is None:
        return False
    obj = _fields.parse_object(data)
    return obj is not None and obj.get("choices") == [] and isinstance(obj.get("usage"), dict)


def _plain_blocks(chunk: bytes) -> bool:
    """Whether ``chunk`` is :func:`~sidecar.wire.sse.one_line_blocks` none of which can be the
    usage-only event: the common chunk, which then passes without being decoded. A block's one
    line is its data, so the bytes tell whether it has ``"usage"`` and empty ``choices``."""
    blocks = one_line_blocks(chunk)
    return blocks is not None and not any(
        b'"usage"' in block and _EMPTY_CHOICES_BYTES.search(block) is not None for block in blocks
    )


class UsageChunkFilter:
    """Removes the usage-only SSE event from a byte stream and passes every other byte unchanged.

    The stream is framed by the same :class:`~sidecar.wire.sse.SSEDecoder` that decodes it for
    telemetry, so the filter and the decoder always agree on where an event ends, whatever mix of
    CR, LF and CRLF the server writes. A block of lines (an event, a comment, up to and including
    its blank line) is held only until its blank line arrives, then released, or dropped when it
    is the usage-only event; the LF of a CRLF that ends a block goes with that block. A block
    longer than ``max_held_bytes`` cannot be the small usage chunk and is released unfiltered as
    it arrives. After the one usage chunk is removed, the rest of the stream passes untouched.
    """

    __slots__ = (
        "_after_eol",
        "_decoder",
        "_done",
        "_held",
        "_held_size",
        "_lf",
        "_max",
        "_passing",
        "_started",
    )

    def __init__(self, max_held_bytes: int = MAX_HELD_BYTES) -> None:
        self._max = max_held_bytes
        self._decoder = SSEDecoder(max_line_bytes=max_held_bytes, max_event_bytes=max_held_bytes)
        self._held: list[bytes] = []
        self._held_size = 0
        self._after_eol = True  # the last byte seen ended a line (or none was seen yet)
        self._lf: bool | None = None  # a block ended at a CR: an LF next is its (True: dropped)
        self._passing = False  # the current block is over the cap: released as it comes
        self._done = False  # the usage chunk was removed: the rest passes unchanged
        self._started = False  # a chunk went through the decoder (a leading BOM was seen to)

    def feed(self, chunk: bytes) -> bytes:
        """The bytes of ``chunk`` (and of earlier held blocks) that may go to the client now."""
        if not chunk:
            return b""
        if self._done:
            if self._lf and chunk[0] == _LF:  # the LF of the removed event's closing CRLF
                chunk = chunk[1:]
            self._lf = None
            return chunk
        idle = self._started and self._lf is None and not (self._held or self._passing)
        if idle and _plain_blocks(chunk):
            return chunk  # whole one-line blocks, none the usage event: nothing to decode
        self._started = True
        out: list[bytes] = []
        self._pieces(chunk, out)
        return b"".join(out)

    def close(self) -> bytes:
        """End of the stream: what is still held, unless it is the usage-only event."""
        if self._done:
            return b""
        held = b"".join(self._held)
        self._held.clear()
        if self._drop(self._decoder.close()):
            return b""
        return held

    def _pieces(self, chunk: bytes, out: list[bytes]) -> None:
        """Feed ``chunk`` to the decoder cut after every byte where a block may end."""
        cuts: list[int] = []
        if self._after_eol and chunk[0] in _EOL_BYTES:
            cuts.append(1)
        for run in _EOL_RUN.finditer(chunk):
            cuts.extend(range(run.start() + 2, run.end() + 1))
        if not cuts or cuts[-1] != len(chunk):
            cuts.append(len(chunk))
        self._after_eol = chunk[-1] in _EOL_BYTES
        start = 0
        for end in cuts:
            piece = chunk[start:end]
            start = end
            if self._piece(piece, out):
                rest = chunk[end:]
                if piece[-1] == _CR and rest[:1] == b"\n":
                    rest = rest[1:]
                elif piece[-1] == _CR and not rest:
                    self._lf = True
                out.append(rest)
                return

    def _piece(self, piece: bytes, out: list[bytes]) -> bool:
        """Feed one piece; True when it ended the usage-only event, which was dropped."""
        decoder = self._decoder
        if self._lf is not None:
            self._lf = None
            if piece[0] == _LF:  # the LF of the CRLF that ended the block just released
                decoder.feed(b"\n")
                out.append(b"\n")
                piece = piece[1:]
                if not piece:
                    return False
        blocks = decoder.blocks
        events = decoder.feed(piece)
        if self._passing:
            out.append(piece)
        else:
            self._held.append(piece)
            self._held_size += len(piece)
        if decoder.blocks == blocks:
            if not self._passing and self._held_size > self._max:
                self._release(out)
                self._passing = True
            return False
        ended_at_cr = piece[-1] == _CR
        if not self._passing and self._drop(events):
            self._held.clear()
            self._held_size = 0
            self._done = True
            return True
        self._release(out)
        self._passing = False
        if ended_at_cr:
            self._lf = False
        return False

    def _drop(self, events: list[WireEvent]) -> bool:
        messages = [e for e in events if isinstance(e, SSEMessage)]
        return len(messages) == 1 and is_usage_only(messages[0].data)

    def _release(self, out: list[bytes]) -> None:
        out.extend(self._held)
        self._held.clear()
        self._held_size = 0
