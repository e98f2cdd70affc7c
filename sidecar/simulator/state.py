"""What the simulator received and is doing, for tests and the demo to inspect."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedRequest:
    """One request as the simulator saw it."""

    method: str
    path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]
    """Every header in arrival order, names as sent."""
    body_size: int
    body: bytes
    """The body's first ``SimulatorSettings.record_body_bytes`` bytes."""
    received_at: float
    """``time.monotonic()`` when the handler started."""

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


class SimulatorState:
    """Bounded history of received requests plus stream counters; one per app."""

    __slots__ = ("_ids", "active_streams", "completed_streams", "requests")

    def __init__(self, history: int) -> None:
        self.requests: deque[ReceivedRequest] = deque(maxlen=history)
        self.active_streams = 0
        """Streaming responses in progress."""
        self.completed_streams = 0
        """Streaming responses that ended (by any route: normal end, fault or client gone)."""
        self._ids: Iterator[int] = itertools.count(1)

    def record(self, received: ReceivedRequest) -> None:
        self.requests.append(received)

    def last(self, path: str | None = None) -> ReceivedRequest | None:
        """The most recent request, optionally the most recent one for ``path``."""
        for received in reversed(self.requests):
            if path is None or received.path == path:
                return received
        return None

    def next_id(self, prefix: str) -> str:
        """A response id unique within this app, e.g. ``chatcmpl-sim000001``."""
        return f"{prefix}sim{next(self._ids):06d}"
