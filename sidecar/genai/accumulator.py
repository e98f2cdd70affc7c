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
* **Output chunks**: each output-carrying event counts one chunk per choice it carries output for;
  with capture on, the text is kept per choice and kind, at most ``capture_bytes`` characters each.
"""

from __future__ import annotations

from typing import Final

from sidecar.genai.observations import OutputKind, ServerTiming, UpstreamError, Usage

#: :attr:`CallAccumulator.usage_source` of counts read from the response's usage object.
USAGE_FIELD: Final = "usage"

#: Highest choice index (exclusive) tracked for finish reasons, choices and captured output.
MAX_CHOICES: Final = 128
#: Longest string kept from a response (or, through :func:`cap`, from a request) for telemetry.
MAX_VALUE_CHARS: Final = 256
_CUT: Final = "…"


def cap(value: str) -> str:
    """``value``, or its first :data:`MAX_VALUE_CHARS` characters and ``…`` when longer."""
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + _CUT


class CallAccumulator:
    """The state of one response. Dialects write it; the recorder reads it at the end."""

    __slots__ = (
        "_capture",
        "_capture_bytes",
        "_captured",
        "_fallback",
        "_fallback_source",
        "cache_read_tokens",
        "cache_write_tokens",
        "choices",
        "complete",
        "error_message",
        "error_type",
        "failed",
        "finish_reasons",
        "input_tokens",
        "output_chunks",
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
        if capture_bytes is not None:
            self._capture = {}
        self._captured: dict[tuple[int, OutputKind], int] = {}
        self._fallback: Usage | None = None
        self._fallback_source: str | None = None

    # ------------------------------------------------------------------ written by dialects

    def output(self, kind: OutputKind, text: str, choice: int = 0) -> None:
        """One output chunk for ``choice`` (text, tool call or reasoning)."""
        self.output_chunks += 1
        if 0 <= choice < MAX_CHOICES:
            self.choices.add(choice)
            if self._capture is not None and text:
                self._keep(self._capture, kind, text, choice)

    def usage(
        self,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> None:
        """Token counts as reported so far: each given field replaces the earlier value."""
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

    def captured_output(self) -> dict[int, dict[OutputKind, str]]:
        """Captured output text per choice and kind (empty when capture is off)."""
        if self._capture is None:
            return {}
        return {
            choice: {kind: "".join(parts) for kind, parts in kinds.items()}
            for choice, kinds in self._capture.items()
        }

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
