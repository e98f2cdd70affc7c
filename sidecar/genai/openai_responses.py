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
``response.reasoning_summary_text``). Lifecycle events (``response.created``, ``.queued``,
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
from sidecar.genai.content import RequestContent
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import Operation, OutputKind, RequestInfo
from sidecar.genai.observer import Observer, error_fields, error_of, event_error, parse
from sidecar.wire.events import SSEMessage

#: Streamed delta event type -> the kind of output it carries.
_DELTAS: Final = {
    "response.output_text.delta": OutputKind.TEXT,
    "response.refusal.delta": OutputKind.TEXT,
    "response.audio.transcript.delta": OutputKind.TEXT,
    "response.function_call_arguments.delta": OutputKind.TOOL_CALL,
    "response.custom_tool_call_input.delta": OutputKind.TOOL_CALL,
    "response.mcp_call_arguments.delta": OutputKind.TOOL_CALL,
    "response.code_interpreter_call_code.delta": OutputKind.TOOL_CALL,
    "response.reasoning_text.delta": OutputKind.REASONING,
    "response.reasoning_summary_text.delta": OutputKind.REASONING,
}

_LIFECYCLE: Final = frozenset({"response.created", "response.queued", "response.in_progress"})
_TERMINAL: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})

#: Output item types that are tool calls, and the field holding their generated input.
_TOOL_ITEMS: Final = {"function_call": "arguments", "custom_tool_call": "input"}


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
    elif kind is not None and kind in _TOOL_ITEMS:
        found.append((OutputKind.TOOL_CALL, _fields.get_str(item, _TOOL_ITEMS[kind]) or ""))
    return found


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
        elif kind in _LIFECYCLE:
            response = _fields.get_dict(obj, "response") or {}
            acc.identify(response.get("model"), response.get("id"))
            acc.openai_response(response.get("service_tier"))
        elif kind in _TERMINAL:
            self._response(_fields.get_dict(obj, "response") or {}, whole=False)
            acc.terminal()
        elif kind == "error":
            acc.error(*event_error(obj))

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
            for item in _fields.get_list(response, "output") or ():
                for kind, text in _item_outputs(item):
                    acc.output(kind, text)
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
