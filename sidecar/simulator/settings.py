"""Simulator defaults, fixed when the app is built; each request may override them by header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

FinishName = Literal["stop", "length", "content_filter", "tool_calls"]
FaultName = Literal["429", "500", "crash", "malformed", "oversize", "stall", "error-event"]
StreamVariant = Literal["no-done", "error-usage", "stopped-flags"]
"""Stream shapes of real servers (``x-sim-stream``): OpenAI-format streams that end without
``data: [DONE]`` (Perplexity, Cerebras); an in-stream error chunk that carries the usage of what
was sent (OpenRouter; with the ``error-event`` fault); llama.cpp's older ``stopped_*`` booleans
instead of ``stop_type``."""

FINISH_NAMES: Final[frozenset[str]] = frozenset(get_args(FinishName))
FAULT_NAMES: Final[frozenset[str]] = frozenset(get_args(FaultName))
STREAM_VARIANTS: Final[frozenset[str]] = frozenset(get_args(StreamVariant))


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorSettings:
    """Defaults for every per-request control, plus the server's fixed facts.

    The timing and output fields are what a request gets when it sends no ``x-sim-*`` header.
    """

    ttfc_ms: float = 50.0
    """Delay from request receipt to the first output chunk (``x-sim-ttfc-ms``)."""
    itl_ms: float = 10.0
    """Delay between output chunks (``x-sim-itl-ms``)."""
    tokens: int = 32
    """Output tokens per response before the request's max-tokens cap (``x-sim-tokens``)."""
    finish: FinishName | None = None
    """Forced finish reason (``x-sim-finish``); ``None`` means natural (stop, or length when cut)."""
    fault: FaultName | None = None
    """Fault injected into every request (``x-sim-fault``); ``None`` means none."""
    stream: frozenset[StreamVariant] = frozenset()
    """Stream variants of every response (``x-sim-stream``, comma-separated); empty means none."""
    oversize_bytes: int = 2 * 1024 * 1024
    """Size of the one huge chunk of the ``oversize`` fault (``x-sim-oversize-bytes``)."""
    stall_ms: float = 300_000.0
    """How long the ``stall`` fault holds the connection after the first chunk (``x-sim-stall-ms``)."""
    model: str = "sim-model"
    """Response model when the request names none."""
    models: tuple[str, ...] = ("sim-model", "sim-embed")
    """What ``/v1/models`` and ``/api/tags`` list."""
    embedding_dims: int = 32
    """Embedding vector length when the request does not ask for ``dimensions``."""
    history: int = 1024
    """How many received requests :class:`SimulatorState` keeps."""
    record_body_bytes: int = 64 * 1024
    """How much of each request body is kept in the history (the size is always kept)."""
    max_body_bytes: int = 256 * 1024 * 1024
    """Largest request body accepted (``/sim/echo`` included)."""
    ollama_version: str = "0.12.0"
    """What ``/api/version`` reports."""

    def __post_init__(self) -> None:
        for name in ("ttfc_ms", "itl_ms", "stall_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("tokens", "oversize_bytes", "record_body_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("embedding_dims", "history", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.finish is not None and self.finish not in FINISH_NAMES:
            raise ValueError(f"finish must be one of {sorted(FINISH_NAMES)}")
        if self.fault is not None and self.fault not in FAULT_NAMES:
            raise ValueError(f"fault must be one of {sorted(FAULT_NAMES)}")
        if not self.stream <= STREAM_VARIANTS:
            raise ValueError(f"stream variants must be among {sorted(STREAM_VARIANTS)}")
        if not self.models:
            raise ValueError("models must not be empty")
