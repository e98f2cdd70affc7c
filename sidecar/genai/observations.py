"""What a dialect learns from a request, and the reports read from a finished response.

The request side is :class:`RequestInfo`; the response side is folded into one
:class:`~sidecar.genai.accumulator.CallAccumulator`, which gives the end-of-call reports below.
Every type is frozen and slotted. Fields the wire format did not carry are ``None``: a dialect
never invents a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from sidecar.genai.content import RequestContent


class Operation(StrEnum):
    """``gen_ai.operation.name`` values the sidecar can observe."""

    CHAT = "chat"
    TEXT_COMPLETION = "text_completion"
    EMBEDDINGS = "embeddings"
    GENERATE_CONTENT = "generate_content"


class OutputKind(StrEnum):
    TEXT = "text"
    TOOL_CALL = "tool_call"
    REASONING = "reasoning"


class Modality(StrEnum):
    """Token modalities a provider's usage breakdown can name (``gen_ai.token.modality``)."""

    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"


#: Tokens per modality: ``(modality, count)`` pairs, in :class:`Modality` order, each modality at
#: most once, no zero counts (see :func:`modality_counts`).
ModalityCounts = tuple[tuple[Modality, int], ...]


def modality_counts(pairs: Iterable[tuple[Modality, int | None]]) -> ModalityCounts:
    """``pairs`` summed per modality, zero and missing counts dropped, in :class:`Modality` order."""
    totals: dict[Modality, int] = {}
    for modality, count in pairs:
        if count:
            totals[modality] = totals.get(modality, 0) + count
    return tuple((m, totals[m]) for m in Modality if totals.get(m, 0) > 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestInfo:
    """What the request body says. ``stream`` is the effective streaming flag
    (the dialect applies the API's default when the body omits it)."""

    operation: Operation
    provider: str
    model: str | None = None
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop_sequences: tuple[str, ...] | None = None
    seed: int | None = None
    choice_count: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    output_type: str | None = None
    conversation_id: str | None = None
    #: Reasoning / thinking effort asked for (``reasoning_effort``, ``reasoning.effort``).
    reasoning_level: str | None = None
    #: Responses API ``previous_response_id``.
    previous_response_id: str | None = None
    #: Embeddings: the encoding formats asked for and the dimension count.
    encoding_formats: tuple[str, ...] | None = None
    dimensions: int | None = None
    #: ``openai.api.type`` of an OpenAI-format call (``chat_completions``, ``responses``).
    openai_api: str | None = None
    #: OpenAI-format streaming request that asked for ``stream_options.include_usage``.
    include_usage: bool = False
    #: False for an OpenAI-format stream whose request, as sent upstream, did not ask for usage:
    #: such a server reports none (``genai_sidecar.usage.missing{reason="not_requested"}``).
    usage_requested: bool = True
    #: The request's content, shaped only for opt-in capture (never exported unless enabled);
    #: not part of equality: it is the body itself.
    content: RequestContent | None = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------- end-of-call reports


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token usage as the provider reported it (see :class:`~sidecar.genai.accumulator.CallAccumulator`
    for the replace-not-add rule). ``input_tokens`` includes cached tokens; ``output_tokens``
    includes reasoning tokens; billable counts where both exist."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    #: The provider's breakdown by modality (non-zero counts only, empty when it gives none):
    #: subsets of ``input_tokens``, ``output_tokens`` and ``cache_read_tokens``.
    input_modalities: ModalityCounts = ()
    output_modalities: ModalityCounts = ()
    cache_read_modalities: ModalityCounts = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CapturedToolCall:
    """One tool call of a choice, as opt-in capture keeps it: the id and name the provider gave
    (``None`` when it gave none) and the argument text as streamed (a call the provider sends
    whole has its arguments serialised as JSON). ``truncated``: the text was cut at the capture
    bound."""

    id: str | None = None
    name: str | None = None
    arguments: str = ""
    truncated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CapturedChoice:
    """What opt-in capture kept of one choice's output: its text, its reasoning and its tool
    calls in the order they started."""

    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[CapturedToolCall, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamError:
    """The upstream reported an error in the body (an error JSON, an SSE ``error`` event,
    an Ollama ``{"error": ...}`` line). ``type`` is the provider's error type or code when it gives one."""

    type: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerTiming:
    """The model server's own timing fields, in seconds (Ollama durations, llama.cpp ``timings``)."""

    time_to_first_token_s: float | None = None
    time_per_output_token_s: float | None = None
    request_duration_s: float | None = None
