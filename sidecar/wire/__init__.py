"""Sans-I/O framing decoders: bytes in, events out. Standard library only."""

from __future__ import annotations

from sidecar.wire.decoder import Decoder, decoder_for, media_type
from sidecar.wire.errors import DecoderClosed, MalformedArray, WireError
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage, WireEvent
from sidecar.wire.jsonarray import JSONArrayDecoder
from sidecar.wire.jsonbody import JSONBodyDecoder
from sidecar.wire.ndjson import NDJSONDecoder
from sidecar.wire.sse import SSEDecoder

__all__ = [
    "Decoder",
    "DecoderClosed",
    "JSONArrayDecoder",
    "JSONBodyDecoder",
    "JSONDocument",
    "MalformedArray",
    "NDJSONDecoder",
    "Oversize",
    "SSEDecoder",
    "SSEMessage",
    "WireError",
    "WireEvent",
    "decoder_for",
    "media_type",
]
