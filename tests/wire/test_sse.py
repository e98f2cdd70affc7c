"""SSEDecoder: named edge cases, each fed whole, byte by byte and split."""

from __future__ import annotations

import pytest

from sidecar.wire.errors import DecoderClosed
from sidecar.wire.events import Oversize, SSEMessage
from sidecar.wire.sse import SSEDecoder
from tests.helpers import feed_all_ways, feed_split


def sse(data: bytes, *, points: tuple[int, ...] = (), **caps: int) -> list[object]:
    return feed_all_ways(lambda: SSEDecoder(**caps), data, points=points)


def msg(data: str, event: str = "message", id: str | None = None, retry: int | None = None) -> SSEMessage:
    return SSEMessage(event=event, data=data, id=id, retry=retry)


def test_single_message() -> None:
    assert sse(b'data: {"a":1}\n\n') == [msg('{"a":1}')]


def test_lf_crlf_and_cr_line_ends_are_all_line_ends() -> None:
    assert sse(b"data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\r\n\n") == [
        msg("a"),
        msg("b"),
        msg("c"),
        msg("d"),
    ]


@pytest.mark.parametrize("cut", [7, 8, 9, 10])
def test_crlf_split_across_chunks_is_one_line_end(cut: int) -> None:
    data = b"data: x\r\n\r\ndata: y\r\n\r\n"
    assert feed_split(SSEDecoder, data, [cut]) == [msg("x"), msg("y")]
    assert sse(data, points=(cut,)) == [msg("x"), msg("y")]


def test_lone_cr_ends_a_line() -> None:
    assert sse(b"event: e\rdata: 1\r\rdata: 2\r\r") == [msg("1", event="e"), msg("2")]


def test_cr_then_cr_across_chunks_is_two_line_ends() -> None:
    assert feed_split(SSEDecoder, b"data: x\r\rdata: y\r\r", [8]) == [msg("x"), msg("y")]


def test_line_ending_in_cr_is_delivered_without_waiting_for_the_next_chunk() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: now\r\r") == [msg("now")]
    assert decoder.feed(b"\n") == []  # the LF belongs to the CR before it: no extra line
    assert decoder.feed(b"data: next\n\n") == [msg("next")]


def test_utf8_character_split_across_chunks() -> None:
    data = "data: héllo €𝄞\n\n".encode()
    euro = data.index("€".encode())
    clef = data.index("𝄞".encode())
    points = (euro + 1, euro + 2, clef + 1, clef + 3)
    assert sse(data, points=points) == [msg("héllo €𝄞")]


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert sse(b"data: a\xffb\xe2\x82\n\n") == [msg("a\ufffdb\ufffd")]


def test_u2028_and_nel_inside_data_are_kept() -> None:
    text = "one\u2028two\u0085three\u2029four"
    assert sse(f"data: {text}\n\n".encode()) == [msg(text)]


def test_keepalive_comments_are_ignored() -> None:
    data = b": keep-alive\n\n:\n\ndata: x\n: inside a message\n\n: ping\n\n"
    assert sse(data) == [msg("x")]


def test_data_without_space_after_colon() -> None:
    assert sse(b"data:x\n\n") == [msg("x")]


def test_only_one_leading_space_is_stripped() -> None:
    assert sse(b"data:  two spaces\n\ndata:\ttab\n\n") == [msg(" two spaces"), msg("\ttab")]


def test_multi_line_data_is_joined_with_lf() -> None:
    assert sse(b"data: a\ndata:\ndata: c\r\n\r\n") == [msg("a\n\nc")]


def test_empty_data_line_dispatches_an_empty_message() -> None:
    assert sse(b"data\n\ndata:\n\n") == [msg(""), msg("")]


def test_done_sentinel_is_ordinary_data() -> None:
    assert sse(b'data: {"x":1}\n\ndata: [DONE]\n\n') == [msg('{"x":1}'), msg("[DONE]")]


def test_named_events() -> None:
    data = b'event: message_start\ndata: {"type":"message_start"}\n\nevent: ping\ndata: {}\n\n'
    assert sse(data) == [
        msg('{"type":"message_start"}', event="message_start"),
        msg("{}", event="ping"),
    ]


def test_empty_event_field_means_message() -> None:
    assert sse(b"event:\ndata: x\n\n") == [msg("x")]


def test_event_type_resets_even_when_nothing_is_dispatched() -> None:
    assert sse(b"event: lost\n\ndata: x\n\n") == [msg("x")]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert sse(b"\n\n\r\n\revent: e\nid: 1\nretry: 5\n\n") == []


def test_no_blank_line_at_eof_still_dispatches_a_message_with_data() -> None:
    assert sse(b"data: a\n\ndata: last\n") == [msg("a"), msg("last")]


def test_unterminated_last_line_at_eof_counts() -> None:
    assert sse(b"event: end\ndata: last") == [msg("last", event="end")]


def test_eof_without_data_dispatches_nothing() -> None:
    assert sse(b"data: a\n\nevent: e\nid: 3\n") == [msg("a")]


def test_bom_is_stripped_once_at_the_start() -> None:
    bom = b"\xef\xbb\xbf"
    assert sse(bom + b"data: a\n\n") == [msg("a")]
    # A second BOM is a field name that is not "data": the line is an unknown field.
    assert sse(bom + bom + b"data: a\n\ndata: b\n\n") == [msg("b")]
    # A BOM later in the stream is not stripped either.
    assert sse(b"data: a\n\n" + bom + b"data: b\n\n") == [msg("a")]


def test_bom_alone_before_a_comment() -> None:
    assert sse(b"\xef\xbb\xbf: hello\n\ndata: a\n\n") == [msg("a")]


def test_id_persists_across_messages() -> None:
    data = b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"
    assert sse(data) == [msg("a", id="1"), msg("b", id="1"), msg("c", id="")]


def test_id_set_by_a_block_without_data_still_applies() -> None:
    assert sse(b"id: 7\n\ndata: a\n\n") == [msg("a", id="7")]


def test_id_with_nul_is_ignored() -> None:
    assert sse(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n") == [msg("a", id="1"), msg("b", id="1")]


def test_retry_with_digits_only() -> None:
    data = b"retry: 1500\ndata: a\n\nretry: 15x\ndata: b\n\nretry: -1\ndata: c\n\nretry:\ndata: d\n\n"
    assert sse(data) == [msg("a", retry=1500), msg("b"), msg("c"), msg("d")]


def test_retry_belongs_to_its_message_only() -> None:
    assert sse(b"retry: 5\ndata: a\n\ndata: b\n\n") == [msg("a", retry=5), msg("b")]


def test_retry_with_non_ascii_digits_is_ignored() -> None:
    assert sse("retry: ١٢\ndata: a\n\n".encode()) == [msg("a")]


def test_retry_with_absurdly_many_digits_is_ignored() -> None:
    assert sse(b"retry: " + b"9" * 5000 + b"\ndata: a\n\n") == [msg("a")]


def test_unknown_fields_and_field_names_are_case_sensitive() -> None:
    assert sse(b"Data: no\nfoo: bar\nDATA: no\ndata: yes\n\n") == [msg("yes")]


def test_field_value_may_contain_colons() -> None:
    assert sse(b"data: a: b: c\n\n") == [msg("a: b: c")]


def test_oversize_line_is_reported_once_and_the_stream_resyncs() -> None:
    data = b"data: " + b"x" * 100 + b"\n\ndata: ok\n\n"
    events = sse(data, max_line_bytes=32)
    assert events == [Oversize(size=106, limit=32), msg("ok")]


def test_oversize_data_line_drops_its_whole_message() -> None:
    data = b"data: a\ndata: " + b"x" * 100 + b"\ndata: c\n\ndata: ok\n\n"
    assert sse(data, max_line_bytes=32) == [Oversize(size=106, limit=32), msg("ok")]


def test_oversize_event_line_drops_its_message() -> None:
    data = b"event: " + b"e" * 100 + b"\ndata: a\n\ndata: ok\n\n"
    assert sse(data, max_line_bytes=32) == [Oversize(size=107, limit=32), msg("ok")]


def test_oversize_field_without_colon_is_recognised() -> None:
    # "data" alone is a data line with an empty value; skipped, its message must not dispatch.
    assert sse(b"data\n\n", max_line_bytes=3) == [Oversize(size=4, limit=3)]


def test_oversize_comment_line_keeps_its_message() -> None:
    data = b"data: a\n:" + b"p" * 100 + b"\ndata: b\n\n"
    assert sse(data, max_line_bytes=32) == [Oversize(size=101, limit=32), msg("a\nb")]


def test_oversize_unknown_or_id_line_keeps_its_message() -> None:
    data = b"id: " + b"9" * 100 + b"\nfoo: " + b"f" * 100 + b"\ndata: a\n\n"
    assert sse(data, max_line_bytes=32) == [
        Oversize(size=104, limit=32),
        Oversize(size=105, limit=32),
        msg("a"),
    ]


def test_oversize_first_line_after_bom() -> None:
    data = b"\xef\xbb\xbf:" + b"p" * 100 + b"\ndata: a\n\n"
    assert sse(data, max_line_bytes=32) == [Oversize(size=104, limit=32), msg("a")]


def test_oversize_line_at_eof() -> None:
    data = b"data: ok\n\ndata: " + b"x" * 100
    assert sse(data, max_line_bytes=32) == [msg("ok"), Oversize(size=106, limit=32)]


def test_oversize_event_is_dropped_and_the_stream_resyncs() -> None:
    data = b"data: 0123456789\ndata: 0123456789\ndata: 01\n\ndata: ok\n\n"
    # joined data is 10 + 1 + 10 + 1 + 2 = 24 bytes
    assert sse(data, max_event_bytes=20) == [Oversize(size=24, limit=20), msg("ok")]


def test_event_exactly_at_the_cap_passes() -> None:
    data = b"data: 0123456789\ndata: 012345678\n\n"
    assert sse(data, max_event_bytes=20) == [msg("0123456789\n012345678")]


def test_oversize_event_at_eof() -> None:
    data = b"data: ok\n\n" + b"data: 0123456789\n" * 3
    assert sse(data, max_event_bytes=20) == [msg("ok"), Oversize(size=32, limit=20)]


def test_line_exactly_at_the_cap_passes() -> None:
    line = b"data: " + b"y" * 26
    assert len(line) == 32
    assert sse(line + b"\n\n", max_line_bytes=32) == [msg("y" * 26)]


def test_feed_after_close_raises() -> None:
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(DecoderClosed):
        decoder.feed(b"data: x\n\n")
    with pytest.raises(DecoderClosed):
        decoder.close()


def test_empty_chunks_are_harmless() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n\n") == [msg("x")]
    assert decoder.close() == []


def test_buffered_bytes_counts_partial_line_and_pending_data() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: abc\ndata: de") == []
    assert decoder.buffered_bytes == len(b"abc") + len(b"data: de")
    decoder.feed(b"\n\n")
    assert decoder.buffered_bytes == 0


def test_bad_caps_are_refused() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        SSEDecoder(max_line_bytes=0)
    with pytest.raises(ValueError, match="max_event_bytes"):
        SSEDecoder(max_event_bytes=0)


def test_realistic_openai_stream() -> None:
    chunks = [
        b'data: {"id":"c1","choices":[{"delta":{"role":"assistant"}}]}\n\n',
        b'data: {"id":"c1","choices":[{"delta":{"content":"Hi"}}]}\n\n',
        b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n',
        b"data: [DONE]\n\n",
    ]
    events = sse(b"".join(chunks))
    assert [e.data for e in events if isinstance(e, SSEMessage)][-1] == "[DONE]"
    assert len(events) == 4
