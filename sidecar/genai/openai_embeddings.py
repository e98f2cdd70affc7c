"""OpenAI Embeddings (``POST /v1/embeddings``), operation ``embeddings``; never streamed.

The response body is ``{"object": "list", "data": [...], "model": ..., "usage":
{"prompt_tokens": N, "total_tokens": N}}``: it yields the response model (and ``id`` where a
server such as vLLM sends one), input-token usage and :class:`StreamComplete`. An error body
yields :class:`UpstreamError`. No output chunks: embeddings produce no tokens. The input text is
not kept for capture (the conventions define no input-messages attribute for embeddings).
"""

from __future__ import annotations

from typing import Final

from sidecar.genai import _fields
from sidecar.genai._observer import BaseObserver, error_of
from sidecar.genai._openai import chat_usage
from sidecar.genai.observations import Observation, Operation, RequestInfo


class EmbeddingsObserver(BaseObserver):
    """One embeddings body (an SSE message, should a server send one, is read the same way)."""

    __slots__ = ()

    def _on_document(self, data: bytes | str, out: list[Observation]) -> None:
        obj = _fields.parse_object(data)
        if obj is None:
            return
        error = error_of(obj)
        if error is not None:
            self._fail(error, out)
            return
        self._identify(obj.get("model"), obj.get("id"), out)
        usage = chat_usage(obj.get("usage"))
        if usage is not None:
            out.append(usage)
        self._finish(out)


class OpenAIEmbeddingsDialect:
    """The ``openai_embeddings`` dialect."""

    name: str = "openai_embeddings"

    def parse_request(self, path: str, body: bytes, provider: str) -> RequestInfo | None:
        obj = _fields.parse_object(body)
        if obj is None:
            return None
        return RequestInfo(
            operation=Operation.EMBEDDINGS, provider=provider, model=_fields.get_str(obj, "model")
        )

    def observer(self, request: RequestInfo, *, streaming: bool) -> EmbeddingsObserver:
        return EmbeddingsObserver(request, streaming=streaming)


DIALECT: Final = OpenAIEmbeddingsDialect()
