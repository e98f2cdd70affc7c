"""Deterministic pseudorandom bytes for the byte-identity and memory tests (``GET /sim/bytes``).

The content depends only on ``n`` and ``seed``, never on the chunk size, so a test can rebuild the
expected body with :func:`pseudorandom_bytes` or stream it with :func:`iter_pseudorandom`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Final

BLOCK_BYTES: Final = 64 * 1024


def _block(seed: int, index: int) -> bytes:
    return random.Random(f"{seed}:{index}").randbytes(BLOCK_BYTES)


def iter_pseudorandom(n: int, chunk: int, seed: int = 0) -> Iterator[bytes]:
    """Yield ``n`` pseudorandom bytes in chunks of ``chunk`` bytes (the last may be shorter)."""
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    pending = bytearray()
    index = 0
    remaining = n
    while remaining > 0:
        size = min(chunk, remaining)
        while len(pending) < size:
            pending += _block(seed, index)
            index += 1
        yield bytes(pending[:size])
        del pending[:size]
        remaining -= size


def pseudorandom_bytes(n: int, seed: int = 0) -> bytes:
    """The whole body ``GET /sim/bytes?n=N&seed=S`` sends."""
    return b"".join(iter_pseudorandom(n, BLOCK_BYTES, seed))
