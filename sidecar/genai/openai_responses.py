"""OpenAI Responses (``POST /v1/responses``), operation ``chat``.

Request: ``model``, ``stream`` (default false), ``temperature``, ``top_p``,
``max_output_tokens``, ``text.format.type`` (output type), ``conversation`` (an id or
``{"id": ...}``), ``instructions`` (system instructions) and ``input`` (a string, or a list of
message items whose text is kept for opt-in capture).

Stream: typed SSE events (``data.type``, else the SSE event name). Output-carrying events are
the non-empty ``*.delta`` events of text (``response.output_text``, ``response.refusal``,
``response.audio.transcript``), tool calls (``response.function_call_arguments``,
``response.custom_tool_call_input``, ``response.mcp_call_arguments``,
``response.code_interpreter_call_code``) and reasoning (``response.reasoning_text``,
``response.reasoning_summary_text``). With capture on, each tool call is kept by its
``output_index``: its id (``call_id``; ``id`` for MCP and code-interpreter calls), name and
input, from ``response.output_item.added`` / ``.done``, the deltas and the ``*.done`` events that
carry the whole input. Lifecycle events (``response.created``, ``.queued``,
``.in_progress``) give the response id and model. The terminal events are
``response.completed``, ``response.incomplete``, ``response.failed`` and ``error``; there is no
``[DONE]``.

Finish reason (Responses has no per-choice finish reason; it is derived from the response
``status``): ``completed`` -> ``completed`` and ``cancelled`` -> ``cancelled`` as the API says
them; ``incomplete`` -> ``incomplete_details.reason`` as-is (``max_output_tokens``,
``content_filter``, ...) or ``incomplete`` when no reason is given; ``failed`` -> ``error``
(the conventions' value for a failed operation), with the response's ``error`` as the
upstream error. ``queued`` / ``in_progress`` (a background response) give none.
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai import _fields, _request
from sidecar.genai._openai import Outputs, responses_usage
from sidecar.genai.accumulator import CallAccumulator
from sidecar.genai.content import RequestContent
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import Operation, OutputKind, RequestInfo
from sidecar.genai.observer import Observer, error_fields, error_of, event_error, parse
from sidecar.wire.events import SSEMessage

#: Streamed text and reasoning delta event type -> the kind of output it carries.
_DELTAS: Final = {
    "response.output_text.delta": OutputKind.TEXT,
    "response.refusal.delta": OutputKind.TEXT,
    "response.audio.transcript.delta": OutputKind.TEXT,
    "response.reasoning_text.delta": OutputKind.REASONING,
    "response.reasoning_summary_text.delta": OutputKind.REASONING,
}
#: Streamed tool-call delta event types (the generated input of a call, in fragments).
_TOOL_DELTAS: Final = frozenset(
    {
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.mcp_call_arguments.delta",
        "response.code_interpreter_call_code.delta",
    }
)
#: Events with a tool call's whole input -> the field holding it (read only with capture on).
_TOOL_DONE: Final = {
    "response.function_call_arguments.done": "arguments",
    "response.custom_tool_call_input.done": "input",
    "response.mcp_call_arguments.done": "arguments",
    "response.code_interpreter_call_code.done": "code",
}
#: Events carrying a whole output item (read only with capture on, for tool-call items).
_ITEM_EVENTS: Final = frozenset({"response.output_item.added", "response.output_item.done"})

_LIFECYCLE: Final = frozenset({"response.created", "response.queued", "response.in_progress"})
_TERMINAL: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})

#: Output item types that are tool calls: the fields holding the call's id and its generated input.
_TOOL_ITEMS: Final = {
    "function_call": ("call_id", "arguments"),
    "custom_tool_call": ("call_id", "input"),
    "mcp_call": ("id", "arguments"),
    "code_interpreter_call": ("id", "code"),
}
#: Tool items counted as output of a whole (non-streamed) response.
_WHOLE_TOOL_ITEMS: Final = frozenset({"function_call", "custom_tool_call"})


def _finish_reason(response: dict[str, Any]) -> str | None:
    status = _fields.get_str(response, "status")
    if status == "incomplete":
        reason = _fields.get_str(_fields.get_dict(response, "incomplete_details"), "reason")
        return reason or "incomplete"
    if status == "failed":
        return "error"
    if status in ("completed", "cancelled"):
        return status
    return None


def _item_outputs(item: Any) -> Outputs:
    """Outputs of one ``output`` item of a whole response."""
    kind = _fields.get_str(item, "type")
    found: Outputs = []
    if kind == "message":
        for part in _fields.get_list(item, "content") or ():
            text = _fields.get_str(part, "text") or _fields.get_str(part, "refusal")
            if text:
                found.append((OutputKind.TEXT, text))
    elif kind == "reasoning":
        for key in ("content", "summary"):
            for part in _fields.get_list(item, key) or ():
                text = _fields.get_str(part, "text")
                if text:
                    found.append((OutputKind.REASONING, text))
    elif kind is not None and kind in _WHOLE_TOOL_ITEMS:
        found.append((OutputKind.TOOL_CALL, ""))
    return found


def _keep_tool_item(acc: CallAccumulator, item: Any, index: int) -> None:
    """Capture: a tool-call output item's id, name (its type for a nameless built-in tool) and
    whole input."""
    kind = _fields.get_str(item, "type")
    if kind is None or kind not in _TOOL_ITEMS:
        return
    id_key, input_key = _TOOL_ITEMS[kind]
    acc.tool_call(
        index,
        call_id=item.get(id_key),
        name=_fields.get_str(item, "name") or kind,
        arguments=item.get(input_key),
    )


def _output_index(obj: dict[str, Any]) -> int:
    index = _fields.get_int(obj, "output_index")
    return index if index is not None else 0


class ResponsesObserver(Observer):
    """Responses-API events, or one whole ``response`` body."""

    __slots__ = ()
    lines_are_bodies = True

    def _on_message(self, message: SSEMessage) -> None:
        obj = parse(message.data)
        if not isinstance(obj, dict):
            return
        acc = self.acc
        kind = _fields.get_str(obj, "type") or message.event
        if kind in _DELTAS:
            delta = _fields.get_str(obj, "delta")
            if delta:
                acc.output(_DELTAS[kind], delta)
        elif kind in _TOOL_DELTAS:
            delta = _fields.get_str(obj, "delta")
            if delta:
                acc.output(OutputKind.TOOL_CALL, "")
                if acc.capturing:
                    acc.tool_call(_output_index(obj), delta=delta)
        elif kind in _LIFECYCLE:
            response = _fields.get_dict(obj, "response") or {}
            acc.identify(response.get("model"), response.get("id"))
            acc.openai_response(response.get("service_tier"))
        elif kind in _TERMINAL:
            self._response(_fields.get_dict(obj, "response") or {}, whole=False)
            acc.terminal()
        elif kind == "error":
            acc.error(*event_error(obj))
        elif kind in _TOOL_DONE:
            if acc.capturing:
                acc.tool_call(_output_index(obj), arguments=obj.get(_TOOL_DONE[kind]))
        elif kind in _ITEM_EVENTS and acc.capturing:
            _keep_tool_item(acc, obj.get("item"), _output_index(obj))

    def _on_body(self, value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        error = error_of(value)
        if error is not None and "status" not in value and "output" not in value:
            self.acc.error(*error)
        else:
            self._response(value, whole=True)
        return True

    def _response(self, response: dict[str, Any], *, whole: bool) -> None:
        acc = self.acc
        acc.identify(response.get("model"), response.get("id"))
        if whole:
            for index, item in enumerate(_fields.get_list(response, "output") or ()):
                for kind, text in _item_outputs(item):
                    acc.output(kind, text)
                if acc.capturing:
                    _keep_tool_item(acc, item, index)
        reason = _finish_reason(response)
        if reason is not None:
            acc.finish_reason(reason)
        responses_usage(acc, response.get("usage"))
        failure = _fields.get_dict(response, "error")
        if failure is not None:
            acc.error(*error_fields(failure))


def _conversation_id(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    return _fields.get_str(value, "id")


class OpenAIResponsesDialect(ObjectRequestDialect):
    """The ``openai_responses`` dialect."""

    name: str = "openai_responses"
    observer_class = ResponsesObserver

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        text = _fields.get_dict(obj, "text")
        return RequestInfo(
            operation=Operation.CHAT,
            provider=provider,
            model=_fields.get_str(obj, "model"),
            stream=_fields.get_bool(obj, "stream") is True,
            temperature=_fields.get_float(obj, "temperature"),
            top_p=_fields.get_float(obj, "top_p"),
            max_tokens=_fields.get_int(obj, "max_output_tokens"),
            output_type=_request.output_type(_fields.get_dict(text, "format")),
            conversation_id=_conversation_id(obj.get("conversation")),
            content=RequestContent("openai_responses", obj),
            reasoning_level=_fields.get_str(_fields.get_dict(obj, "reasoning"), "effort"),
            previous_response_id=_fields.get_str(obj, "previous_response_id"),
            openai_api="responses",
        )


DIALECT: Final = OpenAIResponsesDialect()

__all__ = ["DIALECT", "OpenAIResponsesDialect", "ResponsesObserver"]
