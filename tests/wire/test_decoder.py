"""decoder_for: the decoder chosen from the Content-Type, with its caps."""

from __future__ import annotations

import pytest

from sidecar.wire.decoder import decoder_for, media_type
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage
from sidecar.wire.jsonarray import JSONArrayDecoder
from sidecar.wire.jsonbody import JSONBodyDecoder
from sidecar.wire.ndjson import NDJSONDecoder
from sidecar.wire.sse import SSEDecoder

CAPS = {"max_line_bytes": 64, "max_event_bytes": 128}


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("text/event-stream", SSEDecoder),
        ("Text/Event-Stream; charset=utf-8", SSEDecoder),
        ("application/x-ndjson", NDJSONDecoder),
        ("application/x-ndjson; charset=utf-8", NDJSONDecoder),
        ("application/jsonl", NDJSONDecoder),
        ("application/jsonlines", NDJSONDecoder),
        ("application/json", JSONBodyDecoder),
        (" APPLICATION/JSON ;charset=UTF-8", JSONBodyDecoder),
    ],
)
def test_known_types(content_type: str, kind: type) -> None:
    assert isinstance(decoder_for(content_type, **CAPS), kind)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "text/html; charset=utf-8",
        "application/octet-stream",
        "application/problem+json",
        "text/event-streamx",
    ],
)
def test_other_types_get_no_decoder(content_type: str | None) -> None:
    assert decoder_for(content_type, **CAPS) is None
    assert decoder_for(content_type, stream_hint=True, **CAPS) is None


def test_stream_hint_turns_json_into_a_streamed_array() -> None:
    assert isinstance(decoder_for("application/json", stream_hint=True, **CAPS), JSONArrayDecoder)
    assert isinstance(decoder_for("text/event-stream", stream_hint=True, **CAPS), SSEDecoder)


def test_caps_are_passed_on() -> None:
    sse = decoder_for("text/event-stream", **CAPS)
    assert sse is not None
    assert sse.feed(b"data: " + b"x" * 70 + b"\n\n") == [Oversize(size=76, limit=64)]
    line = b"data: " + b"x" * 50 + b"\n"
    assert sse.feed(line + line) == []
    assert sse.feed(line + b"\n") == [Oversize(size=152, limit=128)]
    assert sse.feed(b"data: ok\n\n") == [SSEMessage(event="message", data="ok")]

    ndjson = decoder_for("application/x-ndjson", **CAPS)
    assert ndjson is not None
    assert ndjson.feed(b"z" * 65 + b"\n") == [Oversize(size=65, limit=64)]

    array = decoder_for("application/json", stream_hint=True, **CAPS)
    assert array is not None
    assert array.feed(b'["' + b"a" * 200 + b'", 1]') == [
        Oversize(size=202, limit=128),
        JSONDocument(data=b"1"),
    ]

    whole = decoder_for("application/json", **CAPS)
    assert whole is not None
    whole.feed(b"b" * 129)
    assert whole.close() == [Oversize(size=129, limit=128)]


def test_media_type() -> None:
    assert media_type(None) == ""
    assert media_type("Application/X-NDJSON ; charset=utf-8") == "application/x-ndjson"
