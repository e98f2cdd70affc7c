"""Observer: the one base of every dialect's response reader.

An observer reads decoded wire events and writes what they say into a
:class:`~sidecar.genai.accumulator.CallAccumulator` (the rules of that fold are written there).
Per event it returns only how many output chunks the event carried, so the proxy can time them;
the recorder reads the accumulator once, at the end. Rules kept here once:

* after the terminal event nothing is read; an :class:`Oversize` event is skipped and noted;
* an :class:`SSEMessage` goes to ``_on_message``; in a stream a :class:`JSONDocument` (an NDJSON
  line, an element of a streamed array) goes to ``_on_line``; the one document of a non-streamed
  body is parsed and goes to ``_on_body``: a body the dialect reads (an error body included)
  completes the call; a body cut short, or not JSON, is left to :meth:`close`, which calls it
  premature;
* by default a message's data and a line are JSON values handed to ``_on_value`` (values that are
  not JSON are skipped); dialects with typed events override the hooks;
* an observer never raises on odd input (the proxy's tap still guards it).
"""

from __future__ import annotations

from typing import Any, Final

from sidecar import _json
from sidecar.genai._fields import get_dict, get_list, get_str
from sidecar.genai.accumulator import CallAccumulator
from sidecar.genai.observations import OutputKind, RequestInfo
from sidecar.wire.events import JSONDocument, SSEMessage, WireEvent

#: A JSON value that could not be read.
NOTHING: Final[Any] = object()


def parse(data: bytes | str) -> Any:
    """A JSON value, or :data:`NOTHING` when ``data`` is not JSON."""
    try:
        return _json.loads(data)
    except _json.JSONDecodeError:
        return NOTHING


class Observer:
    """Base of every dialect observer: event dispatch, the terminal event and the end of body."""

    __slots__ = ("acc", "request", "streaming")

    #: Whether a streamed JSON document (an NDJSON line) is read like a whole body, completing the
    #: call (the OpenAI-family and Anthropic APIs, whose streams are SSE, say nothing of lines).
    lines_are_bodies: bool = False

    def __init__(
        self, request: RequestInfo, *, streaming: bool, accumulator: CallAccumulator | None = None
    ) -> None:
        self.request = request
        self.streaming = streaming
        self.acc = accumulator if accumulator is not None else CallAccumulator()

    def observe(self, event: WireEvent) -> int:
        """Read one decoded event; the number of output chunks it carried. Never raises on odd input."""
        acc = self.acc
        if acc.complete:
            return 0
        before = acc.output_chunks
        if type(event) is SSEMessage:
            self._on_message(event)
        elif type(event) is JSONDocument:
            if self.streaming:
                self._on_line(event.data)
            else:
                value = parse(event.data)
                if value is not NOTHING and self._on_body(value):
                    acc.terminal()
        else:
            acc.oversize = True
        return acc.output_chunks - before

    def close(self) -> None:
        """End of body: the accumulator notes a body that ended before it said so."""
        self.acc.end(streaming=self.streaming)

    # ------------------------------------------------------------------ hooks

    def _on_message(self, message: SSEMessage) -> None:
        """One SSE message; by default its data is a JSON value."""
        value = parse(message.data)
        if value is not NOTHING:
            self._on_value(value, message)

    def _on_line(self, data: bytes) -> None:
        """One JSON document of a stream: by default a JSON value (or, with
        :attr:`lines_are_bodies`, a whole body)."""
        value = parse(data)
        if value is NOTHING:
            return
        if not self.lines_are_bodies:
            self._on_value(value, None)
        elif self._on_body(value):
            self.acc.terminal()

    def _on_body(self, value: Any) -> bool:
        """The parsed non-streamed body; whether it is a body this dialect reads (by default
        an object or an array, read as a stream's value)."""
        self._on_value(value, None)
        return isinstance(value, (dict, list))

    def _on_value(self, value: Any, message: SSEMessage | None) -> None:
        """One JSON value of the response (``message``: the SSE message that carried it)."""


# ---------------------------------------------------------------------- shared readers


def read_error_body(acc: CallAccumulator, obj: dict[str, Any]) -> bool:
    """Report the error an OpenAI-style or Anthropic-style error body carries; whether it was one."""
    error = error_of(obj)
    if error is None:
        return False
    acc.error(*error)
    return True


def error_of(obj: dict[str, Any]) -> tuple[str | None, str | None] | None:
    """``(type, message)`` of an OpenAI-style or Anthropic-style error body, else ``None``.

    Recognised shapes: ``{"error": {"type"|"code": ..., "message": ...}}``, ``{"error": "text"}``
    and the older vLLM ``{"object": "error", "type": ..., "message": ...}``. ``type`` prefers the
    error's ``type`` and falls back to its ``code`` (numbers become strings).
    """
    err = obj.get("error")
    if isinstance(err, str):
        return None, err
    if isinstance(err, dict):
        return error_fields(err)
    if obj.get("object") == "error" or obj.get("type") == "error":
        return error_fields(obj)
    return None


def event_error(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    """The error an SSE ``error`` event carries: as :func:`error_of` reads it, else the event's
    own ``type`` / ``code`` and ``message``."""
    error = error_of(obj)
    return error if error is not None else error_fields(obj)


def error_fields(err: dict[str, Any]) -> tuple[str | None, str | None]:
    """An error object's ``type`` (else ``code``) and ``message``."""
    kind = get_str(err, "type")
    if kind is None or kind == "error":
        kind = code_string(err.get("code"))
    return kind, get_str(err, "message")


def code_string(code: Any) -> str | None:
    """An error ``code`` as text: strings as they are, integers in decimal, anything else None."""
    if isinstance(code, str) and code:
        return code
    if isinstance(code, int) and not isinstance(code, bool):
        return str(code)
    return None


def native_error(error: Any) -> tuple[str | None, str | None] | None:
    """``(type, message)`` of a native API's ``error`` member that is a string or an object, else
    ``None``. Object errors give their ``type`` (OpenAI style), ``status`` (Google style) or ``code``."""
    if isinstance(error, str):
        return None, error
    if isinstance(error, dict):
        kind = get_str(error, "type") or get_str(error, "status")
        code = error.get("code")
        if kind is None and isinstance(code, (str, int)) and not isinstance(code, bool):
            kind = str(code)
        return kind, get_str(error, "message")
    return None


def first_output(
    *, tool_calls: bool = False, text: str | None = None, reasoning: str | None = None
) -> tuple[OutputKind, str] | None:
    """The one output kind an event reports for a choice (tool call, text, reasoning): at most
    one output chunk per choice per event, so time-per-output-chunk samples stay one per chunk.
    A tool call's text is empty: tool calls are captured apart (``CallAccumulator.tool_call``)."""
    if tool_calls:
        return OutputKind.TOOL_CALL, ""
    if text:
        return OutputKind.TEXT, text
    if reasoning:
        return OutputKind.REASONING, reasoning
    return None


def list_of_dicts(value: Any, key: str) -> list[dict[str, Any]]:
    """The object items of ``value[key]`` when it is a list."""
    return [item for item in get_list(value, key) or () if isinstance(item, dict)]


def keep_whole_calls(acc: CallAccumulator, calls: list[Any], choice: int = 0) -> None:
    """Capture: tool calls a provider sends whole (``{"id"?, "function": {"name", "arguments"}}``,
    OpenAI style with the arguments an object or a JSON string), each a new call of ``choice``."""
    for call in calls:
        function = get_dict(call, "function")
        if function is not None:
            acc.tool_call(
                None,
                call_id=call.get("id"),
                name=function.get("name"),
                arguments=function.get("arguments"),
                choice=choice,
            )
