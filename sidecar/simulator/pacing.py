"""Chunk timing: absolute deadlines on the monotonic clock, so delays never drift or batch."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


async def sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic() >= deadline``; never wakes early, returns at once if past."""
    # Loop because an event-loop timer of millisecond granularity can fire a little early.
    while (remaining := deadline - time.monotonic()) > 0:  # noqa: ASYNC110
        await asyncio.sleep(remaining)


@dataclass(slots=True, kw_only=True)
class Timing:
    """Monotonic timestamps (seconds) of one generation, as the server measured them."""

    received: float
    """When the request reached the simulator."""
    parsed: float
    """When its body was read and its controls parsed."""
    first_token: float | None = None
    last_token: float | None = None

    def mark_token(self) -> None:
        now = time.monotonic()
        if self.first_token is None:
            self.first_token = now
        self.last_token = now

    @staticmethod
    def ns(seconds: float) -> int:
        return max(0, round(seconds * 1e9))
