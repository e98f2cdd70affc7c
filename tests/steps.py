"""Response facts as data, for tests: what a response says, and the final state it must leave.

A *step* is one fact a response carries: an output chunk, a usage report, a finish reason, the
response model and id, an in-body error, the server's own timings, the terminal event, or (at
the end) a premature end. Tests write what a body must yield as a list of steps;

* :func:`expect` folds such a list into the final :class:`State` by the accumulator's rules,
  written out here on their own (replace-not-add usage and timings, last finish reason per
  choice, last non-empty model and id, last error), so a test compares against facts rather
  than against the code under test;
* :func:`state_of` reads a :class:`RecordingAccumulator` into the same shape;
* :func:`apply` writes a step into an accumulator the way a dialect does (the telemetry tests
  script a recorder with it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from sidecar.genai.accumulator import MAX_CHOICES, USAGE_FIELD, CallAccumulator
from sidecar.genai.observations import CapturedToolCall, OutputKind, ServerTiming, UpstreamError, Usage

#: Capture limit the recording accumulator uses: far above any test's output.
CAPTURE_CHARS = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputChunk:
    kind: OutputKind
    text: str = ""
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A tool call capture must keep for ``choice``: its id, name and arguments (the JSON value
    the argument text encodes, else the text; ``None``: no arguments came), ``truncated`` when
    the text was cut at the capture bound."""

    id: str | None = None
    name: str | None = None
    arguments: Any = None
    truncated: bool = False
    choice: int = 0

    def facts(self) -> dict[str, Any]:
        """The call as a transcript's expected file writes it (absent fields left out)."""
        found: dict[str, Any] = {"id": self.id, "name": self.name, "arguments": self.arguments}
        found = {key: value for key, value in found.items() if value is not None}
        if self.truncated:
            found["truncated"] = True
        return found


def captured_call(call: CapturedToolCall) -> dict[str, Any]:
    """What the accumulator kept of a tool call, as :meth:`ToolCall.facts` writes it."""
    arguments: Any = None
    if call.arguments:
        try:
            arguments = json.loads(call.arguments)
        except ValueError:
            arguments = call.arguments
    return ToolCall(id=call.id, name=call.name, arguments=arguments, truncated=call.truncated).facts()


@dataclass(frozen=True, slots=True, kw_only=True)
class FinishReason:
    reason: str
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseInfo:
    model: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerCounts:
    """Token counts from outside a usage object (llama.cpp ``timings``, Groq ``x_groq.usage``):
    the usage only when no usage object came, with ``source`` as its source."""

    source: str
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class StreamComplete:
    """The terminal event arrived (or a non-streamed body was read whole)."""


@dataclass(frozen=True, slots=True)
class PrematureEnd:
    """The body ended neither complete nor failed."""


Step: TypeAlias = (
    OutputChunk
    | ToolCall
    | Usage
    | FinishReason
    | ResponseInfo
    | UpstreamError
    | ServerTiming
    | ServerCounts
    | StreamComplete
    | PrematureEnd
)


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """A response's final state: the output chunks in arrival order as ``(kind, choice)``, the
    output text and reasoning per choice and kind, the tool calls per choice, and what the
    accumulator keeps."""

    chunks: tuple[tuple[str, int], ...] = ()
    output: dict[int, dict[str, str]] = field(default_factory=dict)
    tool_calls: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    usage: Usage | None = None
    server_timing: ServerTiming | None = None
    finish_reasons: dict[int, str] = field(default_factory=dict)
    response_model: str | None = None
    response_id: str | None = None
    error: UpstreamError | None = None
    complete: bool = False
    premature: bool = False
    #: Where the usage came from (``usage``, ``timings``, ``x_groq.usage``); None without usage.
    usage_source: str | None = None
    #: The server the response named by fields of its own (``sidecar.genai.provider``), or None;
    #: compared by the transcript harness only.
    provider: str | None = None


def _replace(old: Any, new: Any) -> Any:
    """Fields ``new`` sets replace those of ``old`` (both the same dataclass type, or old None)."""
    if old is None:
        return new
    fields = {name: getattr(new, name) for name in new.__slots__}
    return type(new)(**{k: (v if v not in (None, ()) else getattr(old, k)) for k, v in fields.items()})


def expect(*steps: Step) -> State:
    """The final state ``steps`` give."""
    chunks: list[tuple[str, int]] = []
    output: dict[int, dict[str, str]] = {}
    tool_calls: dict[int, list[dict[str, Any]]] = {}
    values: dict[str, Any] = {"finish_reasons": {}}
    fallback: tuple[str, Usage] | None = None
    for step in steps:
        if isinstance(step, OutputChunk):
            chunks.append((step.kind.value, step.choice))
            if step.text and step.kind is not OutputKind.TOOL_CALL and 0 <= step.choice < MAX_CHOICES:
                texts = output.setdefault(step.choice, {})
                texts[step.kind.value] = texts.get(step.kind.value, "") + step.text
        elif isinstance(step, ToolCall):
            tool_calls.setdefault(step.choice, []).append(step.facts())
        elif isinstance(step, Usage):
            if step != Usage():
                values["usage"] = _replace(values.get("usage"), step)
        elif isinstance(step, ServerTiming):
            if step != ServerTiming():
                values["server_timing"] = _replace(values.get("server_timing"), step)
        elif isinstance(step, FinishReason):
            if 0 <= step.choice < MAX_CHOICES:
                values["finish_reasons"][step.choice] = step.reason
        elif isinstance(step, ResponseInfo):
            if step.model:
                values["response_model"] = step.model
            if step.id:
                values["response_id"] = step.id
        elif isinstance(step, UpstreamError):
            values["error"] = step
        elif isinstance(step, StreamComplete):
            values["complete"] = True
        elif isinstance(step, PrematureEnd):
            values["premature"] = True
        elif isinstance(step, ServerCounts):
            counts = Usage(input_tokens=step.input_tokens, output_tokens=step.output_tokens)
            same_source = fallback is not None and fallback[0] == step.source
            fallback = (step.source, _replace(fallback[1] if same_source else None, counts))
    if "usage" in values:
        values["usage_source"] = USAGE_FIELD
    elif fallback is not None:
        values["usage_source"], values["usage"] = fallback
    return State(chunks=tuple(chunks), output=output, tool_calls=tool_calls, **values)


class RecordingAccumulator(CallAccumulator):
    """An accumulator that also keeps each output chunk's kind and choice, in order."""

    def __init__(self, capture_bytes: int | None = None) -> None:
        super().__init__(capture_bytes=capture_bytes if capture_bytes is not None else CAPTURE_CHARS)
        self.arrivals: list[tuple[str, int]] = []

    def output(self, kind: OutputKind, text: str, choice: int = 0) -> None:
        self.arrivals.append((kind.value, choice))
        super().output(kind, text, choice)


def state_of(acc: RecordingAccumulator) -> State:
    """The final state an accumulator holds."""
    captured = acc.captured_output()
    return State(
        chunks=tuple(acc.arrivals),
        output={
            choice: {kind: text for kind, text in (("text", c.text), ("reasoning", c.reasoning)) if text}
            for choice, c in captured.items()
            if c.text or c.reasoning
        },
        tool_calls={
            choice: [captured_call(call) for call in c.tool_calls]
            for choice, c in captured.items()
            if c.tool_calls
        },
        usage=acc.usage_report(),
        server_timing=acc.server_timing_report(),
        finish_reasons=dict(acc.finish_reasons),
        response_model=acc.response_model,
        response_id=acc.response_id,
        error=acc.error_report(),
        complete=acc.complete,
        premature=acc.premature,
        usage_source=acc.usage_source,
    )


def apply(acc: CallAccumulator, step: Step) -> int:
    """Write one step into ``acc`` as a dialect would; the number of output chunks it was."""
    if isinstance(step, OutputChunk):
        acc.output(step.kind, step.text, step.choice)
        return 1
    if isinstance(step, Usage):
        acc.usage(
            input_tokens=step.input_tokens,
            output_tokens=step.output_tokens,
            cache_read_tokens=step.cache_read_tokens,
            cache_write_tokens=step.cache_write_tokens,
            reasoning_tokens=step.reasoning_tokens,
            input_modalities=step.input_modalities or None,
            output_modalities=step.output_modalities or None,
            cache_read_modalities=step.cache_read_modalities or None,
        )
    elif isinstance(step, ToolCall):
        acc.tool_call(None, call_id=step.id, name=step.name, arguments=step.arguments, choice=step.choice)
    elif isinstance(step, ServerTiming):
        acc.server_timing(
            time_to_first_token_s=step.time_to_first_token_s,
            time_per_output_token_s=step.time_per_output_token_s,
            request_duration_s=step.request_duration_s,
        )
    elif isinstance(step, FinishReason):
        acc.finish_reason(step.reason, step.choice)
    elif isinstance(step, ResponseInfo):
        acc.identify(step.model, step.id)
    elif isinstance(step, UpstreamError):
        acc.error(step.type, step.message)
    elif isinstance(step, StreamComplete):
        acc.terminal()
    elif isinstance(step, PrematureEnd):
        acc.premature = True
    elif isinstance(step, ServerCounts):
        acc.fallback_usage(step.source, input_tokens=step.input_tokens, output_tokens=step.output_tokens)
    return 0


def outputs(*steps: OutputChunk) -> tuple[tuple[tuple[str, int], ...], dict[int, dict[str, str]]]:
    """The output chunks and output text ``steps`` give (compare with :func:`outputs_of`)."""
    state = expect(*steps)
    return state.chunks, state.output


def outputs_of(state: State) -> tuple[tuple[tuple[str, int], ...], dict[int, dict[str, str]]]:
    """A state's output chunks and output text."""
    return state.chunks, state.output
