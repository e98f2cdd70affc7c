"""Cohere v2: ``/v2/chat`` (chat) and ``/v2/embed`` (embeddings).

Wire facts (docs.cohere.com v2 chat streaming; cohere-python ``v2`` types): ``stream`` defaults
to false. A stream is SSE whose JSON payloads carry ``type``: ``message-start`` (``id``),
``content-start`` / ``content-delta`` (``delta.message.content.text``, or ``.thinking``) /
``content-end``, ``tool-plan-delta`` (``delta.message.tool_plan``), ``tool-call-start`` /
``tool-call-delta`` / ``tool-call-end`` (``delta.message.tool_calls``), ``citation-*``, ``debug``
and the terminal ``message-end`` with ``delta.finish_reason``, ``delta.usage`` and, on failure,
``delta.error``. The stream never names the model: ``ResponseInfo`` carries only the id. The
non-streamed chat body has ``id``, ``message``, ``finish_reason`` and ``usage``; the embed body
has ``id`` and ``meta.billed_units``. Error bodies are ``{"id"?, "message": "..."}``.

Usage: ``billed_units`` wins over ``tokens`` field by field (semconv reports billable counts).
The tool plan is the model's reasoning before a tool call, so it is a reasoning chunk.

Finish reasons: ``COMPLETE`` and ``STOP_SEQUENCE`` -> ``stop``; ``MAX_TOKENS`` -> ``length``;
``TOOL_CALL`` -> ``tool_call``; ``ERROR`` and ``TIMEOUT`` -> ``error``; anything else lower-cased.
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai._fields import get_bool, get_dict, get_float, get_int, get_list, get_stop, get_str
from sidecar.genai._native_base import (
    NativeObserver,
    first_output,
    route,
    split_messages,
    text_of,
    tool_call_text,
)
from sidecar.genai.dialect import ObjectRequestDialect, ResponseObserver
from sidecar.genai.observations import (
    FinishReason,
    Observation,
    Operation,
    OutputKind,
    RequestInfo,
    Usage,
)
from sidecar.wire.events import SSEMessage, WireEvent

_FINISH: Final = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_call",
    "ERROR": "error",
    "TIMEOUT": "error",
}
_OUTPUT_TYPES: Final = {"json_object": "json", "text": "text"}


def _operation(path: str, body: dict[str, Any]) -> Operation:
    path = route(path)
    if path.endswith("/embed") or ("texts" in body and "messages" not in body):
        return Operation.EMBEDDINGS
    return Operation.CHAT


def _usage(usage: dict[str, Any] | None) -> Usage:
    billed = get_dict(usage, "billed_units")
    tokens = get_dict(usage, "tokens")
    values: dict[str, int | None] = {}
    for key in ("input_tokens", "output_tokens"):
        value = get_int(billed, key)
        values[key] = value if value is not None else get_int(tokens, key)
    return Usage(input_tokens=values["input_tokens"], output_tokens=values["output_tokens"])


class CohereDialect(ObjectRequestDialect):
    """The ``cohere`` dialect."""

    name: str = "cohere"

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        operation = _operation(path, obj)
        system, inputs = split_messages(get_list(obj, "messages"))
        kind = get_str(get_dict(obj, "response_format"), "type")
        return RequestInfo(
            operation=operation,
            provider=provider,
            model=get_str(obj, "model"),
            stream=operation is Operation.CHAT and get_bool(obj, "stream") is True,
            temperature=get_float(obj, "temperature"),
            top_p=get_float(obj, "p"),
            top_k=get_int(obj, "k"),
            max_tokens=get_int(obj, "max_tokens"),
            stop_sequences=get_stop(obj, "stop_sequences"),
            seed=get_int(obj, "seed"),
            frequency_penalty=get_float(obj, "frequency_penalty"),
            presence_penalty=get_float(obj, "presence_penalty"),
            output_type=_OUTPUT_TYPES.get(kind) if kind else None,
            system_instructions=system,
            input_messages=inputs,
        )

    def observer(self, request: RequestInfo, *, streaming: bool) -> ResponseObserver:
        return CohereObserver(request, streaming=streaming)


class CohereObserver(NativeObserver):
    """SSE events of a ``/v2/chat`` stream, or a non-streamed chat / embed body."""

    def handle(self, value: Any, event: WireEvent, out: list[Observation]) -> None:
        if not isinstance(value, dict):
            return
        kind = get_str(value, "type")
        if kind is None and isinstance(event, SSEMessage) and event.event != "message":
            kind = event.event
        if kind is None:
            self._body(value, out)
            return
        delta = get_dict(value, "delta")
        message = get_dict(delta, "message")
        if kind == "message-start":
            self.identity(out, id=get_str(value, "id"))
        elif kind == "content-delta":
            content = get_dict(message, "content")
            found = first_output(text=get_str(content, "text"), reasoning=get_str(content, "thinking"))
            self.output(out, found, 0)
        elif kind == "tool-plan-delta":
            self.output(out, first_output(reasoning=get_str(message, "tool_plan")), 0)
        elif kind in ("tool-call-start", "tool-call-delta"):
            calls = get_dict(message, "tool_calls")
            arguments = get_str(get_dict(calls, "function"), "arguments")
            if calls is not None:
                self.output(out, (OutputKind.TOOL_CALL, arguments or ""), 0)
        elif kind == "message-end":
            self._end(delta, out)

    def _end(self, delta: dict[str, Any] | None, out: list[Observation]) -> None:
        self.usage(out, _usage(get_dict(delta, "usage")))
        reason = get_str(delta, "finish_reason")
        if reason:
            out.append(FinishReason(reason=_FINISH.get(reason, reason.lower())))
        error = get_str(delta, "error")
        if error:
            self.fail(out, None, error)
        self.finish(out)

    def _body(self, body: dict[str, Any], out: list[Observation]) -> None:
        message = body.get("message")
        if isinstance(message, str):
            self.fail(out, None, message)
            return
        self.identity(out, id=get_str(body, "id"))
        if isinstance(message, dict):
            found = first_output(
                tool_calls=tool_call_text(get_list(message, "tool_calls")),
                text=text_of(message.get("content")),
                reasoning=get_str(message, "tool_plan"),
            )
            self.output(out, found, 0)
        usage = get_dict(body, "usage") or get_dict(body, "meta")
        self.usage(out, _usage(usage))
        reason = get_str(body, "finish_reason")
        if reason:
            out.append(FinishReason(reason=_FINISH.get(reason, reason.lower())))
        self.finish(out)


DIALECT: Final = CohereDialect()
