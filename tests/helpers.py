"""Drive any sans-I/O object with ``feed(bytes)`` / ``close()`` in different chunkings.

Every parser test feeds its input whole, byte by byte and split at chosen points, and expects the
same events each way. The helpers take a factory so each run starts from a fresh object, and they
return everything the object produced, ``close()`` included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import Protocol, TypeVar

E_co = TypeVar("E_co", covariant=True)


class Feedable(Protocol[E_co]):
    """Anything with the sans-I/O ``feed`` / ``close`` pair (a decoder, a tap-like adapter)."""

    def feed(self, data: bytes, /) -> Sequence[E_co]: ...

    def close(self) -> Sequence[E_co]: ...


E = TypeVar("E")
Factory = Callable[[], Feedable[E]]


def feed_chunks(make: Factory[E], chunks: Iterable[bytes]) -> list[E]:
    """Feed ``chunks`` in order to a fresh object, then close it; all events in order."""
    target = make()
    events: list[E] = []
    for chunk in chunks:
        events.extend(target.feed(chunk))
    events.extend(target.close())
    return events


def feed_whole(make: Factory[E], data: bytes) -> list[E]:
    """Feed ``data`` as one chunk."""
    return feed_chunks(make, [data])


def feed_bytewise(make: Factory[E], data: bytes) -> list[E]:
    """Feed ``data`` one byte per chunk."""
    return feed_chunks(make, [data[i : i + 1] for i in range(len(data))])


def split_at(data: bytes, points: Iterable[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (any order, out-of-range ones allowed). A repeated offset,
    or one at either end, yields an empty chunk: decoders must take those too."""
    cuts = sorted([min(max(p, 0), len(data)) for p in points] + [0, len(data)])
    return [data[a:b] for a, b in pairwise(cuts)]


def feed_split(make: Factory[E], data: bytes, points: Iterable[int]) -> list[E]:
    """Feed ``data`` cut at ``points`` (offsets into ``data``)."""
    return feed_chunks(make, split_at(data, points))


def feed_all_ways(make: Factory[E], data: bytes, *, points: Iterable[int] = ()) -> list[E]:
    """Feed ``data`` whole, byte by byte, split at ``points`` and split at every line end, assert
    the events are the same each way, and return them.

    Splitting right after each CR and LF exercises line ends that straddle chunks (a CRLF whose
    LF arrives in the next chunk).
    """
    whole = feed_whole(make, data)
    assert feed_bytewise(make, data) == whole, "byte-by-byte feeding differs from whole"
    points = list(points)
    if points:
        assert feed_split(make, data, points) == whole, f"split at {points} differs from whole"
    line_ends = [i + 1 for i, b in enumerate(data) if b in b"\r\n"]
    assert feed_split(make, data, line_ends) == whole, "split after line ends differs from whole"
    return whole
