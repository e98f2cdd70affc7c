"""The Dialect protocol and dialect selection by method and path."""

from __future__ import annotations

from typing import Protocol

from sidecar.genai.observations import Observation, RequestInfo
from sidecar.wire.events import WireEvent


class ResponseObserver(Protocol):
    """Per-response state machine: decoded wire events in, observations out. Never does I/O."""

    def observe(self, event: WireEvent) -> list[Observation]:
        """Observations carried by one decoded event (often none)."""
        ...

    def close(self) -> list[Observation]:
        """End of body. Emits :class:`PrematureEnd` if a stream ended before its terminal event."""
        ...


class Dialect(Protocol):
    """One wire API (OpenAI chat, Anthropic Messages, Ollama, ...)."""

    name: str

    def parse_request(self, path: str, body: bytes, provider: str) -> RequestInfo | None:
        """Read the request JSON; ``None`` if the body is not a request this dialect understands."""
        ...

    def observer(self, request: RequestInfo, *, streaming: bool) -> ResponseObserver:
        """A fresh observer for one response. ``streaming`` says whether the response is a stream
        (SSE / NDJSON / JSON array) or one JSON document."""
        ...
