"""Ollama's native API: ``/api/chat``, ``/api/generate``, ``/api/embed`` and ``/api/embeddings``.

Wire facts (``ollama/ollama`` ``api/types.go`` and ``docs/api``): chat and generate stream NDJSON
unless the request says ``"stream": false`` (streaming is the default when the field is absent).
Every line carries ``model``; there is no response id. The last line has ``"done": true`` with
``done_reason`` (``stop``, ``length``, ``load``, ``unload``) and the metrics ``prompt_eval_count``,
``eval_count`` and the nanosecond durations ``load_duration``, ``prompt_eval_duration``,
``eval_duration``, ``total_duration`` -- each omitted when zero, so on the done line an absent
count is 0. A failure mid-stream is one ``{"error": "..."}`` line with the HTTP status unchanged.

Server timing from the done line: time to first token = (load + prompt eval) duration, time per
output token = eval duration / eval count, request duration = total duration.
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai._fields import get_bool, get_dict, get_float, get_int, get_list, get_stop, get_str
from sidecar.genai._request import non_negative, route
from sidecar.genai.content import RequestContent
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import Operation, RequestInfo
from sidecar.genai.observer import Observer, first_output, keep_whole_calls, native_error
from sidecar.genai.provider import OLLAMA
from sidecar.wire.events import SSEMessage

_OPERATIONS: Final = {
    "/api/chat": Operation.CHAT,
    "/api/generate": Operation.TEXT_COMPLETION,
    "/api/embed": Operation.EMBEDDINGS,
    "/api/embeddings": Operation.EMBEDDINGS,
}
_NS: Final = 1e9


def _operation(path: str, body: dict[str, Any]) -> Operation:
    """By path; for a path outside the table (a configured route), by the body's shape."""
    clean = route(path)
    for suffix, operation in _OPERATIONS.items():
        if clean.endswith(suffix):  # a gateway may put a prefix before it (``/ollama/api/chat``)
            return operation
    if "messages" in body:
        return Operation.CHAT
    if "input" in body:
        return Operation.EMBEDDINGS
    return Operation.TEXT_COMPLETION


def _output_type(body: dict[str, Any]) -> str | None:
    """``format`` is ``"json"`` or a JSON schema; both ask for JSON output."""
    fmt = body.get("format")
    return "json" if fmt == "json" or isinstance(fmt, dict) else None


class OllamaObserver(Observer):
    """NDJSON lines of a chat/generate stream, or one JSON body (non-streamed or embeddings)."""

    __slots__ = ()

    def _on_value(self, value: Any, message: SSEMessage | None) -> None:
        if not isinstance(value, dict):
            return
        acc = self.acc
        error = native_error(value.get("error"))
        if error is not None:
            acc.error(*error)
            return
        acc.identify(get_str(value, "model"))
        if "embeddings" in value or "embedding" in value:
            self._embeddings(value)
            return
        message_obj = get_dict(value, "message")
        calls = get_list(message_obj, "tool_calls") or get_list(value, "tool_calls")
        if calls and acc.capturing:
            keep_whole_calls(acc, calls)
        found = first_output(
            tool_calls=bool(calls),
            text=get_str(message_obj, "content") or get_str(value, "response"),
            reasoning=get_str(message_obj, "thinking") or get_str(value, "thinking"),
        )
        if found is not None:
            acc.output(*found)
        if get_bool(value, "done") is True:
            self._done(value)

    def _done(self, line: dict[str, Any]) -> None:
        acc = self.acc
        acc.reveal(OLLAMA)
        acc.usage(
            input_tokens=get_int(line, "prompt_eval_count") or 0,
            output_tokens=get_int(line, "eval_count") or 0,
        )
        reason = get_str(line, "done_reason")
        if reason:
            acc.finish_reason(reason)
        load = get_int(line, "load_duration")
        prompt = get_int(line, "prompt_eval_duration")
        eval_count = get_int(line, "eval_count")
        eval_duration = get_int(line, "eval_duration")
        total = get_int(line, "total_duration")
        acc.server_timing(
            time_to_first_token_s=(
                ((load or 0) + (prompt or 0)) / _NS if load is not None or prompt is not None else None
            ),
            time_per_output_token_s=(
                eval_duration / (eval_count * _NS) if eval_duration is not None and eval_count else None
            ),
            request_duration_s=total / _NS if total is not None else None,
        )
        acc.terminal()

    def _embeddings(self, body: dict[str, Any]) -> None:
        """``/api/embed`` reports ``prompt_eval_count`` (omitted when zero); the legacy
        ``/api/embeddings`` answer (``embedding``) reports no usage at all."""
        acc = self.acc
        count = get_int(body, "prompt_eval_count")
        if "embeddings" in body:
            count = count or 0
        if count is not None:
            acc.usage(input_tokens=count)
        total = get_int(body, "total_duration")
        if total is not None:
            acc.server_timing(request_duration_s=total / _NS)
        acc.terminal()


class OllamaDialect(ObjectRequestDialect):
    """The ``ollama`` dialect."""

    name: str = "ollama"
    observer_class = OllamaObserver

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        operation = _operation(path, obj)
        options = get_dict(obj, "options")
        stream = get_bool(obj, "stream")
        return RequestInfo(
            operation=operation,
            provider=provider,
            model=get_str(obj, "model"),
            stream=operation is not Operation.EMBEDDINGS and stream is not False,
            temperature=get_float(options, "temperature"),
            top_p=get_float(options, "top_p"),
            top_k=get_int(options, "top_k"),
            max_tokens=non_negative(get_int(options, "num_predict")),
            stop_sequences=get_stop(options, "stop"),
            seed=get_int(options, "seed"),
            frequency_penalty=get_float(options, "frequency_penalty"),
            presence_penalty=get_float(options, "presence_penalty"),
            output_type=_output_type(obj),
            content=None if operation is Operation.EMBEDDINGS else RequestContent("ollama", obj),
            dimensions=get_int(obj, "dimensions") if operation is Operation.EMBEDDINGS else None,
        )


DIALECT: Final = OllamaDialect()
