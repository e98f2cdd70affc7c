"""OpenAI Embeddings (``POST /v1/embeddings``), operation ``embeddings``; never streamed.

The response body is ``{"object": "list", "data": [...], "model": ..., "usage":
{"prompt_tokens": N, "total_tokens": N}}``: it yields the response model (and ``id`` where a
server such as vLLM sends one), input-token usage and :class:`StreamComplete`. An error body
yields :class:`UpstreamError`. No output chunks: embeddings produce no tokens. The input text is
not kept for capture (the conventions define no input-messages attribute for embeddings).
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai import _fields
from sidecar.genai._observer import BaseObserver
from sidecar.genai._openai import chat_usage
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import Observation, Operation, RequestInfo


class EmbeddingsObserver(BaseObserver):
    """One embeddings body (an SSE message, should a server send one, is read the same way)."""

    __slots__ = ()

    def _on_document(self, data: bytes | str, out: list[Observation]) -> None:
        obj = self._read_body(data, out)
        if obj is None:
            return
        self._identify(obj.get("model"), obj.get("id"), out)
        usage = chat_usage(obj.get("usage"))
        if usage is not None:
            out.append(usage)
        self._finish(out)


class OpenAIEmbeddingsDialect(ObjectRequestDialect):
    """The ``openai_embeddings`` dialect."""

    name: str = "openai_embeddings"

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        return RequestInfo(
            operation=Operation.EMBEDDINGS, provider=provider, model=_fields.get_str(obj, "model")
        )

    def observer(self, request: RequestInfo, *, streaming: bool) -> EmbeddingsObserver:
        return EmbeddingsObserver(request, streaming=streaming)


DIALECT: Final = OpenAIEmbeddingsDialect()
