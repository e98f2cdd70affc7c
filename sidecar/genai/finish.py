"""One finish-reason policy for every provider.

The span keeps the provider's own value (``gen_ai.response.finish_reasons``, as the conventions
ask): each dialect records the reason as the response spelt it (Gemini ``STOP``, Cohere
``COMPLETE``, TGI ``eos_token``, llama.cpp ``eos``; a number of Gemini's int enum encoding as the
enum name it stands for). The own-namespace finish-reason counter gets a normalised label, so one
dashboard works across providers. The labels and what maps to them (compared case-insensitively):

=================  ==========================================================================
label              provider values
=================  ==========================================================================
``stop``           ``stop`` (OpenAI, vLLM, Ollama, Gemini's ``STOP``), ``end_turn``,
                   ``stop_sequence`` (Anthropic, Cohere, TGI), ``eos_token`` (TGI), ``eos``,
                   ``word``, ``stopped_eos``, ``stopped_word`` (llama.cpp), ``complete``
                   (Cohere), ``completed`` (Responses)
``length``         ``length`` (OpenAI, Ollama, TGI), ``max_tokens`` (Anthropic, Gemini,
                   Cohere), ``limit``, ``stopped_limit``, ``none`` (llama.cpp: its own
                   OpenAI-compatible endpoints say ``length`` for anything but eos or a stop
                   word), ``max_output_tokens`` (Responses), ``model_context_window_exceeded``
``tool_call``      ``tool_calls``, ``function_call`` (OpenAI), ``tool_use`` (Anthropic),
                   ``tool_call`` (Cohere)
``content_filter`` ``content_filter``, ``refusal`` (Anthropic), Gemini's ``SAFETY``,
                   ``RECITATION``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``,
                   ``IMAGE_SAFETY``, ``IMAGE_PROHIBITED_CONTENT``, ``IMAGE_RECITATION`` (also
                   as a blocked prompt's ``blockReason``)
``error``          ``error`` (a stream cut short, a failed Responses call, Cohere's ``ERROR``),
                   Cohere's ``TIMEOUT``, Gemini's ``MALFORMED_FUNCTION_CALL``,
                   ``UNEXPECTED_TOOL_CALL``, ``TOO_MANY_TOOL_CALLS``,
                   ``MISSING_THOUGHT_SIGNATURE``, ``MALFORMED_RESPONSE``
``other``          anything else (``pause_turn``, Ollama's ``load`` / ``unload``, Gemini's
                   ``OTHER``, ``LANGUAGE``, ``IMAGE_OTHER``, ``NO_IMAGE``, an enum number no
                   table names, ...)
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
            (
                "stop",
                "end_turn",
                "stop_sequence",
                "eos_token",
                "eos",
                "word",
                "stopped_eos",
                "stopped_word",
                "complete",
                "completed",
            ),
            STOP,
        ),
        **dict.fromkeys(
            (
                "length",
                "max_tokens",
                "limit",
                "stopped_limit",
                "none",
                "max_output_tokens",
                "model_context_window_exceeded",
            ),
            LENGTH,
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
                "image_prohibited_content",
                "image_recitation",
            ),
            CONTENT_FILTER,
        ),
        **dict.fromkeys(
            (
                "error",
                "timeout",
                "malformed_function_call",
                "unexpected_tool_call",
                "too_many_tool_calls",
                "missing_thought_signature",
                "malformed_response",
            ),
            ERROR,
        ),
    }
)


def normalised(reason: str) -> str:
    """The label of the finish-reason counter for a provider's value."""
    return NORMALISED.get(reason.lower(), OTHER)
