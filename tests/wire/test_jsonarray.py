"""JSONArrayDecoder: elements of a streamed JSON array, fed whole, byte by byte and split."""

from __future__ import annotations

import json

import pytest

from sidecar.wire.errors import DecoderClosed, MalformedArray
from sidecar.wire.events import JSONDocument, Oversize
from sidecar.wire.jsonarray import JSONArrayDecoder
from tests.helpers import feed_all_ways, feed_bytewise, feed_whole


def array(data: bytes, **caps: int) -> list[object]:
    return feed_all_ways(lambda: JSONArrayDecoder(**caps), data)


def docs(*items: bytes) -> list[object]:
    return [JSONDocument(data=item) for item in items]


GEMINI = (
    b'[{"candidates": [{"content": {"parts": [{"text": "Hel"}],"role": "model"}}],'
    b'"modelVersion": "gemini-2.0-flash"}\r\n,\r\n'
    b'{"candidates": [{"content": {"parts": [{"text": "lo"}],"role": "model"},'
    b'"finishReason": "STOP"}],"usageMetadata": {"promptTokenCount": 4,'
    b'"candidatesTokenCount": 2,"totalTokenCount": 6}}\r\n]'
)


def test_gemini_stream() -> None:
    events = array(GEMINI)
    assert [json.loads(e.data) for e in events if isinstance(e, JSONDocument)] == json.loads(GEMINI)
    assert len(events) == 2


def test_each_element_is_emitted_as_soon_as_it_is_complete() -> None:
    decoder = JSONArrayDecoder()
    assert decoder.feed(b'[{"a": 1') == []
    assert decoder.feed(b'}, {"b"') == docs(b'{"a": 1}')
    assert decoder.feed(b": [2]}") == docs(b'{"b": [2]}')
    assert decoder.feed(b"]") == []
    assert decoder.close() == []


def test_whitespace_anywhere_between_tokens() -> None:
    data = b' \r\n\t[ \n{ "a" : [ 1 , 2 ] }\n ,\n\n{}\t]\r\n '
    assert array(data) == docs(b'{ "a" : [ 1 , 2 ] }', b"{}")


def test_empty_array() -> None:
    assert array(b"[]") == []
    assert array(b" [ \n ] ") == []


def test_brackets_and_quotes_inside_strings_do_not_count() -> None:
    data = b'[{"t": "} ] { [ , \\" still \\\\"}, {"u": "\\\\\\""}]'
    assert array(data) == docs(b'{"t": "} ] { [ , \\" still \\\\"}', b'{"u": "\\\\\\""}')


def test_backslash_at_a_chunk_end() -> None:
    data = b'[{"t": "a\\"b"}]'
    cut = data.index(b"\\") + 1
    assert feed_all_ways(JSONArrayDecoder, data, points=[cut]) == docs(b'{"t": "a\\"b"}')


def test_nested_arrays_and_scalars_as_elements() -> None:
    data = b'[[1, [2]], "s\\"]", 12.5e3, true, false, null, -0]'
    assert array(data) == docs(b"[1, [2]]", b'"s\\"]"', b"12.5e3", b"true", b"false", b"null", b"-0")


def test_scalar_followed_by_whitespace() -> None:
    assert array(b"[1 , 2\n]") == docs(b"1", b"2")


def test_utf8_inside_strings_is_passed_through() -> None:
    data = '[{"t": "€𝄞\u2028"}]'.encode()
    assert array(data) == docs('{"t": "€𝄞\u2028"}'.encode())


def test_unterminated_array_just_ends() -> None:
    assert array(b'[{"a": 1}, {"b": ') == docs(b'{"a": 1}')
    assert array(b'[{"a": 1}, 12') == docs(b'{"a": 1}')
    assert array(b'[{"a": "open') == []
    assert array(b"") == []


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}',
        b"x[]",
        b"[,]",
        b"[1,]",
        b"[}",
        b"[:1]",
        b'[{"a": 1} {"b": 2}]',
        b'[{"a": 1}x]',
        b"[1]]",
        b"[1] x",
        b'["a""b"]',
    ],
)
def test_bad_structure_raises(data: bytes) -> None:
    with pytest.raises(MalformedArray):
        feed_whole(JSONArrayDecoder, data)
    with pytest.raises(MalformedArray):
        feed_bytewise(JSONArrayDecoder, data)


def test_decoder_refuses_input_after_an_error() -> None:
    decoder = JSONArrayDecoder()
    with pytest.raises(MalformedArray):
        decoder.feed(b"{")
    with pytest.raises(DecoderClosed):
        decoder.feed(b"[")
    with pytest.raises(DecoderClosed):
        decoder.close()


def test_decoder_refuses_input_after_close() -> None:
    decoder = JSONArrayDecoder()
    decoder.close()
    with pytest.raises(DecoderClosed):
        decoder.feed(b"[]")


def test_oversize_element_is_skipped_to_its_end() -> None:
    big = b'{"text": "' + b"]}" * 40 + b'", "n": [1, {"x": 2}]}'
    data = b'[{"a": 1}, ' + big + b', {"b": 2}]'
    assert array(data, max_element_bytes=32) == [
        JSONDocument(data=b'{"a": 1}'),
        Oversize(size=len(big), limit=32),
        JSONDocument(data=b'{"b": 2}'),
    ]


def test_oversize_string_and_scalar_elements() -> None:
    data = b'["' + b"s" * 40 + b'", ' + b"9" * 40 + b", 1]"
    assert array(data, max_element_bytes=32) == [
        Oversize(size=42, limit=32),
        Oversize(size=40, limit=32),
        JSONDocument(data=b"1"),
    ]


def test_element_at_the_cap_is_kept() -> None:
    element = b'{"k": "' + b"v" * 24 + b'"}'
    assert len(element) == 33
    assert array(b"[" + element + b"]", max_element_bytes=33) == docs(element)


def test_buffered_bytes_stay_under_the_cap() -> None:
    decoder = JSONArrayDecoder(max_element_bytes=32)
    decoder.feed(b'[{"a": "' + b"x" * 20)
    assert decoder.buffered_bytes == 27
    decoder.feed(b"x" * 20)
    assert decoder.buffered_bytes == 0
    assert decoder.feed(b'"}, 5]') == [Oversize(size=49, limit=32), JSONDocument(data=b"5")]


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_element_bytes"):
        JSONArrayDecoder(max_element_bytes=0)
