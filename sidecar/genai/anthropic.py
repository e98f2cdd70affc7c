"""Anthropic Messages (``POST /v1/messages``), operation ``chat``, provider ``anthropic``.

Request: ``model``, ``stream`` (default false), ``max_tokens``, ``temperature``, ``top_p``,
``top_k``, ``stop_sequences``, ``output_config.format.type`` (or the older
``output_format.type``; ``json_schema`` -> ``json``), ``system`` (a string or text blocks: the
system instructions) and ``messages``.

Stream: named SSE events, ``message_start`` -> per block ``content_block_start`` /
``content_block_delta`` / ``content_block_stop`` -> ``message_delta`` -> ``message_stop``, with
``ping`` anywhere and ``error`` events. Output-carrying events are the non-empty
``text_delta``, ``input_json_delta`` (tool call) and ``thinking_delta`` (reasoning) deltas, and a
block start that already holds text (with capture on, a ``tool_use`` block start gives the
call's id and name, kept by the block's ``index``, and its deltas the input JSON);
``signature_delta`` and ``citations_delta`` carry no output. ``message_start`` gives the id,
model and the input usage (its ``output_tokens`` is a placeholder for output not yet written,
never read: a stream cut before ``message_delta`` has no output count); ``message_delta`` gives
``stop_reason`` and usage that is cumulative, so each report replaces the last.

Usage: the conventions count cached tokens in the input, so input =
``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``; cache read and cache
write are reported too, and reasoning from ``output_tokens_details.thinking_tokens``.
Finish reasons are ``stop_reason`` as-is (``end_turn``, ``max_tokens``, ``stop_sequence``,
``tool_use``, ``pause_turn``, ``refusal``, ...).
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai import _fields, _request
from sidecar.genai.accumulator import CallAccumulator
from sidecar.genai.content import RequestContent
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import Operation, OutputKind, RequestInfo
from sidecar.genai.observer import Observer, event_error, parse, read_error_body
from sidecar.wire.events import SSEMessage

#: Text and reasoning delta type -> (kind of output, field holding its text); a tool call's
#: ``input_json_delta`` is read apart.
_DELTAS: Final = {
    "text_delta": (OutputKind.TEXT, "text"),
    "thinking_delta": (OutputKind.REASONING, "thinking"),
}

#: Content block type -> kind of output and the field holding its text (block starts and
#: whole bodies); ``tool_use`` blocks are read apart.
_BLOCKS: Final = {
    "text": (OutputKind.TEXT, "text"),
    "thinking": (OutputKind.REASONING, "thinking"),
}


class AnthropicObserver(Observer):
    """Anthropic Messages events, or one whole ``message`` body."""

    __slots__ = ("_cache_read", "_cache_write", "_input")
    lines_are_bodies = True

    def __init__(
        self, request: RequestInfo, *, streaming: bool, accumulator: CallAccumulator | None = None
    ) -> None:
        super().__init__(request, streaming=streaming, accumulator=accumulator)
        self._input: int | None = None
        self._cache_read: int | None = None
        self._cache_write: int | None = None

    def _on_message(self, message: SSEMessage) -> None:
        obj = parse(message.data)
        if not isinstance(obj, dict):
            return
        acc = self.acc
        kind = _fields.get_str(obj, "type") or message.event
        if kind == "content_block_delta":
            delta = _fields.get_dict(obj, "delta")
            delta_type = _fields.get_str(delta, "type") or ""
            spec = _DELTAS.get(delta_type)
            if spec is not None:
                text = _fields.get_str(delta, spec[1])
                if text:
                    acc.output(spec[0], text)
            elif delta_type == "input_json_delta":
                fragment = _fields.get_str(delta, "partial_json")
                if fragment:
                    acc.output(OutputKind.TOOL_CALL, "")
                    if acc.capturing:
                        acc.tool_call(_block_index(obj), delta=fragment)
        elif kind == "content_block_start":
            self._block(_fields.get_dict(obj, "content_block"), _block_index(obj), whole=False)
        elif kind == "message_start":
            message_obj = _fields.get_dict(obj, "message") or {}
            acc.identify(message_obj.get("model"), message_obj.get("id"))
            # Its output_tokens is a placeholder (1) for a message not yet written: only the
            # counts of message_delta describe the output.
            self._usage(message_obj.get("usage"), output=False)
        elif kind == "message_delta":
            reason = _fields.get_str(_fields.get_dict(obj, "delta"), "stop_reason")
            if reason:
                acc.finish_reason(reason)
            self._usage(obj.get("usage"))
        elif kind == "message_stop":
            acc.terminal()
        elif kind == "error":
            acc.error(*event_error(obj))

    def _on_body(self, value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        acc = self.acc
        if read_error_body(acc, value):
            return True
        acc.identify(value.get("model"), value.get("id"))
        for index, block in enumerate(_fields.get_list(value, "content") or ()):
            self._block(block, index, whole=True)
        reason = _fields.get_str(value, "stop_reason")
        if reason:
            acc.finish_reason(reason)
        self._usage(value.get("usage"))
        return True

    def _block(self, block: Any, index: int, *, whole: bool) -> None:
        """Content block ``index``: at a block start only text already present counts as
        output; a ``tool_use`` block gives the call's id and name (and, whole, its input; a
        block start's ``input`` is a placeholder for the deltas that follow)."""
        acc = self.acc
        kind = _fields.get_str(block, "type")
        if kind in _BLOCKS:
            output, key = _BLOCKS[kind]
            text = _fields.get_str(block, key)
            if text:
                acc.output(output, text)
        elif kind == "tool_use" and isinstance(block, dict):
            if whole:
                acc.output(OutputKind.TOOL_CALL, "")
            if acc.capturing:
                arguments = block.get("input") if whole else None
                acc.tool_call(index, call_id=block.get("id"), name=block.get("name"), arguments=arguments)

    def _usage(self, usage: Any, *, output: bool = True) -> None:
        """Cumulative usage: fields a later event omits keep their earlier values. Without
        ``output`` the output counts are not read (``message_start``'s placeholder)."""
        if not isinstance(usage, dict):
            return
        input_tokens = _fields.get_int(usage, "input_tokens")
        cache_read = _fields.get_int(usage, "cache_read_input_tokens")
        cache_write = _fields.get_int(usage, "cache_creation_input_tokens")
        output_tokens = _fields.get_int(usage, "output_tokens") if output else None
        details = _fields.get_dict(usage, "output_tokens_details") if output else None
        reasoning = _fields.get_int(details, "thinking_tokens")
        if (input_tokens, cache_read, cache_write, output_tokens, reasoning) == (None,) * 5:
            return
        self._input = input_tokens if input_tokens is not None else self._input
        self._cache_read = cache_read if cache_read is not None else self._cache_read
        self._cache_write = cache_write if cache_write is not None else self._cache_write
        total = None
        if self._input is not None:
            total = self._input + (self._cache_read or 0) + (self._cache_write or 0)
        self.acc.usage(
            input_tokens=total,
            output_tokens=output_tokens,
            cache_read_tokens=self._cache_read,
            cache_write_tokens=self._cache_write,
            reasoning_tokens=reasoning,
        )


def _block_index(event: dict[str, Any]) -> int:
    index = _fields.get_int(event, "index")
    return index if index is not None else 0


def _output_type(obj: dict[str, Any]) -> str | None:
    fmt = _fields.get_dict(_fields.get_dict(obj, "output_config"), "format")
    if fmt is None:
        fmt = _fields.get_dict(obj, "output_format")
    return _request.output_type(fmt)


class AnthropicDialect(ObjectRequestDialect):
    """The ``anthropic`` dialect."""

    name: str = "anthropic"
    observer_class = AnthropicObserver

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
            content=RequestContent("anthropic", obj),
        )


DIALECT: Final = AnthropicDialect()
