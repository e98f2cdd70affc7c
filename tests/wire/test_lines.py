"""LineSplitter: line ends across chunks, the cap, and resynchronisation."""

from __future__ import annotations

import pytest

from sidecar.wire._lines import DroppedLine, LineSplitter
from tests.helpers import feed_all_ways, feed_chunks


def lines(data: bytes, max_line_bytes: int = 64, *, lone_cr: bool = True) -> list[object]:
    return feed_all_ways(lambda: LineSplitter(max_line_bytes, lone_cr=lone_cr), data)


def test_every_line_end_kind() -> None:
    assert lines(b"a\nb\r\nc\rd") == [b"a", b"b", b"c", b"d"]


def test_empty_lines_are_kept() -> None:
    assert lines(b"\n\r\n\r\r\n") == [b"", b"", b"", b""]


def test_crlf_across_chunks_is_one_line_end() -> None:
    assert feed_chunks(lambda: LineSplitter(64), [b"a\r", b"\nb\r", b"\n"]) == [b"a", b"b"]


def test_cr_is_delivered_at_once() -> None:
    splitter = LineSplitter(64)
    assert splitter.feed(b"a\r") == [b"a"]
    assert splitter.feed(b"\n") == []
    assert splitter.feed(b"\n") == [b""]


def test_empty_chunk_keeps_a_pending_cr() -> None:
    # CR, an empty chunk, then LF: one line end, not two.
    assert feed_chunks(lambda: LineSplitter(64), [b"a\r", b"", b"\nb\n"]) == [b"a", b"b"]
    splitter = LineSplitter(64)
    assert splitter.feed(b"a\r") == [b"a"]
    assert splitter.feed(b"") == []
    assert splitter.feed(b"\n") == []
    assert splitter.close() == []


def test_lf_only_mode_keeps_cr_in_the_line() -> None:
    assert lines(b"a\r\nb\rc\n", lone_cr=False) == [b"a\r", b"b\rc"]


def test_unterminated_last_line_comes_at_close() -> None:
    splitter = LineSplitter(64)
    assert splitter.feed(b"x\npartial") == [b"x"]
    assert splitter.buffered_bytes == len(b"partial")
    assert splitter.close() == [b"partial"]
    assert splitter.buffered_bytes == 0
    assert splitter.close() == []


def test_long_line_inside_one_chunk() -> None:
    data = b"ok\n" + b"z" * 20 + b"\nok\n"
    assert lines(data, 10) == [b"ok", DroppedLine(size=20, head=b"z" * 16), b"ok"]


def test_long_line_built_from_a_pending_partial_line() -> None:
    chunks = [b"0123456", b"789abc\nok\n"]
    assert feed_chunks(lambda: LineSplitter(10), chunks) == [
        DroppedLine(size=13, head=b"0123456789abc"),
        b"ok",
    ]


def test_long_line_across_many_chunks_is_counted_not_kept() -> None:
    splitter = LineSplitter(10)
    assert splitter.feed(b"head-") == []
    assert splitter.feed(b"of-a-very-") == []
    assert splitter.buffered_bytes == 0
    assert splitter.feed(b"long-line") == []
    assert splitter.feed(b"\nnext\n") == [
        DroppedLine(size=24, head=b"head-of-a-very-l"),
        b"next",
    ]


def test_long_line_at_close() -> None:
    assert lines(b"a\n" + b"q" * 30, 10) == [b"a", DroppedLine(size=30, head=b"q" * 16)]


def test_line_at_the_cap_is_kept() -> None:
    assert lines(b"0123456789\n0123456789a\n", 10) == [
        b"0123456789",
        DroppedLine(size=11, head=b"0123456789a"),
    ]


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        LineSplitter(0)
