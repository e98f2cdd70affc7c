"""JSONBodyDecoder: a whole body, bounded, emitted once at close."""

from __future__ import annotations

import pytest

from sidecar.wire.errors import DecoderClosed
from sidecar.wire.events import JSONDocument, Oversize
from sidecar.wire.jsonbody import JSONBodyDecoder
from tests.helpers import feed_all_ways


def body(data: bytes, **caps: int) -> list[object]:
    return feed_all_ways(lambda: JSONBodyDecoder(**caps), data)


def test_whole_body_at_close() -> None:
    data = b'{\r\n  "id": "chatcmpl-1",\n  "usage": {"prompt_tokens": 3}\n}\n'
    assert body(data) == [JSONDocument(data=data)]


def test_nothing_before_close() -> None:
    decoder = JSONBodyDecoder()
    assert decoder.feed(b'{"a":') == []
    assert decoder.feed(b"1}") == []
    assert decoder.buffered_bytes == 7
    assert decoder.close() == [JSONDocument(data=b'{"a":1}')]
    assert decoder.buffered_bytes == 0


def test_empty_body_yields_nothing() -> None:
    assert body(b"") == []


def test_body_at_the_cap_is_kept() -> None:
    assert body(b"x" * 16, max_body_bytes=16) == [JSONDocument(data=b"x" * 16)]


def test_oversize_body_is_dropped_and_counted() -> None:
    decoder = JSONBodyDecoder(max_body_bytes=16)
    decoder.feed(b"x" * 10)
    assert decoder.buffered_bytes == 10
    decoder.feed(b"x" * 10)
    assert decoder.buffered_bytes == 0
    decoder.feed(b"x" * 10)
    assert decoder.buffered_bytes == 0
    assert decoder.close() == [Oversize(size=30, limit=16)]
    assert body(b"y" * 17, max_body_bytes=16) == [Oversize(size=17, limit=16)]


def test_closed_decoder_refuses_input() -> None:
    decoder = JSONBodyDecoder()
    decoder.close()
    with pytest.raises(DecoderClosed):
        decoder.feed(b"{}")
    with pytest.raises(DecoderClosed):
        decoder.close()


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        JSONBodyDecoder(max_body_bytes=0)
