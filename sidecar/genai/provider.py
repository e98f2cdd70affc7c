"""Which server an upstream is, as its own responses say: one upstream, one provider.

The wire format alone cannot tell Ollama's or llama.cpp's OpenAI-compatible ``/v1`` from OpenAI,
so without ``genai.provider`` those calls would say ``openai`` while the same server's native
calls say ``ollama`` or ``llama_cpp``. Some responses name their server in fields only that
server sends; the observers note it (:meth:`CallAccumulator.reveal`) on the events that carry
those fields, never on the content deltas:

=============  =================================================================================
provider       what reveals it
=============  =================================================================================
``llama_cpp``  a ``timings`` object with llama.cpp's counts (``prompt_n`` / ``predicted_n``): the
               finishing chunk of its ``/v1`` streams, its ``/v1`` bodies, its native
               ``/completion`` results; a native result's ``stop_type`` or ``stopped_*`` flags;
               the response head's ``Server: llama.cpp``
``ollama``     ``system_fingerprint: "fp_ollama"`` (every chunk and body of Ollama's ``/v1``,
               read at the end of the call from what the accumulator kept); the ``done: true``
               line of a native ``/api/*`` response
``tgi``        the last event of a native ``/generate_stream`` (or a ``/generate`` body) with its
               ``details``
=============  =================================================================================

vLLM sends nothing of its own (no fingerprint; its ``stop_reason`` is copied by other servers),
so it is never inferred. Only the names above can be inferred: nothing a response says is used
as a provider name verbatim. :class:`UpstreamProvider` remembers the first provider revealed for
the life of the process; the configured ``genai.provider`` always wins over it.
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai.accumulator import CallAccumulator

LLAMA_CPP: Final = "llama_cpp"
OLLAMA: Final = "ollama"
TGI: Final = "tgi"
#: Every provider name inference can give.
INFERABLE: Final = frozenset({LLAMA_CPP, OLLAMA, TGI})

#: Ollama's ``system_fingerprint`` on every OpenAI-compatible response (``openai/openai.go``).
OLLAMA_FINGERPRINT: Final = "fp_ollama"
#: How ``llama-server``'s ``Server`` response header starts.
LLAMACPP_SERVER_HEADER: Final = "llama.cpp"
_LLAMACPP_COUNTS: Final = ("prompt_n", "predicted_n")


def is_llamacpp_timings(timings: Any) -> bool:
    """Whether ``timings`` is llama.cpp's server timings object (it carries its token counts)."""
    return isinstance(timings, dict) and any(key in timings for key in _LLAMACPP_COUNTS)


def is_llamacpp_server(server: str | None) -> bool:
    """Whether a response's ``Server`` header is llama-server's."""
    return server is not None and server.startswith(LLAMACPP_SERVER_HEADER)


def revealed(call: CallAccumulator, server: str | None = None) -> str | None:
    """The provider one call's response revealed (its body, or its ``Server`` header), or ``None``."""
    if call.revealed_provider is not None:
        return call.revealed_provider
    if call.system_fingerprint == OLLAMA_FINGERPRINT:
        return OLLAMA
    if is_llamacpp_server(server):
        return LLAMA_CPP
    return None


class UpstreamProvider:
    """The provider inferred for one upstream, kept for the life of the process."""

    __slots__ = ("name",)

    def __init__(self) -> None:
        #: The first provider a response revealed (one of :data:`INFERABLE`), or ``None``.
        self.name: str | None = None

    def learn(self, call: CallAccumulator, server: str | None = None) -> str | None:
        """Note what ``call`` (and its ``Server`` header) revealed; the provider when this call is
        the one that revealed it first (later calls that reveal the same or another provider
        change nothing)."""
        if self.name is not None:
            return None
        name = revealed(call, server)
        if name not in INFERABLE:
            return None
        self.name = name
        return name
