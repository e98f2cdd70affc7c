"""Usage injection: the request gains include_usage; the usage-only chunk leaves the response."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sidecar.genai.include_usage import UsageChunkFilter, add_include_usage

CHUNK = b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
USAGE = b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
DONE = b"data: [DONE]\n\n"
STREAM = b": keep-alive\n\n" + CHUNK + CHUNK + USAGE + DONE
EXPECTED = b": keep-alive\n\n" + CHUNK + CHUNK + DONE


def run(chunks: list[bytes], cap: int = 1 << 16) -> bytes:
    f = UsageChunkFilter(cap)
    return b"".join(f.feed(c) for c in chunks) + f.close()


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


def test_a_long_event_is_not_searched_again_per_chunk() -> None:
    """One 8 MiB event in 4 KiB reads: released unfiltered past the cap, in linear time."""
    event = b"data: " + b"x" * (8 << 20) + b"\n\n"
    f = UsageChunkFilter()
    out = b"".join(f.feed(event[i : i + 4096]) for i in range(0, len(event), 4096)) + f.close()
    assert out == event


def test_usage_only_chunk_is_removed_and_nothing_else() -> None:
    assert run([STREAM]) == EXPECTED


def test_crlf_framing_and_usage_with_choices_kept() -> None:
    crlf = STREAM.replace(b"\n", b"\r\n")
    assert run([crlf]) == EXPECTED.replace(b"\n", b"\r\n")
    with_choices = b'data: {"choices":[{"index":0}],"usage":{"prompt_tokens":1}}\n\n'
    assert run([with_choices]) == with_choices


def test_unterminated_tail_is_released_at_close_unless_it_is_the_usage_chunk() -> None:
    assert run([CHUNK + b"data: partial"]) == CHUNK + b"data: partial"
    assert run([CHUNK + USAGE.rstrip()]) == CHUNK


def test_tail_over_the_cap_is_released_unfiltered() -> None:
    big = b"data: " + b"x" * 100
    f = UsageChunkFilter(64)
    assert f.feed(big) == big
    assert f.close() == b""


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_gives_the_same_bytes(points: list[int]) -> None:
    cuts = sorted(set(points))
    pieces = [STREAM[a:b] for a, b in zip([0, *cuts], [*cuts, len(STREAM)], strict=True)]
    assert run(pieces) == EXPECTED


def test_bytewise() -> None:
    assert run([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED
