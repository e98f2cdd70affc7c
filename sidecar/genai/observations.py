"""What a dialect learns from a request and from a response stream.

Dialects produce these; the telemetry layer consumes them. Every type is frozen and slotted.
Fields that the wire format did not carry are ``None``: a dialect never invents a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One input message in the semconv shape (``role`` + text parts), kept only for opt-in capture."""

    role: str
    content: str


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
    #: OpenAI-format streaming request that asked for ``stream_options.include_usage``.
    include_usage: bool = False
    #: Opt-in content: system instructions and input messages (never exported unless enabled).
    system_instructions: tuple[str, ...] = ()
    input_messages: tuple[Message, ...] = ()


# ---------------------------------------------------------------- response observations


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputChunk:
    """An event that carries output: a text, tool-call or reasoning delta (never a role-only chunk,
    a lifecycle event or a ping). The first one is the "first chunk" of the stream.
    ``text`` is the delta's text (for opt-in capture of the reassembled output)."""

    kind: OutputKind
    text: str = ""
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token usage as the provider reported it so far. Later ``Usage`` observations *replace*
    earlier fields that they set (cumulative counts), never add. ``input_tokens`` includes
    cached tokens; ``output_tokens`` includes reasoning tokens; billable counts where both exist."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FinishReason:
    """A finish reason for one choice: the provider's value, or the semconv spelling where a
    dialect normalises (``stop``, ``length``, ``content_filter``, ``error``); each dialect
    documents its map."""

    reason: str
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseInfo:
    """Response identity: ``model`` the server answered with, ``id`` the response id; either may be None.
    Later values replace earlier ones."""

    model: str | None = None
    id: str | None = None


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


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamComplete:
    """The stream's terminal event arrived (``[DONE]``, ``message_stop``, ``done: true``,
    ``response.completed``, ``stop: true``...). A stream that closes without one ended prematurely."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PrematureEnd:
    """The body ended before the terminal event: emitted by ``ResponseObserver.close()``."""


Observation: TypeAlias = (
    OutputChunk
    | Usage
    | FinishReason
    | ResponseInfo
    | UpstreamError
    | ServerTiming
    | StreamComplete
    | PrematureEnd
)
