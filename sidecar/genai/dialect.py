"""The Dialect protocol, and the base the built-in dialects share for reading request bodies."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

from sidecar.genai._fields import parse_object
from sidecar.genai.accumulator import CallAccumulator
from sidecar.genai.observations import RequestInfo
from sidecar.genai.observer import Observer


class Dialect(Protocol):
    """One wire API (OpenAI chat, Anthropic Messages, Ollama, ...)."""

    name: str

    def parse_request(self, path: str, body: bytes, provider: str) -> RequestInfo | None:
        """Read the request JSON; ``None`` if the body is not a request this dialect understands."""
        ...

    def observer(
        self, request: RequestInfo, *, streaming: bool, accumulator: CallAccumulator | None = None
    ) -> Observer:
        """A fresh observer for one response, writing into ``accumulator`` (a new one by default).
        ``streaming`` says whether the response is a stream (SSE / NDJSON / JSON array) or one
        JSON document."""
        ...


class ObjectRequestDialect(ABC):
    """Base of the built-in dialects, whose request body is one JSON object: a body that is not
    one (not JSON, an array, a string) is not a request they read."""

    name: str

    def parse_request(self, path: str, body: bytes, provider: str) -> RequestInfo | None:
        obj = parse_object(body)
        return self.read_request(path, obj, provider) if obj is not None else None

    #: The dialect's observer class.
    observer_class: type[Observer]

    @abstractmethod
    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        """The request a body that is a JSON object describes."""

    def observer(
        self, request: RequestInfo, *, streaming: bool, accumulator: CallAccumulator | None = None
    ) -> Observer:
        return self.observer_class(request, streaming=streaming, accumulator=accumulator)
