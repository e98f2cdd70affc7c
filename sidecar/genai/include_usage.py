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


def add_include_usage(body: bytes) -> bytes | None:
    """The request body with ``stream_options.include_usage = true``; None if it is not a JSON object."""
    obj = _fields.parse_object(body)
    if obj is None:
        return None
    options = obj.get("stream_options")
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
    unterminated tail is held, and a tail over ``max_event_bytes`` is released unfiltered.
    """

    __slots__ = ("_max", "_tail")

    def __init__(self, max_event_bytes: int) -> None:
        self._max = max_event_bytes
        self._tail = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._tail + chunk if self._tail else chunk
        out: list[bytes] = []
        start = 0
        for match in _EVENT_END.finditer(data):
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
