"""Anthropic Messages (``POST /v1/messages``), operation ``chat``, provider ``anthropic``.

Request: ``model``, ``stream`` (default false), ``max_tokens``, ``temperature``, ``top_p``,
``top_k``, ``stop_sequences``, ``output_config.format.type`` (or the older
``output_format.type``; ``json_schema`` -> ``json``), ``system`` (a string or text blocks: the
system instructions) and ``messages``.

Stream: named SSE events, ``message_start`` -> per block ``content_block_start`` /
``content_block_delta`` / ``content_block_stop`` -> ``message_delta`` -> ``message_stop``, with
``ping`` anywhere and ``error`` events. Output-carrying events are the non-empty
``text_delta``, ``input_json_delta`` (tool call) and ``thinking_delta`` (reasoning) deltas, and a
block start that already holds text; ``signature_delta`` and ``citations_delta`` carry no
output. ``message_start`` gives the id, model and first usage; ``message_delta`` gives
``stop_reason`` and usage that is cumulative, so each :class:`Usage` replaces the last.

Usage: the conventions count cached tokens in the input, so input =
``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``; cache read and cache
write are reported too, and reasoning from ``output_tokens_details.thinking_tokens``.
Finish reasons are ``stop_reason`` as-is (``end_turn``, ``max_tokens``, ``stop_sequence``,
``tool_use``, ``pause_turn``, ``refusal``, ...).
"""

from __future__ import annotations

from typing import Any, Final

from sidecar import _json
from sidecar.genai import _fields, _request
from sidecar.genai._observer import BaseObserver, event_error
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import (
    FinishReason,
    Observation,
    Operation,
    OutputChunk,
    OutputKind,
    RequestInfo,
    Usage,
)
from sidecar.wire.events import SSEMessage

#: Delta type -> (kind of output, field holding its text).
_DELTAS: Final = {
    "text_delta": (OutputKind.TEXT, "text"),
    "input_json_delta": (OutputKind.TOOL_CALL, "partial_json"),
    "thinking_delta": (OutputKind.REASONING, "thinking"),
}

#: Content block type -> kind of output and the field holding its text (block starts and
#: whole bodies); a ``tool_use`` block's text is its ``input`` serialised as JSON.
_BLOCKS: Final = {
    "text": (OutputKind.TEXT, "text"),
    "thinking": (OutputKind.REASONING, "thinking"),
}


class AnthropicObserver(BaseObserver):
    """Anthropic Messages events, or one whole ``message`` body."""

    __slots__ = ("_cache_read", "_cache_write", "_input")

    def __init__(self, request: RequestInfo, *, streaming: bool) -> None:
        super().__init__(request, streaming=streaming)
        self._input: int | None = None
        self._cache_read: int | None = None
        self._cache_write: int | None = None

    def _on_message(self, message: SSEMessage, out: list[Observation]) -> None:
        obj = _fields.parse_object(message.data)
        if obj is None:
            return
        kind = _fields.get_str(obj, "type") or message.event
        if kind == "content_block_delta":
            delta = _fields.get_dict(obj, "delta")
            spec = _DELTAS.get(_fields.get_str(delta, "type") or "")
            text = _fields.get_str(delta, spec[1]) if spec is not None else None
            if spec is not None and text:
                out.append(OutputChunk(kind=spec[0], text=text))
        elif kind == "content_block_start":
            self._block(_fields.get_dict(obj, "content_block"), out, whole=False)
        elif kind == "message_start":
            message_obj = _fields.get_dict(obj, "message") or {}
            self._identify(message_obj.get("model"), message_obj.get("id"), out)
            self._usage(message_obj.get("usage"), out)
        elif kind == "message_delta":
            reason = _fields.get_str(_fields.get_dict(obj, "delta"), "stop_reason")
            if reason:
                out.append(FinishReason(reason=reason))
            self._usage(obj.get("usage"), out)
        elif kind == "message_stop":
            self._finish(out)
        elif kind == "error":
            self._fail(event_error(obj), out)

    def _on_document(self, data: bytes | str, out: list[Observation]) -> None:
        obj = self._read_body(data, out)
        if obj is None:
            return
        self._identify(obj.get("model"), obj.get("id"), out)
        for block in _fields.get_list(obj, "content") or ():
            self._block(block, out, whole=True)
        reason = _fields.get_str(obj, "stop_reason")
        if reason:
            out.append(FinishReason(reason=reason))
        self._usage(obj.get("usage"), out)
        self._finish(out)

    def _block(self, block: Any, out: list[Observation], *, whole: bool) -> None:
        """A content block: at a block start only text already present counts as output."""
        kind = _fields.get_str(block, "type")
        if kind in _BLOCKS:
            output, key = _BLOCKS[kind]
            text = _fields.get_str(block, key)
            if text:
                out.append(OutputChunk(kind=output, text=text))
        elif whole and kind == "tool_use":
            out.append(OutputChunk(kind=OutputKind.TOOL_CALL, text=_tool_input(block)))

    def _usage(self, usage: Any, out: list[Observation]) -> None:
        """Cumulative usage: fields a later event omits keep their earlier values."""
        if not isinstance(usage, dict):
            return
        input_tokens = _fields.get_int(usage, "input_tokens")
        cache_read = _fields.get_int(usage, "cache_read_input_tokens")
        cache_write = _fields.get_int(usage, "cache_creation_input_tokens")
        output_tokens = _fields.get_int(usage, "output_tokens")
        reasoning = _fields.get_int(_fields.get_dict(usage, "output_tokens_details"), "thinking_tokens")
        if (input_tokens, cache_read, cache_write, output_tokens, reasoning) == (None,) * 5:
            return
        self._input = input_tokens if input_tokens is not None else self._input
        self._cache_read = cache_read if cache_read is not None else self._cache_read
        self._cache_write = cache_write if cache_write is not None else self._cache_write
        total = None
        if self._input is not None:
            total = self._input + (self._cache_read or 0) + (self._cache_write or 0)
        out.append(
            Usage(
                input_tokens=total,
                output_tokens=output_tokens,
                cache_read_tokens=self._cache_read,
                cache_write_tokens=self._cache_write,
                reasoning_tokens=reasoning,
            )
        )


def _tool_input(block: Any) -> str:
    value = block.get("input") if isinstance(block, dict) else None
    if value is None:
        return ""
    try:
        return _json.dumps_str(value)
    except TypeError:  # nesting deeper than the serialiser allows
        return ""


def _output_type(obj: dict[str, Any]) -> str | None:
    fmt = _fields.get_dict(_fields.get_dict(obj, "output_config"), "format")
    if fmt is None:
        fmt = _fields.get_dict(obj, "output_format")
    return _request.output_type(fmt)


class AnthropicDialect(ObjectRequestDialect):
    """The ``anthropic`` dialect."""

    name: str = "anthropic"

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        return RequestInfo(
            operation=Operation.CHAT,
            provider=provider,
            model=_fields.get_str(obj, "model"),
            stream=_fields.get_bool(obj, "stream") is True,
            temperature=_fields.get_float(obj, "temperature"),
            top_p=_fields.get_float(obj, "top_p"),
            top_k=_fields.get_int(obj, "top_k"),
            max_tokens=_fields.get_int(obj, "max_tokens"),
            stop_sequences=_fields.get_stop(obj, "stop_sequences"),
            output_type=_output_type(obj),
            system_instructions=_request.texts(obj.get("system")),
            input_messages=_request.messages(obj.get("messages")),
        )

    def observer(self, request: RequestInfo, *, streaming: bool) -> AnthropicObserver:
        return AnthropicObserver(request, streaming=streaming)


DIALECT: Final = AnthropicDialect()
