"""OpenAI Chat Completions (``POST /v1/chat/completions``), as served by OpenAI and by the
OpenAI-compatible servers (vLLM, llama.cpp, Ollama, TGI, ...).

Request: ``model``, ``stream`` (default false), sampling parameters, ``max_completion_tokens``
(else ``max_tokens``), ``stop``, ``seed``, ``n``, ``response_format.type``, and
``stream_options.include_usage``. ``top_k`` is the vLLM / llama.cpp extension; OpenAI's
``top_logprobs`` is a different thing and is never read as ``top_k``. For opt-in capture,
``system`` and ``developer`` messages are the system instructions and the others the input
messages (text parts only).

Response: a chunk carries output when a choice's delta has a non-empty ``tool_calls`` /
``function_call`` (tool call), ``content`` or ``refusal`` (text), or ``reasoning_content`` /
``reasoning`` (reasoning, as vLLM, llama.cpp and Ollama name it). A chunk gives at most one
output chunk per choice, of the first kind present in that order, so that each chunk is
one time-per-output-chunk sample; a whole body gives one per kind present. The first chunk,
which only says ``role: assistant``, and the final usage-only chunk carry none. Finish reasons
are passed through as the server spells them (``stop``, ``length``, ``tool_calls``,
``content_filter``, ``function_call``).
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai import _fields, _request
from sidecar.genai._openai import ChoicesObserver, Outputs
from sidecar.genai.accumulator import CallAccumulator
from sidecar.genai.content import RequestContent
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import Operation, OutputKind, RequestInfo


def chat_request(obj: dict[str, Any], provider: str, operation: Operation = Operation.CHAT) -> RequestInfo:
    """Parameters of a parsed chat (or legacy completions) request body."""
    stream = _fields.get_bool(obj, "stream") is True
    max_tokens = _fields.get_int(obj, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = _fields.get_int(obj, "max_tokens")
    include_usage = _fields.get_bool(_fields.get_dict(obj, "stream_options"), "include_usage")
    return RequestInfo(
        operation=operation,
        provider=provider,
        model=_fields.get_str(obj, "model"),
        stream=stream,
        temperature=_fields.get_float(obj, "temperature"),
        top_p=_fields.get_float(obj, "top_p"),
        top_k=_fields.get_int(obj, "top_k"),
        max_tokens=max_tokens,
        stop_sequences=_fields.get_stop(obj, "stop"),
        seed=_fields.get_int(obj, "seed"),
        choice_count=_fields.get_int(obj, "n"),
        frequency_penalty=_fields.get_float(obj, "frequency_penalty"),
        presence_penalty=_fields.get_float(obj, "presence_penalty"),
        output_type=_request.output_type(_fields.get_dict(obj, "response_format")),
        include_usage=stream and include_usage is True,
        usage_requested=not stream or include_usage is True,
        content=RequestContent("openai_chat", obj),
        reasoning_level=_fields.get_str(obj, "reasoning_effort"),
        openai_api="chat_completions" if operation is Operation.CHAT else None,
    )


def tool_calls_of(message: Any) -> list[Any] | None:
    """A (delta) message's tool calls: its ``tool_calls`` list, or the legacy ``function_call``
    as a one-call list; ``None`` when it has none."""
    calls = _fields.get_list(message, "tool_calls")
    if calls:
        return calls
    legacy = _fields.get_dict(message, "function_call")
    return [{"index": 0, "function": legacy}] if legacy is not None else None


def keep_tool_calls(acc: CallAccumulator, calls: list[Any], choice: int, *, whole: bool) -> None:
    """Capture: each call's index (its position when it gives none), id, name and arguments
    (a delta's fragment, or a whole message's arguments)."""
    for position, call in enumerate(calls):
        function = _fields.get_dict(call, "function")
        index = _fields.get_int(call, "index")
        arguments = function.get("arguments") if function is not None else None
        acc.tool_call(
            index if index is not None else position,
            call_id=call.get("id") if isinstance(call, dict) else None,
            name=function.get("name") if function is not None else None,
            arguments=arguments if whole else None,
            delta=None if whole else arguments,
            choice=choice,
        )


def message_outputs(message: Any, *, whole: bool) -> Outputs:
    """Outputs in a chat ``message`` (``whole``: reasoning, text, tool calls, each present one)
    or ``delta`` (the first present of tool calls, text, reasoning: one output per chunk). A tool
    call's text is empty: the calls are captured apart (:func:`keep_tool_calls`)."""
    if not isinstance(message, dict):
        return []
    found: Outputs = []
    if tool_calls_of(message) is not None:
        found.append((OutputKind.TOOL_CALL, ""))
    text = _request.content_text(message.get("content"))
    refusal = _fields.get_str(message, "refusal")
    if text or refusal:
        found.append((OutputKind.TEXT, (text or "") + (refusal or "")))
    reasoning = _fields.get_str(message, "reasoning_content") or _fields.get_str(message, "reasoning")
    if reasoning:
        found.append((OutputKind.REASONING, reasoning))
    return found[::-1] if whole else found[:1]


class ChatObserver(ChoicesObserver):
    """Chat completion chunks (``choices[].delta``) or a whole ``chat.completion`` body. With
    capture on, a message or delta with tool calls gives each call to :func:`keep_tool_calls`."""

    __slots__ = ()
    text_key = '"content":"'

    def _outputs(self, choice: dict[str, Any], index: int, *, whole: bool) -> Outputs:
        message = choice.get("message" if whole else "delta")
        found = message_outputs(message, whole=whole)
        if self.acc.capturing and any(kind is OutputKind.TOOL_CALL for kind, _ in found):
            keep_tool_calls(self.acc, tool_calls_of(message) or [], index, whole=whole)
        return found

    def _text_of(self, choice: dict[str, Any]) -> str | None:
        return _fields.get_str(_fields.get_dict(choice, "delta"), "content")

    def _chunk_output(self, choice: dict[str, Any], index: int) -> tuple[OutputKind, str] | None:
        # The common chunk, a delta with only text, without the general reading; the same
        # answer as ``message_outputs(delta, whole=False)`` (a property test holds them equal).
        delta = choice.get("delta")
        if type(delta) is dict and "tool_calls" not in delta and "function_call" not in delta:
            content = delta.get("content")
            if type(content) is str and content and "refusal" not in delta:
                return OutputKind.TEXT, content
        found = message_outputs(delta, whole=False)
        if not found:
            return None
        if found[0][0] is OutputKind.TOOL_CALL and self.acc.capturing:  # tool-call deltas only
            keep_tool_calls(self.acc, tool_calls_of(delta) or [], index, whole=False)
        return found[0]


class OpenAIChatDialect(ObjectRequestDialect):
    """The ``openai_chat`` dialect."""

    name: str = "openai_chat"
    observer_class = ChatObserver

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        return chat_request(obj, provider)


DIALECT: Final = OpenAIChatDialect()

__all__ = ["DIALECT", "ChatObserver", "OpenAIChatDialect", "chat_request", "message_outputs"]
