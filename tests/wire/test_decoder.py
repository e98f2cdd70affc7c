"""decoder_for: the decoder chosen from the Content-Type, with its caps."""

from __future__ import annotations

import pytest

from sidecar.wire.decoder import Decoder, decoder_for, media_type
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage
from sidecar.wire.jsonarray import JSONArrayDecoder
from sidecar.wire.jsonbody import JSONBodyDecoder
from sidecar.wire.ndjson import NDJSONDecoder
from sidecar.wire.sse import SSEDecoder


def pick(content_type: str | None, *, stream_hint: bool = False) -> Decoder | None:
    return decoder_for(content_type, max_line_bytes=64, max_event_bytes=128, stream_hint=stream_hint)


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
    assert isinstance(pick(content_type), kind)


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
    assert pick(content_type) is None
    assert pick(content_type, stream_hint=True) is None


def test_stream_hint_turns_json_into_a_streamed_array() -> None:
    assert isinstance(pick("application/json", stream_hint=True), JSONArrayDecoder)
    assert isinstance(pick("text/event-stream", stream_hint=True), SSEDecoder)


def test_caps_are_passed_on() -> None:
    sse = pick("text/event-stream")
    assert sse is not None
    assert sse.feed(b"data: " + b"x" * 70 + b"\n\n") == [Oversize(size=76, limit=64)]
    line = b"data: " + b"x" * 50 + b"\n"
    assert sse.feed(line + line) == []
    assert sse.feed(line + b"\n") == [Oversize(size=152, limit=128)]
    assert sse.feed(b"data: ok\n\n") == [SSEMessage(event="message", data="ok")]

    ndjson = pick("application/x-ndjson")
    assert ndjson is not None
    assert ndjson.feed(b"z" * 65 + b"\n") == [Oversize(size=65, limit=64)]

    array = pick("application/json", stream_hint=True)
    assert array is not None
    assert array.feed(b'["' + b"a" * 200 + b'", 1]') == [
        Oversize(size=202, limit=128),
        JSONDocument(data=b"1"),
    ]

    whole = pick("application/json")
    assert whole is not None
    whole.feed(b"b" * 129)
    assert whole.close() == [Oversize(size=129, limit=128)]


def test_media_type() -> None:
    assert media_type(None) == ""
    assert media_type("Application/X-NDJSON ; charset=utf-8") == "application/x-ndjson"
