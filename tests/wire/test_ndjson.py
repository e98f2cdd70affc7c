"""NDJSONDecoder: one JSONDocument per non-blank line, fed whole, byte by byte and split."""

from __future__ import annotations

import pytest

from sidecar.wire.errors import DecoderClosed
from sidecar.wire.events import JSONDocument, Oversize
from sidecar.wire.ndjson import NDJSONDecoder
from tests.helpers import feed_all_ways


def ndjson(data: bytes, **caps: int) -> list[object]:
    return feed_all_ways(lambda: NDJSONDecoder(**caps), data)


def doc(data: bytes) -> JSONDocument:
    return JSONDocument(data=data)


def test_ollama_stream() -> None:
    data = (
        b'{"model":"m","message":{"content":"Hi"},"done":false}\n{"model":"m","done":true,"eval_count":2}\n'
    )
    assert ndjson(data) == [
        doc(b'{"model":"m","message":{"content":"Hi"},"done":false}'),
        doc(b'{"model":"m","done":true,"eval_count":2}'),
    ]


def test_crlf_line_ends_and_surrounding_whitespace_are_stripped() -> None:
    assert ndjson(b'  {"a":1} \r\n\t{"b":2}\r\n') == [doc(b'{"a":1}'), doc(b'{"b":2}')]


def test_lone_cr_does_not_end_a_line() -> None:
    assert ndjson(b'{"a":\r1}\n') == [doc(b'{"a":\r1}')]


def test_blank_lines_are_skipped() -> None:
    assert ndjson(b'\n\r\n   \n{"a":1}\n\n') == [doc(b'{"a":1}')]


def test_last_line_without_newline_comes_at_close() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a":1}\n{"b"') == [doc(b'{"a":1}')]
    assert decoder.feed(b":2}") == []
    assert decoder.close() == [doc(b'{"b":2}')]


def test_utf8_character_split_across_chunks_is_passed_through_intact() -> None:
    data = '{"t":"€"}\n'.encode()
    assert ndjson(data) == [doc('{"t":"€"}'.encode())]


def test_no_json_validation_here() -> None:
    assert ndjson(b"not json\n") == [doc(b"not json")]


def test_oversize_line_is_reported_and_the_stream_resyncs() -> None:
    data = b'{"a":1}\n{"big":"' + b"x" * 100 + b'"}\n{"b":2}\n'
    assert ndjson(data, max_line_bytes=32) == [
        doc(b'{"a":1}'),
        Oversize(size=110, limit=32),
        doc(b'{"b":2}'),
    ]


def test_oversize_last_line_at_close() -> None:
    assert ndjson(b"y" * 50, max_line_bytes=32) == [Oversize(size=50, limit=32)]


def test_closed_decoder_refuses_input() -> None:
    decoder = NDJSONDecoder()
    assert decoder.close() == []
    with pytest.raises(DecoderClosed):
        decoder.feed(b"{}\n")
    with pytest.raises(DecoderClosed):
        decoder.close()


def test_buffered_bytes() -> None:
    decoder = NDJSONDecoder()
    decoder.feed(b'{"a":1}\n{"b"')
    assert decoder.buffered_bytes == 4
