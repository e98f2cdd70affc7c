"""CallAccumulator: everything one response says, folded as it streams, read once at the end.

Every dialect observer writes into one accumulator through :class:`~sidecar.genai.observer.Observer`;
the recorder reads it when the call ends. Nothing here allocates per chunk except what capture
keeps (and only when capture is on). The rules, written once for every dialect:

* **Usage** replaces, never adds: a field a later report sets replaces the earlier value (the
  counts providers stream are cumulative); a field it leaves out keeps its value.
  ``input_tokens`` includes cached tokens; ``output_tokens`` includes reasoning tokens.
* **Usage fallback**: where the response has no usage object, counts the server reports elsewhere
  (llama.cpp's ``timings.prompt_n`` / ``predicted_n``, Groq's ``x_groq.usage``) are kept apart
  (:meth:`CallAccumulator.fallback_usage`) and used only when no usage object came; the source
  of the counts used is :attr:`CallAccumulator.usage_source` (``usage`` for the usage object).
* **Server timing** (the model server's own fields, in seconds) follows the same rule.
* **Finish reasons**: the last reason reported for a choice wins; choices outside
  ``0 <= choice < MAX_CHOICES`` are not tracked (a hostile index cannot grow memory).
* **Response model and id**: a non-empty string replaces the earlier one; anything else is ignored.
* **Revealed provider**: a dialect that reads a field only one server sends names that server
  (:meth:`CallAccumulator.reveal`, with a constant of :mod:`sidecar.genai.provider`); the first
  one named stays.
* **Upstream error** (an error the body reported): the last one wins. An error ends the body: the
  call is ``failed``, and a missing terminal event is then not ``premature``.
* **complete**: the stream's terminal event arrived (``[DONE]``, ``message_stop``, ``done: true``,
  ...), or a non-streamed body was read whole. Nothing after the terminal event is read.
* **premature** (set by :meth:`end`): the body ended neither complete nor failed. A non-streamed
  body too large to read (only an oversize marker) is not premature: it arrived, it just was not
  parsed.
* **Strings** kept from the response (model, id, finish reasons, error type and message) are
  capped at ``MAX_VALUE_CHARS`` characters by :func:`cap`: a longer one keeps its first
  ``MAX_VALUE_CHARS`` characters and ends in ``…`` (so it stays recognisably cut, and the
  metric cardinality guard, which refuses values longer than the cap, reports it as ``_OTHER``).
* **Usage by modality** (the provider's own breakdown: OpenAI ``*_tokens_details`` text / audio /
  image counts, Gemini ``*TokensDetails``): follows the usage rule; only non-zero counts are kept.
* **Output chunks**: each output-carrying event counts one chunk per choice it carries output for;
  with capture on, text and reasoning are kept per choice and kind, at most ``capture_bytes``
  characters each.
* **Tool calls** (capture on only; an observer calls :meth:`CallAccumulator.tool_call` only when
  :attr:`CallAccumulator.capturing`, and only for events that carry a tool call): kept per choice by
  the provider's index (a call sent whole, without one, is a new call), at most
  :data:`MAX_TOOL_CALLS` per choice. The first non-empty id and name stay (capped like every
  string); a different id at an index already taken starts a new call. Argument deltas are appended;
  whole arguments (a ``.done`` event, a non-streamed body, a provider that sends calls whole)
  replace what was kept. A choice's argument text is at most ``capture_bytes`` characters over all
  its calls; a call cut there is marked truncated.
"""

from __future__ import annotations

from typing import Any, Final

from sidecar import _json
from sidecar.genai.observations import (
    CapturedChoice,
    CapturedToolCall,
    ModalityCounts,
    OutputKind,
    ServerTiming,
    UpstreamError,
    Usage,
)

#: :attr:`CallAccumulator.usage_source` of counts read from the response's usage object.
USAGE_FIELD: Final = "usage"

#: Highest choice index (exclusive) tracked for finish reasons, choices and captured output.
MAX_CHOICES: Final = 128
#: Most tool calls captured per choice (the rest are not captured).
MAX_TOOL_CALLS: Final = 128
#: Longest string kept from a response (or, through :func:`cap`, from a request) for telemetry.
MAX_VALUE_CHARS: Final = 256
_CUT: Final = "…"


def cap(value: str) -> str:
    """``value``, or its first :data:`MAX_VALUE_CHARS` characters and ``…`` when longer."""
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + _CUT


class _ToolCall:
    """One captured tool call while the response streams."""

    __slots__ = ("call_id", "name", "parts", "size", "truncated")

    def __init__(self) -> None:
        self.call_id: str | None = None
        self.name: str | None = None
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    def report(self) -> CapturedToolCall:
        return CapturedToolCall(
            id=self.call_id, name=self.name, arguments="".join(self.parts), truncated=self.truncated
        )


class _ChoiceToolCalls:
    """The captured tool calls of one choice: in the order they started, found by index."""

    __slots__ = ("by_index", "calls", "size")

    def __init__(self) -> None:
        self.calls: list[_ToolCall] = []
        self.by_index: dict[int, _ToolCall] = {}
        self.size = 0

    def call(self, index: int | None, call_id: str | None) -> _ToolCall | None:
        """The call at ``index``; a new one when there is none, when ``call_id`` names another,
        or when ``index`` is None (a call sent whole)."""
        found = self.by_index.get(index) if index is not None else None
        if found is None or (call_id is not None and found.call_id not in (None, call_id)):
            if len(self.calls) >= MAX_TOOL_CALLS:
                return None
            found = _ToolCall()
            self.calls.append(found)
            if index is not None:
                self.by_index[index] = found
        return found

    def keep(self, call: _ToolCall, text: str, limit: int, *, replace: bool) -> None:
        """Append (or, with ``replace``, set) ``call``'s argument text within ``limit``."""
        if replace:
            self.size -= call.size
            call.parts.clear()
            call.size = 0
            call.truncated = False
        room = limit - self.size
        if len(text) > room:
            text = text[: max(room, 0)]
            call.truncated = True
        if text:
            call.parts.append(text)
            call.size += len(text)
            self.size += len(text)


def _arguments_text(value: Any) -> str:
    """Whole tool-call arguments as text: a string as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return _json.dumps_str(value)
    except TypeError:  # nesting deeper than the serialiser allows
        return ""


class CallAccumulator:
    """The state of one response. Dialects write it; the recorder reads it at the end."""

    __slots__ = (
        "_capture",
        "_capture_bytes",
        "_captured",
        "_fallback",
        "_fallback_source",
        "_tool_calls",
        "cache_read_modalities",
        "cache_read_tokens",
        "cache_write_tokens",
        "choices",
        "complete",
        "error_message",
        "error_type",
        "failed",
        "finish_reasons",
        "input_modalities",
        "input_tokens",
        "output_chunks",
        "output_modalities",
        "output_tokens",
        "oversize",
        "premature",
        "reasoning_tokens",
        "response_id",
        "response_model",
        "revealed_provider",
        "server_duration_s",
        "server_tpot_s",
        "server_ttft_s",
        "service_tier",
        "system_fingerprint",
    )

    def __init__(self, *, capture_bytes: int | None = None) -> None:
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read_tokens: int | None = None
        self.cache_write_tokens: int | None = None
        self.reasoning_tokens: int | None = None
        self.input_modalities: ModalityCounts = ()
        self.output_modalities: ModalityCounts = ()
        self.cache_read_modalities: ModalityCounts = ()
        self.server_ttft_s: float | None = None
        self.server_tpot_s: float | None = None
        self.server_duration_s: float | None = None
        self.finish_reasons: dict[int, str] = {}
        self.response_model: str | None = None
        self.response_id: str | None = None
        #: OpenAI-format responses: ``service_tier`` and ``system_fingerprint``.
        self.service_tier: str | None = None
        self.system_fingerprint: str | None = None
        #: The server the response named by a field of its own (``sidecar.genai.provider``).
        self.revealed_provider: str | None = None
        self.error_type: str | None = None
        self.error_message: str | None = None
        self.failed = False
        self.complete = False
        self.premature = False
        self.oversize = False
        self.output_chunks = 0
        self.choices: set[int] = set()
        self._capture_bytes = capture_bytes
        self._capture: dict[int, dict[OutputKind, list[str]]] | None = None
        self._tool_calls: dict[int, _ChoiceToolCalls] | None = None
        if capture_bytes is not None:
            self._capture = {}
            self._tool_calls = {}
        self._captured: dict[tuple[int, OutputKind], int] = {}
        self._fallback: Usage | None = None
        self._fallback_source: str | None = None

    # ------------------------------------------------------------------ written by dialects

    def output(self, kind: OutputKind, text: str, choice: int = 0) -> None:
        """One output chunk for ``choice`` (text, tool call or reasoning). With capture on, text
        and reasoning are kept; a tool call's ``text`` is not (see :meth:`tool_call`)."""
        self.output_chunks += 1
        if 0 <= choice < MAX_CHOICES:
            self.choices.add(choice)
            if self._capture is not None and text and kind is not OutputKind.TOOL_CALL:
                self._keep(self._capture, kind, text, choice)

    def tool_call(
        self,
        index: int | None,
        *,
        call_id: object = None,
        name: object = None,
        delta: object = None,
        arguments: object = None,
        choice: int = 0,
    ) -> None:
        """Capture: what one event says of the tool call at ``index`` of ``choice`` (``None``: a
        new call, for providers that send each call whole): its id and name, an argument ``delta``
        (text appended) or its whole ``arguments`` (replacing the text kept; a JSON string, or a
        value serialised as JSON). Counts no output chunk (the observer reports the chunk with
        :meth:`output`); does nothing when capture is off."""
        tool_calls = self._tool_calls
        if tool_calls is None or not 0 <= choice < MAX_CHOICES:
            return
        per_choice = tool_calls.get(choice)
        if per_choice is None:
            per_choice = tool_calls[choice] = _ChoiceToolCalls()
        kept_id = cap(call_id) if isinstance(call_id, str) and call_id else None
        call = per_choice.call(index, kept_id)
        if call is None:
            return
        if call.call_id is None:
            call.call_id = kept_id
        if call.name is None and isinstance(name, str) and name:
            call.name = cap(name)
        limit = self._capture_bytes or 0
        if arguments is not None:
            per_choice.keep(call, _arguments_text(arguments), limit, replace=True)
        if isinstance(delta, str) and delta:
            per_choice.keep(call, delta, limit, replace=False)

    def usage(
        self,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        input_modalities: ModalityCounts | None = None,
        output_modalities: ModalityCounts | None = None,
        cache_read_modalities: ModalityCounts | None = None,
    ) -> None:
        """Token counts as reported so far: each given field replaces the earlier value (a
        breakdown by modality as well)."""
        if input_tokens is not None:
            self.input_tokens = input_tokens
        if output_tokens is not None:
            self.output_tokens = output_tokens
        if cache_read_tokens is not None:
            self.cache_read_tokens = cache_read_tokens
        if cache_write_tokens is not None:
            self.cache_write_tokens = cache_write_tokens
        if reasoning_tokens is not None:
            self.reasoning_tokens = reasoning_tokens
        if input_modalities is not None:
            self.input_modalities = input_modalities
        if output_modalities is not None:
            self.output_modalities = output_modalities
        if cache_read_modalities is not None:
            self.cache_read_modalities = cache_read_modalities

    def fallback_usage(self, source: str, *, input_tokens: int | None, output_tokens: int | None) -> None:
        """Counts from outside a usage object (``source`` names where), used only without one."""
        if input_tokens is None and output_tokens is None:
            return
        old = self._fallback
        if old is not None and self._fallback_source == source:
            input_tokens = input_tokens if input_tokens is not None else old.input_tokens
            output_tokens = output_tokens if output_tokens is not None else old.output_tokens
        self._fallback = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
        self._fallback_source = source

    def server_timing(
        self,
        *,
        time_to_first_token_s: float | None = None,
        time_per_output_token_s: float | None = None,
        request_duration_s: float | None = None,
    ) -> None:
        """The model server's own timings (seconds): each given field replaces the earlier value."""
        if time_to_first_token_s is not None:
            self.server_ttft_s = time_to_first_token_s
        if time_per_output_token_s is not None:
            self.server_tpot_s = time_per_output_token_s
        if request_duration_s is not None:
            self.server_duration_s = request_duration_s

    def finish_reason(self, reason: str, choice: int = 0) -> None:
        if reason and 0 <= choice < MAX_CHOICES:
            self.finish_reasons[choice] = cap(reason)

    def openai_response(self, service_tier: object = None, system_fingerprint: object = None) -> None:
        """OpenAI's ``service_tier`` and ``system_fingerprint``: non-empty strings replace."""
        if isinstance(service_tier, str) and service_tier:
            self.service_tier = cap(service_tier)
        if isinstance(system_fingerprint, str) and system_fingerprint:
            self.system_fingerprint = cap(system_fingerprint)

    def reveal(self, provider: str) -> None:
        """The response carried a field only ``provider``'s server sends (first one stays)."""
        if self.revealed_provider is None:
            self.revealed_provider = provider

    def identify(self, model: object = None, response_id: object = None) -> None:
        """The response model and id: non-empty strings replace earlier values."""
        if isinstance(model, str) and model:
            model = cap(model)
            if model != self.response_model:
                self.response_model = model
        if isinstance(response_id, str) and response_id:
            response_id = cap(response_id)
            if response_id != self.response_id:
                self.response_id = response_id

    def error(self, type: str | None = None, message: str | None = None) -> None:
        """The body reported an error; it ends the body."""
        self.failed = True
        self.error_type = cap(type) if type is not None else None
        self.error_message = cap(message) if message is not None else None

    def terminal(self) -> None:
        """The terminal event arrived."""
        self.complete = True

    def end(self, *, streaming: bool) -> None:
        """End of body: ``premature`` unless complete, failed, or a whole body too large to read."""
        if not (self.complete or self.failed or (self.oversize and not streaming)):
            self.premature = True

    # ------------------------------------------------------------------ read by the recorder

    @property
    def capturing(self) -> bool:
        """Whether output text is kept (capture is on for this call)."""
        return self._capture is not None

    @property
    def ended(self) -> bool:
        """The body said it was over: its terminal event or an error arrived."""
        return self.complete or self.failed

    def usage_report(self) -> Usage | None:
        """The usage reported, or ``None`` when the body reported none."""
        if self._reported_none():
            return self._fallback
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens,
            input_modalities=self.input_modalities,
            output_modalities=self.output_modalities,
            cache_read_modalities=self.cache_read_modalities,
        )

    @property
    def usage_source(self) -> str | None:
        """Where the usage came from: ``usage`` (the usage object), a fallback's source, or None."""
        if self.usage_report() is None:
            return None
        return self._fallback_source if self._reported_none() else USAGE_FIELD

    def server_timing_report(self) -> ServerTiming | None:
        """The server's timings, or ``None`` when the body reported none."""
        if self.server_ttft_s is None and self.server_tpot_s is None and self.server_duration_s is None:
            return None
        return ServerTiming(
            time_to_first_token_s=self.server_ttft_s,
            time_per_output_token_s=self.server_tpot_s,
            request_duration_s=self.server_duration_s,
        )

    def error_report(self) -> UpstreamError | None:
        """The last error the body reported, or ``None``."""
        if not self.failed:
            return None
        return UpstreamError(type=self.error_type, message=self.error_message)

    def captured_output(self) -> dict[int, CapturedChoice]:
        """Captured output per choice: text, reasoning and tool calls (empty when capture is off)."""
        if self._capture is None or self._tool_calls is None:
            return {}
        out: dict[int, CapturedChoice] = {}
        for choice in sorted(self._capture.keys() | self._tool_calls.keys()):
            kinds = self._capture.get(choice, {})
            calls = self._tool_calls.get(choice)
            out[choice] = CapturedChoice(
                text="".join(kinds.get(OutputKind.TEXT, ())),
                reasoning="".join(kinds.get(OutputKind.REASONING, ())),
                tool_calls=tuple(call.report() for call in calls.calls) if calls is not None else (),
            )
        return out

    # ------------------------------------------------------------------ internals

    def _reported_none(self) -> bool:
        """No usage object set any count."""
        return (
            self.input_tokens is None
            and self.output_tokens is None
            and self.cache_read_tokens is None
            and self.cache_write_tokens is None
            and self.reasoning_tokens is None
        )

    def _keep(
        self, capture: dict[int, dict[OutputKind, list[str]]], kind: OutputKind, text: str, choice: int
    ) -> None:
        limit = self._capture_bytes or 0
        key = (choice, kind)
        size = self._captured.get(key, 0)
        if size >= limit:
            return
        kept = text[: limit - size]
        self._captured[key] = size + len(kept)
        capture.setdefault(choice, {}).setdefault(kind, []).append(kept)
