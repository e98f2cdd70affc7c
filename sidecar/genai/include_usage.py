"""Opt-in usage injection for OpenAI-format streams (``genai.inject_include_usage``).

Without ``stream_options.include_usage`` an OpenAI-format server streams no token counts. When the
option is on, the proxy adds it to the request (:func:`add_include_usage`) and removes from the
response the one extra chunk it causes — the usage-only chunk, ``"choices": []`` with ``usage`` —
before the client sees it (:class:`UsageChunkFilter`). The tap still sees the original bytes, so the
usage is recorded. Sans-I/O: bytes in, bytes out.
"""

from __future__ import annotations

import re
from typing import Final

from sidecar import _json
from sidecar.genai import _fields

#: Dialects whose streaming requests accept ``stream_options.include_usage``.
INJECTABLE: Final = frozenset({"openai_chat", "openai_completions"})

_EVENT_END: Final = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_DATA: Final = re.compile(rb"^data:[ ]?(.*)$", re.MULTILINE)


#: A usage-only chunk is a few hundred bytes; a held tail longer than this is not one.
MAX_HELD_BYTES: Final = 64 * 1024
_INSERT: Final = b'"stream_options":{"include_usage":true}'


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


def _is_usage_only(event: bytes) -> bool:
    if b'"usage"' not in event:
        return False
    data = b"\n".join(m.group(1).rstrip(b"\r") for m in _DATA.finditer(event))
    obj = _fields.parse_object(data) if data else None
    return obj is not None and obj.get("choices") == [] and isinstance(obj.get("usage"), dict)


class UsageChunkFilter:
    """Drops usage-only SSE events from a byte stream and passes everything else unchanged.

    Complete events are released as soon as their terminating blank line arrives; only the
    unterminated tail is held, at most ``max_held_bytes`` (a longer event cannot be the small
    usage chunk, so it is released unfiltered). Bytes already searched are not searched again.
    """

    __slots__ = ("_max", "_tail")

    def __init__(self, max_held_bytes: int = MAX_HELD_BYTES) -> None:
        self._max = max_held_bytes
        self._tail = b""

    def feed(self, chunk: bytes) -> bytes:
        held = len(self._tail)
        data = self._tail + chunk if held else chunk
        out: list[bytes] = []
        start = 0
        # A terminator (at most 4 bytes) may straddle the old tail and the new chunk.
        for match in _EVENT_END.finditer(data, max(0, held - 3)):
            event = data[start : match.end()]
            if not _is_usage_only(event):
                out.append(event)
            start = match.end()
        self._tail = data[start:]
        if len(self._tail) > self._max:
            out.append(self._tail)
            self._tail = b""
        return b"".join(out)

    def close(self) -> bytes:
        tail, self._tail = self._tail, b""
        return b"" if _is_usage_only(tail) else tail
