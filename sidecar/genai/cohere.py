"""Cohere v2: ``/v2/chat`` (chat) and ``/v2/embed`` (embeddings).

Wire facts (docs.cohere.com v2 chat streaming; cohere-python ``v2`` types): ``stream`` defaults
to false. A stream is SSE whose JSON payloads carry ``type``: ``message-start`` (``id``),
``content-start`` / ``content-delta`` (``delta.message.content.text``, or ``.thinking``) /
``content-end``, ``tool-plan-delta`` (``delta.message.tool_plan``), ``tool-call-start`` /
``tool-call-delta`` / ``tool-call-end`` (``delta.message.tool_calls``), ``citation-*``, ``debug``
and the terminal ``message-end`` with ``delta.finish_reason``, ``delta.usage`` and, on failure,
``delta.error``. The stream never names the model: only the response id is known. The
non-streamed chat body has ``id``, ``message``, ``finish_reason`` and ``usage``; the embed body
has ``id`` and ``meta.billed_units``. Error bodies are ``{"id"?, "message": "..."}``.

Usage: ``billed_units`` wins over ``tokens`` field by field (semconv reports billable counts).
The tool plan is the model's reasoning before a tool call, so it is a reasoning chunk.

Finish reasons are Cohere's own values, as sent (``COMPLETE``, ``STOP_SEQUENCE``, ``MAX_TOKENS``,
``TOOL_CALL``, ``ERROR``, ``TIMEOUT``); :mod:`sidecar.genai.finish` gives the counter its
normalised label.
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai._fields import get_bool, get_dict, get_float, get_int, get_list, get_stop, get_str
from sidecar.genai._request import route, text_of
from sidecar.genai.accumulator import CallAccumulator
from sidecar.genai.content import RequestContent
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import Operation, OutputKind, RequestInfo
from sidecar.genai.observer import Observer, first_output, keep_whole_calls
from sidecar.wire.events import SSEMessage

_OUTPUT_TYPES: Final = {"json_object": "json", "text": "text"}


def _operation(path: str, body: dict[str, Any]) -> Operation:
    path = route(path)
    if path.endswith("/embed") or ("texts" in body and "messages" not in body):
        return Operation.EMBEDDINGS
    return Operation.CHAT


def _usage(acc: CallAccumulator, usage: dict[str, Any] | None) -> None:
    billed = get_dict(usage, "billed_units")
    tokens = get_dict(usage, "tokens")
    values: dict[str, int | None] = {}
    for key in ("input_tokens", "output_tokens"):
        value = get_int(billed, key)
        values[key] = value if value is not None else get_int(tokens, key)
    acc.usage(input_tokens=values["input_tokens"], output_tokens=values["output_tokens"])


class CohereObserver(Observer):
    """SSE events of a ``/v2/chat`` stream, or a non-streamed chat / embed body."""

    __slots__ = ()

    def _on_value(self, value: Any, message: SSEMessage | None) -> None:
        if not isinstance(value, dict):
            return
        acc = self.acc
        kind = get_str(value, "type")
        if kind is None and message is not None and message.event != "message":
            kind = message.event
        if kind is None:
            self._body(value)
            return
        delta = get_dict(value, "delta")
        delta_message = get_dict(delta, "message")
        found: tuple[OutputKind, str] | None = None
        if kind == "message-start":
            acc.identify(None, get_str(value, "id"))
        elif kind == "content-delta":
            content = get_dict(delta_message, "content")
            found = first_output(text=get_str(content, "text"), reasoning=get_str(content, "thinking"))
        elif kind == "tool-plan-delta":
            found = first_output(reasoning=get_str(delta_message, "tool_plan"))
        elif kind in ("tool-call-start", "tool-call-delta"):
            call = get_dict(delta_message, "tool_calls")
            if call is not None:
                found = (OutputKind.TOOL_CALL, "")
                if acc.capturing:
                    function = get_dict(call, "function")
                    acc.tool_call(
                        get_int(value, "index") or 0,
                        call_id=call.get("id"),
                        name=get_str(function, "name"),
                        delta=get_str(function, "arguments"),
                    )
        elif kind == "message-end":
            self._end(delta)
        if found is not None:
            acc.output(*found)

    def _end(self, delta: dict[str, Any] | None) -> None:
        acc = self.acc
        _usage(acc, get_dict(delta, "usage"))
        reason = get_str(delta, "finish_reason")
        if reason:
            acc.finish_reason(reason)
        error = get_str(delta, "error")
        if error:
            acc.error(None, error)
        acc.terminal()

    def _body(self, body: dict[str, Any]) -> None:
        acc = self.acc
        message = body.get("message")
        if isinstance(message, str):
            acc.error(None, message)
            return
        acc.identify(None, get_str(body, "id"))
        if isinstance(message, dict):
            calls = get_list(message, "tool_calls")
            if calls and acc.capturing:
                keep_whole_calls(acc, calls)
            found = first_output(
                tool_calls=bool(calls),
                text=text_of(message.get("content")),
                reasoning=get_str(message, "tool_plan"),
            )
            if found is not None:
                acc.output(*found)
        _usage(acc, get_dict(body, "usage") or get_dict(body, "meta"))
        reason = get_str(body, "finish_reason")
        if reason:
            acc.finish_reason(reason)
        acc.terminal()


class CohereDialect(ObjectRequestDialect):
    """The ``cohere`` dialect."""

    name: str = "cohere"
    observer_class = CohereObserver

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        operation = _operation(path, obj)
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
            content=RequestContent("cohere", obj),
        )


DIALECT: Final = CohereDialect()
