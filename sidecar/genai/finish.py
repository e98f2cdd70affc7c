"""One finish-reason policy for every provider.

The span keeps the reason as the dialect read it (``gen_ai.response.finish_reasons``); the
own-namespace finish-reason counter gets a normalised label, so one dashboard works across
providers. The labels and what maps to them (compared case-insensitively):

=================  ==========================================================================
label              provider values
=================  ==========================================================================
``stop``           ``stop`` (OpenAI, vLLM, llama.cpp, Ollama, Gemini's ``STOP``), ``end_turn``,
                   ``stop_sequence`` (Anthropic), ``eos``, ``eos_token``, ``word`` (llama.cpp,
                   TGI), ``complete`` (Cohere), ``completed`` (Responses)
``length``         ``length``, ``max_tokens`` (Anthropic, Gemini, Cohere), ``limit``
                   (llama.cpp), ``max_output_tokens`` (Responses), ``model_context_window_exceeded``
``tool_call``      ``tool_calls``, ``function_call`` (OpenAI), ``tool_use`` (Anthropic),
                   ``tool_call`` (Cohere)
``content_filter`` ``content_filter``, ``refusal`` (Anthropic), Gemini's ``SAFETY``,
                   ``RECITATION``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``,
                   ``IMAGE_SAFETY``
``error``          ``error`` (a stream cut short, Cohere's ``ERROR``), Gemini's
                   ``MALFORMED_FUNCTION_CALL``
``other``          anything else (``pause_turn``, Gemini's ``OTHER``, ``LANGUAGE``, ...)
=================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

STOP: Final = "stop"
LENGTH: Final = "length"
TOOL_CALL: Final = "tool_call"
CONTENT_FILTER: Final = "content_filter"
ERROR: Final = "error"
OTHER: Final = "other"

#: Lower-cased provider value -> normalised label.
NORMALISED: Final[Mapping[str, str]] = MappingProxyType(
    {
        **dict.fromkeys(
            ("stop", "end_turn", "stop_sequence", "eos", "eos_token", "word", "complete", "completed"), STOP
        ),
        **dict.fromkeys(
            ("length", "max_tokens", "limit", "max_output_tokens", "model_context_window_exceeded"), LENGTH
        ),
        **dict.fromkeys(("tool_calls", "function_call", "tool_use", "tool_call"), TOOL_CALL),
        **dict.fromkeys(
            (
                "content_filter",
                "refusal",
                "safety",
                "recitation",
                "blocklist",
                "prohibited_content",
                "spii",
                "image_safety",
            ),
            CONTENT_FILTER,
        ),
        **dict.fromkeys(("error", "malformed_function_call"), ERROR),
    }
)


def normalised(reason: str) -> str:
    """The label of the finish-reason counter for a provider's value."""
    return NORMALISED.get(reason.lower(), OTHER)
