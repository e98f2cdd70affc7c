"""Usage injection: the request gains include_usage; the usage-only event leaves the response.

The filter frames the stream with the same SSE decoder the tap uses, so the oracle here is that
decoder: whatever line ends a server writes, the client gets every byte but the usage event's.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sidecar.genai.include_usage import UsageChunkFilter, add_include_usage, is_usage_only
from sidecar.wire.events import SSEMessage
from sidecar.wire.sse import SSEDecoder
from tests.helpers import split_at

CHUNK = b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
USAGE = b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
DONE = b"data: [DONE]\n\n"
STREAM = b": keep-alive\n\n" + CHUNK + CHUNK + USAGE + DONE
EXPECTED = b": keep-alive\n\n" + CHUNK + CHUNK + DONE


def run(chunks: list[bytes], cap: int = 1 << 16) -> bytes:
    f = UsageChunkFilter(cap)
    return b"".join(f.feed(c) for c in chunks) + f.close()


def messages(data: bytes) -> list[SSEMessage]:
    decoder = SSEDecoder()
    events = [*decoder.feed(data), *decoder.close()]
    return [e for e in events if isinstance(e, SSEMessage)]


def test_add_include_usage_keeps_other_options() -> None:
    body = json.dumps({"model": "m", "stream": True, "stream_options": {"continuous_usage_stats": True}})
    out = json.loads(add_include_usage(body.encode()) or b"")
    assert out["stream_options"] == {"continuous_usage_stats": True, "include_usage": True}
    assert out["model"] == "m"
    assert add_include_usage(b"not json") is None
    assert add_include_usage(b"[1]") is None


def test_insertion_keeps_every_other_byte() -> None:
    member = b'"stream_options":{"include_usage":true}'
    for body in (
        b' {"seed": 123456789012345678901234567890, "temperature": 0.10, "stream": true}',
        b"{ }",
    ):
        out = add_include_usage(body)
        assert out is not None
        assert json.loads(out)["stream_options"] == {"include_usage": True}
        assert out.replace(member + b",", b"", 1).replace(member, b"", 1) == body


def test_usage_only_is_choices_empty_and_usage_an_object() -> None:
    assert is_usage_only('{"choices": [ ], "usage": {"prompt_tokens": 1}}')
    assert not is_usage_only('{"choices":[{"index":0}],"usage":{"prompt_tokens":1}}')
    assert not is_usage_only('{"choices":[],"usage":null}')
    assert not is_usage_only('{"choices":[],"usage":{}')  # cut JSON


def test_a_long_event_is_not_searched_again_per_chunk() -> None:
    """One 8 MiB event in 4 KiB reads: released unfiltered past the cap, in linear time."""
    event = b"data: " + b"x" * (8 << 20) + b"\n\n"
    f = UsageChunkFilter()
    out = b"".join(f.feed(event[i : i + 4096]) for i in range(0, len(event), 4096)) + f.close()
    assert out == event


def test_usage_only_chunk_is_removed_and_nothing_else() -> None:
    assert run([STREAM]) == EXPECTED


def test_crlf_and_cr_framing() -> None:
    for eol in (b"\r\n", b"\r"):
        assert run([STREAM.replace(b"\n", eol)]) == EXPECTED.replace(b"\n", eol)


def test_usage_with_choices_is_kept() -> None:
    with_choices = b'data: {"choices":[{"index":0}],"usage":{"prompt_tokens":1}}\n\n'
    assert run([with_choices]) == with_choices


def test_mixed_line_ends_never_leak_the_usage_event() -> None:
    """LF then CRLF is a blank line for the SSE standard; a framer that looks only for
    ``\\n\\n``, ``\\r\\n\\r\\n`` or ``\\r\\r`` merges the usage event into the next one."""
    usage = USAGE.rstrip(b"\n") + b"\n\r\n"
    for stream in (CHUNK + usage + DONE, CHUNK + USAGE.rstrip(b"\n") + b"\r\n\n" + DONE):
        out = run([stream])
        assert out == CHUNK + DONE
        assert [m.data for m in messages(out)] == [
            m.data for m in messages(stream) if not is_usage_only(m.data)
        ]


def test_the_lf_of_a_crlf_goes_with_its_event_across_chunks() -> None:
    crlf = (CHUNK + USAGE + DONE).replace(b"\n", b"\r\n")
    expected = (CHUNK + DONE).replace(b"\n", b"\r\n")
    for i in range(len(crlf) + 1):
        assert run([crlf[:i], crlf[i:]]) == expected, i


def test_a_keep_alive_comment_before_the_usage_event_stays() -> None:
    assert run([CHUNK + b": ping\n\n" + USAGE + DONE]) == CHUNK + b": ping\n\n" + DONE


def test_a_complete_event_is_released_at_once() -> None:
    f = UsageChunkFilter()
    assert f.feed(CHUNK) == CHUNK
    assert f.feed(CHUNK[:10]) == b""
    assert f.feed(CHUNK[10:]) == CHUNK
    assert f.feed(USAGE) == b""
    assert f.feed(DONE) == DONE
    assert f.close() == b""


def test_after_the_usage_event_the_rest_passes_unfiltered() -> None:
    """Only one usage chunk comes per stream: a second one is the server's, not ours to drop."""
    assert run([USAGE + USAGE + DONE]) == USAGE + DONE


def test_unterminated_tail_is_released_at_close_unless_it_is_the_usage_chunk() -> None:
    assert run([CHUNK + b"data: partial"]) == CHUNK + b"data: partial"
    assert run([CHUNK + USAGE.rstrip()]) == CHUNK


def test_block_over_the_cap_is_released_unfiltered() -> None:
    big = b"data: " + b"x" * 200
    f = UsageChunkFilter(len(USAGE))
    assert f.feed(big) == big
    assert f.feed(b"\n\n") == b"\n\n"
    assert f.feed(USAGE) == b""
    assert f.close() == b""


def test_empty_chunks_change_nothing() -> None:
    assert run([b"", STREAM[:5], b"", STREAM[5:], b""]) == EXPECTED


EOLS = st.sampled_from([b"\n", b"\r\n", b"\r"])
PAYLOADS = st.sampled_from(
    [
        b'{"choices":[{"index":0,"delta":{"content":"a"}}]}',
        b'{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":5}}',
        b"[DONE]",
    ]
)


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """SSE streams with any line end per line, comments, and at most one usage-only event."""
    out = []
    for payload in draw(st.lists(PAYLOADS, max_size=6)):
        if draw(st.booleans()):
            out.append(b": c" + draw(EOLS))
        out.append(b"data: " + payload + draw(EOLS) + draw(EOLS))
    return b"".join(out)


def _without_usage(stream: bytes) -> list[str]:
    found = [m.data for m in messages(stream)]
    for i, data in enumerate(found):
        if is_usage_only(data):
            return found[:i] + found[i + 1 :]
    return found


@given(streams(), st.lists(st.integers(min_value=0, max_value=400), max_size=12), st.booleans())
def test_any_split_gives_what_the_decoder_sees_minus_the_usage_event(
    stream: bytes, points: list[int], empties: bool
) -> None:
    chunks = split_at(stream, points)
    if empties:
        chunks = [piece for chunk in chunks for piece in (chunk, b"")]
    out = run(chunks)
    assert out == run([stream])
    assert [m.data for m in messages(out)] == _without_usage(stream)
    if out != stream:
        assert any(
            [is_usage_only(m.data) for m in messages(removed)] == [True]
            for removed in _removed_slices(stream, out)
        )


def _removed_slices(stream: bytes, out: bytes) -> list[bytes]:
    """Each contiguous slice of ``stream`` whose removal gives ``out`` (asserting there is one)."""
    cut = len(stream) - len(out)
    found = [
        stream[i : i + cut]
        for i in range(len(out) + 1)
        if stream[:i] == out[:i] and stream[i + cut :] == out[i:]
    ]
    assert found, "the output is not the stream with one slice removed"
    return found


def test_bytewise() -> None:
    assert run([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


@given(
    st.lists(PAYLOADS | st.just(b'{"choices":[{"delta":{}}],"usage":null}'), max_size=8),
    st.lists(st.integers(min_value=1, max_value=3), max_size=8),
)
def test_chunks_of_whole_blocks_give_what_one_chunk_gives(payloads: list[bytes], sizes: list[int]) -> None:
    """Servers write whole events per chunk, the filter's quick path (no decoding for a chunk of
    whole one-line blocks that cannot be the usage event): the same output as the slow path."""
    blocks = [b": first\n\n", *(b"data: " + p + b"\n\n" for p in payloads)]
    chunks = []
    for size in sizes or [1]:
        if blocks:
            chunks.append(b"".join(blocks[:size]))
            blocks = blocks[size:]
    chunks.append(b"".join(blocks))
    stream = b"".join(chunks)
    out = run(chunks)
    assert out == run([stream])
    assert [m.data for m in messages(out)] == _without_usage(stream)
