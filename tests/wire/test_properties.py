"""Properties every decoder keeps, checked with generated input.

- Cutting the input into chunks anywhere never changes the result.
- Any bytes at all give events or a WireError, nothing else; after the error the decoder is closed.
- Encoding messages and decoding them gives the messages back.
- Memory stays bounded however long a line, message or element grows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.wire.decoder import Decoder
from sidecar.wire.errors import DecoderClosed, WireError
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage
from sidecar.wire.jsonarray import JSONArrayDecoder
from sidecar.wire.jsonbody import JSONBodyDecoder
from sidecar.wire.ndjson import NDJSONDecoder
from sidecar.wire.sse import SSEDecoder
from tests.helpers import feed_chunks, split_at

Make = Callable[[], Decoder]

SSE_PIECES = [
    b"data:",
    b"data: ",
    b"event: ",
    b"id: ",
    b"retry: ",
    b"retry: 12",
    b":",
    b": ping",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"x",
    b" ",
    b"[DONE]",
    b"\0",
    b"\xef\xbb\xbf",
    b"\xe2\x82\xac",
    b"\xe2\x82",
    b"\xff",
    "\u2028".encode(),
]
JSON_PIECES = [
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b'"',
    b"\\",
    b'\\"',
    b" ",
    b"\r\n",
    b"1",
    b"-2.5e3",
    b"true",
    b"null",
    b"a",
    b'"k"',
    b"\xe2\x82\xac",
]


def pieces(alphabet: list[bytes]) -> st.SearchStrategy[bytes]:
    """Input built from meaningful fragments, mixed with raw bytes."""
    return st.one_of(
        st.lists(st.sampled_from(alphabet), max_size=60).map(b"".join),
        st.binary(max_size=200),
    )


def decoders() -> st.SearchStrategy[tuple[str, Make, bytes]]:
    """A decoder kind with small caps (so that the caps come into play), and input for it."""
    cap = st.integers(min_value=1, max_value=48)
    sse = st.tuples(st.just("sse"), cap, cap, pieces(SSE_PIECES)).map(
        lambda t: (t[0], lambda: SSEDecoder(max_line_bytes=t[1], max_event_bytes=t[2]), t[3])
    )
    ndjson = st.tuples(st.just("ndjson"), cap, pieces(SSE_PIECES + JSON_PIECES)).map(
        lambda t: (t[0], lambda: NDJSONDecoder(max_line_bytes=t[1]), t[2])
    )
    array = st.tuples(st.just("array"), cap, pieces(JSON_PIECES)).map(
        lambda t: (t[0], lambda: JSONArrayDecoder(max_element_bytes=t[1]), t[2])
    )
    valid_array = st.tuples(st.just("array"), cap, json_arrays()).map(
        lambda t: (t[0], lambda: JSONArrayDecoder(max_element_bytes=t[1]), t[2])
    )
    body = st.tuples(st.just("body"), cap, st.binary(max_size=100)).map(
        lambda t: (t[0], lambda: JSONBodyDecoder(max_body_bytes=t[1]), t[2])
    )
    return st.one_of(sse, ndjson, array, valid_array, body)


JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def json_arrays(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(JSON_VALUES, max_size=6))
    indent = draw(st.sampled_from([None, 0, 1, "\t", "\r\n"]))
    text = json.dumps(items, indent=indent, ensure_ascii=draw(st.booleans()))
    return text.encode()


def outcome(make: Make, chunks: list[bytes]) -> tuple[str, object]:
    """What a decoder makes of these chunks: its events, or the kind of WireError it raised.

    Anything other than events or a WireError fails the test (the h11 fuzz invariant).
    """
    decoder = make()
    events: list[object] = []
    try:
        for chunk in chunks:
            events.extend(decoder.feed(chunk))
        events.extend(decoder.close())
    except WireError as exc:
        with pytest.raises(DecoderClosed):
            decoder.feed(b"x")
        with pytest.raises(DecoderClosed):
            decoder.close()
        return ("error", type(exc))
    assert all(isinstance(e, SSEMessage | JSONDocument | Oversize) for e in events)
    return ("events", events)


@settings(max_examples=400, deadline=None)
@given(case=decoders(), data=st.data())
def test_any_chunking_gives_the_same_result(case: tuple[str, Make, bytes], data: st.DataObject) -> None:
    _, make, payload = case
    points = data.draw(st.lists(st.integers(0, len(payload)), max_size=8))
    whole = outcome(make, [payload])
    assert outcome(make, split_at(payload, points)) == whole
    assert outcome(make, [payload[i : i + 1] for i in range(len(payload))]) == whole


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=300), data=st.data())
def test_arbitrary_bytes_give_events_or_wire_error(payload: bytes, data: st.DataObject) -> None:
    points = data.draw(st.lists(st.integers(0, len(payload)), max_size=8))
    chunks = split_at(payload, points)
    for make in (SSEDecoder, NDJSONDecoder, JSONArrayDecoder, JSONBodyDecoder):
        outcome(make, chunks)
        outcome(partial(make, 4), chunks)  # tiny caps: the skipping paths too


# --- round trips -------------------------------------------------------------------------

FIELD_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"))


@st.composite
def sse_messages(draw: st.DrawFn) -> list[dict[str, Any]]:
    return draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "event": FIELD_TEXT,
                    "data": st.text(st.characters(codec="utf-8", exclude_characters="\r")),
                    "id": st.none() | FIELD_TEXT.filter(lambda s: "\0" not in s),
                    "retry": st.none() | st.integers(0, 10**12),
                    "comment": st.none() | FIELD_TEXT,
                }
            ),
            max_size=8,
        )
    )


def encode_sse(messages: list[dict[str, Any]], eol: bytes, bom: bool) -> bytes:
    out = [b"\xef\xbb\xbf"] if bom else []
    for m in messages:
        if m["comment"] is not None:
            out.append(b":" + m["comment"].encode() + eol)
        if m["event"]:
            out.append(b"event: " + m["event"].encode() + eol)
        if m["id"] is not None:
            out.append(b"id: " + m["id"].encode() + eol)
        if m["retry"] is not None:
            out.append(b"retry: " + str(m["retry"]).encode() + eol)
        for line in m["data"].split("\n"):
            out.append(b"data: " + line.encode() + eol)
        out.append(eol)
    return b"".join(out)


@settings(max_examples=200, deadline=None)
@given(
    messages=sse_messages(),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    bom=st.booleans(),
    data=st.data(),
)
def test_sse_encode_then_decode(
    messages: list[dict[str, Any]], eol: bytes, bom: bool, data: st.DataObject
) -> None:
    payload = encode_sse(messages, eol, bom)
    last_id: str | None = None
    expected = []
    for m in messages:
        last_id = m["id"] if m["id"] is not None else last_id
        event = m["event"] or "message"
        expected.append(SSEMessage(event=event, data=m["data"], id=last_id, retry=m["retry"]))
    points = data.draw(st.lists(st.integers(0, len(payload)), max_size=10))
    assert feed_chunks(SSEDecoder, split_at(payload, points)) == expected


@settings(max_examples=150, deadline=None)
@given(items=st.lists(JSON_VALUES, max_size=8), crlf=st.booleans(), data=st.data())
def test_ndjson_encode_then_decode(items: list[Any], crlf: bool, data: st.DataObject) -> None:
    eol = b"\r\n" if crlf else b"\n"
    payload = b"".join(json.dumps(item).encode() + eol for item in items)
    points = data.draw(st.lists(st.integers(0, len(payload)), max_size=10))
    events = feed_chunks(NDJSONDecoder, split_at(payload, points))
    assert [json.loads(e.data) for e in events if isinstance(e, JSONDocument)] == items
    assert len(events) == len(items)


@settings(max_examples=200, deadline=None)
@given(payload=json_arrays(), data=st.data())
def test_json_array_encode_then_decode(payload: bytes, data: st.DataObject) -> None:
    points = data.draw(st.lists(st.integers(0, len(payload)), max_size=10))
    events = feed_chunks(JSONArrayDecoder, split_at(payload, points))
    assert [json.loads(e.data) for e in events if isinstance(e, JSONDocument)] == json.loads(payload)
    assert len(events) == len(json.loads(payload))


# --- bounded memory ----------------------------------------------------------------------

CHUNK = 64 * 1024
TOTAL = 50 * 1024 * 1024
LINE_CAP = 1 << 20
EVENT_CAP = 4 << 20


def feed_endless(decoder: Decoder, head: bytes, chunk: bytes, cap: int, total: int = TOTAL) -> int:
    """Feed ``head`` then ``chunk`` until ``total`` bytes have gone in, checking after every chunk
    that the buffer stays within ``cap``; return how many events came out."""
    assert decoder.feed(head) == []
    events = 0
    for _ in range(total // len(chunk)):
        events += len(decoder.feed(chunk))
        assert decoder.buffered_bytes <= cap
    return events


@pytest.mark.parametrize(
    ("make", "head", "cap"),
    [
        (lambda: SSEDecoder(LINE_CAP, EVENT_CAP), b"data: ", LINE_CAP),
        (lambda: NDJSONDecoder(LINE_CAP), b'{"a": "', LINE_CAP),
        (lambda: JSONArrayDecoder(EVENT_CAP), b'[{"a": "', EVENT_CAP),
        (lambda: JSONBodyDecoder(EVENT_CAP), b'{"a": "', EVENT_CAP),
    ],
    ids=["sse-line", "ndjson-line", "array-string", "json-body"],
)
def test_endless_line_keeps_memory_bounded(make: Make, head: bytes, cap: int) -> None:
    decoder = make()
    assert feed_endless(decoder, head, b"x" * CHUNK, cap) == 0
    assert decoder.buffered_bytes == 0  # everything past the cap was let go
    expected = [] if isinstance(decoder, JSONArrayDecoder) else [Oversize(size=TOTAL + len(head), limit=cap)]
    assert decoder.close() == expected  # an unfinished array has no last element to report


def test_json_array_endless_nesting_keeps_memory_bounded() -> None:
    decoder = JSONArrayDecoder(LINE_CAP)
    chunk = b'{"k": [1, "s", {"t": "\\"]"}, ' * (CHUNK // 32)
    assert feed_endless(decoder, b"[", chunk, LINE_CAP, total=8 * LINE_CAP) == 0
    assert decoder.buffered_bytes == 0
    assert decoder.close() == []


def test_sse_endless_message_keeps_memory_bounded() -> None:
    decoder = SSEDecoder(LINE_CAP, EVENT_CAP)
    line = b"data: " + b"y" * 1018 + b"\n"
    assert feed_endless(decoder, b"", line * (CHUNK // len(line)), LINE_CAP + EVENT_CAP) == 0
    [event] = decoder.close()
    assert isinstance(event, Oversize)
    assert event.limit == EVENT_CAP
    assert event.size > TOTAL * 0.99


BLOCK_LINES = st.one_of(
    st.lists(st.sampled_from([b"x", b" ", b"{", b'"k"', b":", b"\xe2\x82\xac", b"\xff", b"\0"]), max_size=12)
    .map(b"".join)
    .map(lambda v: b"data: " + v),
    st.sampled_from([b"data:", b"data:x", b"data", b": ping", b"event: e", b"id: 7", b"retry: 5"]),
    st.sampled_from([b"data: a\ndata: b", b"data: a\r", b"\xef\xbb\xbfdata: a", b""]),
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(BLOCK_LINES, min_size=1, max_size=10),
    sizes=st.lists(st.integers(1, 4), max_size=10),
    line_cap=st.sampled_from([4, 12, 1 << 20]),
    event_cap=st.sampled_from([4, 12, 1 << 20]),
)
def test_sse_chunks_of_whole_blocks_decode_as_bytewise(
    lines: list[bytes], sizes: list[int], line_cap: int, event_cap: int
) -> None:
    """Model servers write whole ``data:`` blocks per chunk, which the decoder reads without
    splitting lines; any block, cap or chunking gives what byte-by-byte decoding gives."""
    blocks = [line + b"\n\n" for line in lines]
    chunks = [b": first\n\n"]
    for size in sizes:
        chunks.append(b"".join(blocks[:size]))
        blocks = blocks[size:]
    chunks.append(b"".join(blocks))
    payload = b"".join(chunks)

    def make() -> SSEDecoder:
        return SSEDecoder(max_line_bytes=line_cap, max_event_bytes=event_cap)

    assert outcome(make, chunks) == outcome(make, [payload[i : i + 1] for i in range(len(payload))])
