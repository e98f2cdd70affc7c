"""OpenAI Embeddings (``POST /v1/embeddings``), operation ``embeddings``; never streamed.

The response body is ``{"object": "list", "data": [...], "model": ..., "usage":
{"prompt_tokens": N, "total_tokens": N}}``: it gives the response model (and ``id`` where a
server such as vLLM sends one) and input-token usage, and completes the call. An error body
fails it. No output chunks: embeddings produce no tokens. The input text is
not kept for capture (the conventions define no input-messages attribute for embeddings).
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai import _fields
from sidecar.genai._openai import chat_usage
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import Operation, RequestInfo
from sidecar.genai.observer import Observer, parse, read_error_body
from sidecar.wire.events import SSEMessage


class EmbeddingsObserver(Observer):
    """One embeddings body (an SSE message or a line, should a server send one, is read the same
    way and completes the call)."""

    __slots__ = ()
    lines_are_bodies = True

    def _on_body(self, value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        acc = self.acc
        if not read_error_body(acc, value):
            acc.identify(value.get("model"), value.get("id"))
            chat_usage(acc, value.get("usage"))
        return True

    def _on_message(self, message: SSEMessage) -> None:
        if self._on_body(parse(message.data)):
            self.acc.terminal()


class OpenAIEmbeddingsDialect(ObjectRequestDialect):
    """The ``openai_embeddings`` dialect."""

    name: str = "openai_embeddings"
    observer_class = EmbeddingsObserver

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        fmt = _fields.get_str(obj, "encoding_format")
        return RequestInfo(
            operation=Operation.EMBEDDINGS,
            provider=provider,
            model=_fields.get_str(obj, "model"),
            encoding_formats=(fmt,) if fmt else None,
            dimensions=_fields.get_int(obj, "dimensions"),
        )


DIALECT: Final = OpenAIEmbeddingsDialect()
