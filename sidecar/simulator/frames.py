"""Byte framing shared by the API modules: SSE events and NDJSON lines."""

from __future__ import annotations

import datetime
from typing import Final

from sidecar import _json

SSE_CONTENT_TYPE: Final = "text/event-stream; charset=utf-8"
NDJSON_CONTENT_TYPE: Final = "application/x-ndjson"
SSE_DONE: Final = b"data: [DONE]\n\n"


def sse(obj: object, event: str | None = None) -> bytes:
    """One SSE event: optional ``event:`` line, one ``data:`` line of compact JSON, blank line."""
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + _json.dumps(obj) + b"\n\n"


def sse_truncated(obj: object, event: str | None = None) -> bytes:
    """Like :func:`sse`, but the JSON stops halfway: a well-framed event that does not parse."""
    data = _json.dumps(obj)
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + data[: len(data) // 2] + b"\n\n"


def ndjson(obj: object) -> bytes:
    """One NDJSON line."""
    return _json.dumps(obj) + b"\n"


def ndjson_truncated(obj: object) -> bytes:
    """An NDJSON line whose JSON stops halfway."""
    data = _json.dumps(obj)
    return data[: len(data) // 2] + b"\n"


def rfc3339_now() -> str:
    """Current UTC time as Ollama writes it, e.g. ``2024-05-01T12:00:00.123456Z``."""
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
