"""Bookkeeping shared by the native-API observers (Ollama, llama.cpp, TGI, Gemini, Cohere).

Each observer parses one JSON value per decoded event and appends observations. This base keeps
the state every stream needs: whether the terminal event or an error arrived (so ``close()``
knows whether the body ended early), and the last response identity and usage emitted (so an
unchanged value repeated on every chunk is reported once).

Rules common to these dialects:

- ``Oversize`` events and events whose data is not JSON are skipped; an observer never raises.
- An in-body error ends the response: ``UpstreamError`` is followed by ``StreamComplete``, as in
  the OpenAI-family observers. ``close()`` emits ``PrematureEnd`` only for a stream (never for a
  non-streamed body) that saw no terminal event.
- At most one ``OutputChunk`` per choice per event, so that time-per-output-chunk samples stay
  one per chunk that arrived. When one event carries several kinds of output for a choice, the
  kind is the first of tool call, text, reasoning that is present, with that kind's text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sidecar import _json
from sidecar.genai._fields import get_list, get_str
from sidecar.genai.observations import (
    Message,
    Observation,
    OutputChunk,
    OutputKind,
    PrematureEnd,
    RequestInfo,
    ResponseInfo,
    StreamComplete,
    UpstreamError,
    Usage,
)
from sidecar.wire.events import JSONDocument, SSEMessage, WireEvent

_NOTHING: Any = object()


def event_value(event: WireEvent) -> Any:
    """The JSON value an SSE message or JSON document carries, or ``_NOTHING``."""
    if isinstance(event, (SSEMessage, JSONDocument)):
        try:
            return _json.loads(event.data)
        except _json.JSONDecodeError:
            return _NOTHING
    return _NOTHING


def route(path: str) -> str:
    """The request path without query string, fragment or trailing slash."""
    return path.partition("?")[0].partition("#")[0].rstrip("/")


def non_negative(value: int | None) -> int | None:
    """A count where a negative value means "unlimited" or "random" (``num_predict: -1``)."""
    return value if value is not None and value >= 0 else None


def text_of(content: Any) -> str | None:
    """Text of a message's content: a string, or the ``text`` of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return get_str(content, "text")
    if isinstance(content, list):
        texts = [text for part in content if (text := text_of(part)) is not None]
        return "".join(texts) if texts else None
    return None


def split_messages(
    messages: list[Any] | None, *, system_roles: frozenset[str] = frozenset({"system"})
) -> tuple[tuple[str, ...], tuple[Message, ...]]:
    """System instructions and input messages of a chat request (best effort, text only)."""
    system: list[str] = []
    inputs: list[Message] = []
    for item in messages or ():
        role = get_str(item, "role")
        content = text_of(item.get("content")) if isinstance(item, dict) else None
        if role is None or content is None:
            continue
        if role in system_roles:
            system.append(content)
        else:
            inputs.append(Message(role=role, content=content))
    return tuple(system), tuple(inputs)


def tool_call_text(calls: list[Any] | None) -> str:
    """A compact JSON rendering of tool calls, for opt-in capture of the output."""
    if not calls:
        return ""
    return _json.dumps_str(calls)


def first_output(
    *, tool_calls: str | None = None, text: str | None = None, reasoning: str | None = None
) -> tuple[OutputKind, str] | None:
    """The one output kind an event reports for a choice (tool call, text, reasoning)."""
    if tool_calls:
        return OutputKind.TOOL_CALL, tool_calls
    if text:
        return OutputKind.TEXT, text
    if reasoning:
        return OutputKind.REASONING, reasoning
    return None


class NativeObserver(ABC):
    """Base of the native-API observers; subclasses implement :meth:`handle`."""

    def __init__(self, request: RequestInfo, *, streaming: bool) -> None:
        self.request = request
        self.streaming = streaming
        self.complete = False
        self._closed = False
        self._model: str | None = None
        self._id: str | None = None
        self._last_usage: Usage | None = None

    def observe(self, event: WireEvent) -> list[Observation]:
        value = event_value(event)
        if value is _NOTHING:
            return []
        out: list[Observation] = []
        self.handle(value, event, out)
        return out

    @abstractmethod
    def handle(self, value: Any, event: WireEvent, out: list[Observation]) -> None:
        """Append the observations one decoded JSON value carries."""

    def close(self) -> list[Observation]:
        if self._closed:
            return []
        self._closed = True
        if self.streaming and not self.complete:
            return [PrematureEnd()]
        return []

    # ------------------------------------------------------------ helpers for subclasses

    def identity(self, out: list[Observation], *, model: str | None = None, id: str | None = None) -> None:
        """Emit ``ResponseInfo`` when the model or id differs from what was last reported."""
        new_model = model or self._model
        new_id = id or self._id
        if (new_model, new_id) != (self._model, self._id):
            self._model, self._id = new_model, new_id
            out.append(ResponseInfo(model=new_model, id=new_id))

    def usage(self, out: list[Observation], usage: Usage) -> None:
        """Emit ``usage`` unless it is empty or equal to the last one reported."""
        if usage == Usage() or usage == self._last_usage:
            return
        self._last_usage = usage
        out.append(usage)

    def output(self, out: list[Observation], found: tuple[OutputKind, str] | None, choice: int) -> None:
        if found is not None:
            out.append(OutputChunk(kind=found[0], text=found[1], choice=choice))

    def fail(self, out: list[Observation], type: str | None, message: str | None) -> None:
        """An in-body error: it ends the response, so it is also the terminal event."""
        out.append(UpstreamError(type=type, message=message))
        self.finish(out)

    def finish(self, out: list[Observation]) -> None:
        """The terminal event arrived: emit ``StreamComplete`` once."""
        if not self.complete:
            self.complete = True
            out.append(StreamComplete())


def error_fields(error: Any) -> tuple[str | None, str | None] | None:
    """``(type, message)`` of an ``error`` member that is a string or an object, else ``None``.

    Object errors give their ``type`` (OpenAI style), ``status`` (Google style) or ``code``.
    """
    if isinstance(error, str):
        return None, error
    if isinstance(error, dict):
        kind = get_str(error, "type") or get_str(error, "status")
        code = error.get("code")
        if kind is None and isinstance(code, (str, int)) and not isinstance(code, bool):
            kind = str(code)
        return kind, get_str(error, "message")
    return None


def list_of_dicts(value: Any, key: str) -> list[dict[str, Any]]:
    """The object items of ``value[key]`` when it is a list."""
    return [item for item in get_list(value, key) or () if isinstance(item, dict)]
