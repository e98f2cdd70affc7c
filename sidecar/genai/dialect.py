"""The Dialect protocol, and the base the built-in dialects share for reading request bodies."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

from sidecar.genai._fields import parse_object
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


class ObjectRequestDialect(ABC):
    """Base of the built-in dialects, whose request body is one JSON object: a body that is not
    one (not JSON, an array, a string) is not a request they read."""

    name: str

    def parse_request(self, path: str, body: bytes, provider: str) -> RequestInfo | None:
        obj = parse_object(body)
        return self.read_request(path, obj, provider) if obj is not None else None

    @abstractmethod
    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        """The request a body that is a JSON object describes."""
