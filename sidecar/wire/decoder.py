"""The Decoder protocol and the choice of decoder from a response's Content-Type."""

from __future__ import annotations

from typing import Final, Protocol

from sidecar.wire.events import WireEvent
from sidecar.wire.jsonarray import JSONArrayDecoder
from sidecar.wire.jsonbody import JSONBodyDecoder
from sidecar.wire.ndjson import NDJSONDecoder
from sidecar.wire.sse import SSEDecoder


class Decoder(Protocol):
    """A sans-I/O framing decoder: bytes in, events out.

    ``feed`` and ``close`` raise only :class:`~sidecar.wire.errors.WireError`; after one is raised,
    or after ``close``, both raise :class:`~sidecar.wire.errors.DecoderClosed`.
    """

    def feed(self, data: bytes) -> list[WireEvent]:
        """Events completed by the next chunk."""
        ...

    def close(self) -> list[WireEvent]:
        """End of input: events still pending."""
        ...

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for incomplete input; bounded by the decoder's caps."""
        ...


_NDJSON_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/jsonlines"}
)


def media_type(content_type: str | None) -> str:
    """The lower-case ``type/subtype`` of a Content-Type header, parameters dropped."""
    if not content_type:
        return ""
    return content_type.partition(";")[0].strip().lower()


def decoder_for(
    content_type: str | None,
    *,
    max_line_bytes: int,
    max_event_bytes: int,
    stream_hint: bool = False,
) -> Decoder | None:
    """A fresh decoder for a response body of this Content-Type, or ``None`` for other types.

    ``max_line_bytes`` caps one line (SSE, NDJSON); ``max_event_bytes`` caps one SSE message's
    data, one streamed array element or one whole JSON body. ``stream_hint`` says that an
    ``application/json`` body is a streamed JSON array (Gemini ``streamGenerateContent``
    without ``alt=sse``) rather than one document.
    """
    kind = media_type(content_type)
    if kind == "text/event-stream":
        return SSEDecoder(max_line_bytes=max_line_bytes, max_event_bytes=max_event_bytes)
    if kind in _NDJSON_TYPES:
        return NDJSONDecoder(max_line_bytes=max_line_bytes)
    if kind == "application/json":
        if stream_hint:
            return JSONArrayDecoder(max_element_bytes=max_event_bytes)
        return JSONBodyDecoder(max_body_bytes=max_event_bytes)
    return None
