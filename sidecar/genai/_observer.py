"""Shared response-observer machinery: event dispatch, the terminal event, response identity.

Every dialect observer follows the same rules, kept here once:

* an :class:`SSEMessage` goes to ``_on_message``, a :class:`JSONDocument` to ``_on_document``;
* an :class:`Oversize` event is skipped (the stream goes on);
* nothing is observed after the terminal event, and :class:`StreamComplete` is emitted once;
* an in-body error (an error JSON body, an SSE ``error`` event) is reported as
  :class:`UpstreamError` and counts as the end of the body: it is not followed by
  :class:`StreamComplete`, and ``close()`` then reports no :class:`PrematureEnd` (the error
  already says why the body ended). Events after it are still observed (vLLM sends
  ``[DONE]`` after an error);
* ``close()`` yields :class:`PrematureEnd` when the body ended with neither its terminal event
  nor an error. For a non-streamed body that means it was cut short or was not a JSON object.
  A non-streamed body too large to read (an ``Oversize`` and no document) is not reported as
  premature: it arrived, the sidecar just did not parse it.
* :class:`ResponseInfo` is emitted only when the known model or id changes; a field the wire
  leaves out keeps its earlier value.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sidecar.genai import _fields
from sidecar.genai.observations import (
    Observation,
    PrematureEnd,
    RequestInfo,
    ResponseInfo,
    StreamComplete,
    UpstreamError,
)
from sidecar.wire.events import JSONDocument, SSEMessage, WireEvent


class BaseObserver(ABC):
    """Base of every observer in this package; subclasses override the two ``_on_*`` hooks."""

    __slots__ = ("_complete", "_failed", "_id", "_model", "_oversize", "request", "streaming")

    def __init__(self, request: RequestInfo, *, streaming: bool) -> None:
        self.request = request
        self.streaming = streaming
        self._complete = False
        self._failed = False
        self._oversize = False
        self._model: str | None = None
        self._id: str | None = None

    def observe(self, event: WireEvent) -> list[Observation]:
        """Observations carried by one decoded event; never raises."""
        out: list[Observation] = []
        if self._complete:
            return out
        if isinstance(event, SSEMessage):
            self._on_message(event, out)
        elif isinstance(event, JSONDocument):
            self._on_document(event.data, out)
        else:
            self._oversize = True
        return out

    def close(self) -> list[Observation]:
        """End of body: :class:`PrematureEnd` unless the terminal event arrived."""
        if self._complete or self._failed or (self._oversize and not self.streaming):
            return []
        return [PrematureEnd()]

    # ------------------------------------------------------------------ hooks

    def _on_message(self, message: SSEMessage, out: list[Observation]) -> None:
        """One SSE message. The default treats its data as a whole JSON body."""
        self._on_document(message.data, out)

    @abstractmethod
    def _on_document(self, data: bytes | str, out: list[Observation]) -> None:
        """One whole JSON body (or, by default, one SSE message's data)."""

    # ------------------------------------------------------------------ helpers for subclasses

    def _finish(self, out: list[Observation]) -> None:
        """The terminal event arrived: emit :class:`StreamComplete` (once)."""
        if not self._complete:
            self._complete = True
            out.append(StreamComplete())

    def _read_body(self, data: bytes | str, out: list[Observation]) -> dict[str, Any] | None:
        """A whole body as a JSON object; an error body is reported here and gives ``None``."""
        obj = _fields.parse_object(data)
        if obj is None:
            return None
        error = error_of(obj)
        if error is not None:
            self._fail(error, out)
            return None
        return obj

    def _fail(self, error: UpstreamError, out: list[Observation]) -> None:
        """The body reported an error: it ends the body without a terminal event."""
        self._failed = True
        out.append(error)

    def _identify(self, model: Any, response_id: Any, out: list[Observation]) -> None:
        """Record the response model and id when either is a new non-empty string."""
        changed = False
        if isinstance(model, str) and model and model != self._model:
            self._model = model
            changed = True
        if isinstance(response_id, str) and response_id and response_id != self._id:
            self._id = response_id
            changed = True
        if changed:
            out.append(ResponseInfo(model=self._model, id=self._id))


def error_of(obj: dict[str, Any]) -> UpstreamError | None:
    """The error an OpenAI-style or Anthropic-style error body carries, else ``None``.

    Recognised shapes: ``{"error": {"type"|"code": ..., "message": ...}}``, ``{"error": "text"}``
    and the older vLLM ``{"object": "error", "type": ..., "message": ...}``. ``type`` prefers the
    error's ``type`` and falls back to its ``code`` (numbers become strings).
    """
    err = obj.get("error")
    if isinstance(err, str):
        return UpstreamError(message=err)
    if isinstance(err, dict):
        return error_fields(err)
    if obj.get("object") == "error" or obj.get("type") == "error":
        return error_fields(obj)
    return None


def event_error(obj: dict[str, Any]) -> UpstreamError:
    """The error an SSE ``error`` event carries: as :func:`error_of` reads it, else the event's
    own ``type`` / ``code`` and ``message``."""
    error = error_of(obj)
    return error if error is not None else error_fields(obj)


def error_fields(err: dict[str, Any]) -> UpstreamError:
    """An error object's ``type`` (else ``code``) and ``message``."""
    kind = _fields.get_str(err, "type")
    if kind is None or kind == "error":
        kind = code_string(err.get("code"))
    return UpstreamError(type=kind, message=_fields.get_str(err, "message"))


def code_string(code: Any) -> str | None:
    """An error ``code`` as text: strings as they are, integers in decimal, anything else None."""
    if isinstance(code, str) and code:
        return code
    if isinstance(code, int) and not isinstance(code, bool):
        return str(code)
    return None
