"""Which dialect reads a request, and which ``gen_ai.provider.name`` it reports.

Selection rules:

* Only ``POST`` selects a dialect; everything else is proxied with HTTP metrics only.
* The path is matched without its query string (``?alt=sse``, ``?api-version=``) or fragment.
* Configured :class:`Route` entries win over the built-in table. A route matches a path equal to
  its ``path_prefix`` or continuing it at a ``/`` boundary (``/openai`` matches
  ``/openai/v1/chat/completions`` but not ``/openaix``); the longest matching prefix wins, and
  among equal prefixes the first configured. A route naming an unknown dialect is ignored here
  (configuration validation rejects it first, with :func:`dialect_names`).
* The built-in table matches the path's API *suffix*, whatever comes before it, because real
  deployments put the same APIs under other prefixes: Groq ``/openai/v1/chat/completions``,
  OpenRouter ``/api/v1/chat/completions``, DeepSeek ``/chat/completions``, Azure
  ``/openai/deployments/{name}/chat/completions``, gateways' ``/ollama/api/chat`` or
  ``/llm/v1/messages``. Gemini's ``…/models/{model}:generateContent`` and
  ``:streamGenerateContent`` match after any prefix too (Vertex AI's
  ``/v1beta1/projects/{p}/locations/{l}/publishers/google/models/{m}:…``). See :data:`SUFFIXES`.
* One suffix is ambiguous: ``/completions`` after anything but a ``v1`` segment or an Azure
  deployment is llama.cpp's native completion endpoint on llama.cpp (which answers it in its
  native format), and OpenAI legacy completions elsewhere (DeepSeek's base URL has no ``/v1``).
  The request body decides: a body without ``model``, or with llama.cpp's ``n_predict``, is
  native; so is any body when the configured provider is ``llama_cpp``.

Provider: the matched route's ``provider`` if it sets one, else the ``default_provider``
argument (the configured upstream's provider, e.g. ``vllm`` when the upstream is vLLM: it
applies to every dialect, since one upstream serves them all), else what the path itself says
(Azure OpenAI's ``/openai/deployments/`` is ``azure.ai.openai``, Vertex AI's ``/projects/…/
publishers/google/`` is ``gcp.vertex_ai``), else the ``inferred_provider`` argument (what the
upstream's earlier responses revealed, :mod:`sidecar.genai.provider`; it settles the ambiguous
suffix as a configured one does), else the dialect's own default from :data:`DEFAULT_PROVIDERS`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from sidecar.genai import (
    _fields,
    anthropic,
    cohere,
    gemini,
    llamacpp,
    ollama,
    openai_chat,
    openai_completions,
    openai_embeddings,
    openai_responses,
    tgi,
)
from sidecar.genai.dialect import Dialect
from sidecar.genai.provider import LLAMA_CPP


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A configured path prefix read with a given dialect, optionally as a given provider."""

    path_prefix: str
    dialect: str
    provider: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The dialect that reads one request and the provider name it reports."""

    dialect: Dialect
    provider: str


_ALL: Final[tuple[Dialect, ...]] = (
    openai_chat.DIALECT,
    openai_completions.DIALECT,
    openai_embeddings.DIALECT,
    openai_responses.DIALECT,
    anthropic.DIALECT,
    ollama.DIALECT,
    llamacpp.DIALECT,
    tgi.DIALECT,
    gemini.DIALECT,
    cohere.DIALECT,
)

#: Every dialect by its name (the names configuration uses).
DIALECTS: Final[Mapping[str, Dialect]] = MappingProxyType({d.name: d for d in _ALL})

#: ``gen_ai.provider.name`` each dialect reports when nothing is configured. Well-known semconv
#: values where one exists; ``ollama``, ``llama_cpp`` and ``tgi`` are custom values.
DEFAULT_PROVIDERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "openai_chat": "openai",
        "openai_completions": "openai",
        "openai_embeddings": "openai",
        "openai_responses": "openai",
        "anthropic": "anthropic",
        "ollama": "ollama",
        "llamacpp": "llama_cpp",
        "tgi": "tgi",
        "gemini": "gcp.gemini",
        "cohere": "cohere",
    }
)

#: The ambiguous ``/completions`` suffix: OpenAI legacy completions or llama.cpp's native endpoint.
_COMPLETIONS: Final = "?completions"

#: Dialects whose streams may come as one streamed ``application/json`` array (Gemini without
#: ``alt=sse``): the proxy decodes a streaming response of theirs with the JSON-array decoder.
JSON_ARRAY_STREAMS: Final = frozenset({"gemini"})

#: Built-in API suffixes -> dialect name, tried in this order (a longer suffix before a shorter
#: one that it ends with). A suffix matches the whole path or its end after any prefix.
SUFFIXES: Final[tuple[tuple[str, str], ...]] = (
    ("/chat/completions", "openai_chat"),
    ("/v1/completions", "openai_completions"),
    ("/completions", _COMPLETIONS),
    ("/completion", "llamacpp"),
    ("/api/embeddings", "ollama"),
    ("/embeddings", "openai_embeddings"),
    ("/responses", "openai_responses"),
    ("/v1/messages", "anthropic"),
    ("/api/chat", "ollama"),
    ("/api/generate", "ollama"),
    ("/api/embed", "ollama"),
    ("/generate", "tgi"),
    ("/generate_stream", "tgi"),
    ("/v2/chat", "cohere"),
    ("/v2/embed", "cohere"),
)

_GEMINI: Final = re.compile(r"/(?:models|tunedModels)/[^/:]+:(?:generateContent|streamGenerateContent)")
_AZURE_DEPLOYMENT: Final = re.compile(r"/openai/deployments/[^/]+/")
_VERTEX: Final = re.compile(r"/projects/[^/]+/locations/[^/]+/publishers/google/")


def dialect_names() -> tuple[str, ...]:
    """The dialect names a configured route may use, sorted."""
    return tuple(sorted(DIALECTS))


def request_path(path: str) -> str:
    """The path part of a request target: no query string, no fragment."""
    return path.partition("?")[0].partition("#")[0]


def builtin_dialect(path: str, body: bytes | None = None, provider: str | None = None) -> str | None:
    """The built-in table's dialect name for a (query-free) path, or ``None``.

    ``body`` and ``provider`` settle the one ambiguous suffix, ``/completions``."""
    clean = path.replace("%3A", ":").replace("%3a", ":")
    match = _GEMINI.search(clean)
    if match is not None and match.end() == len(clean):
        return "gemini"
    for suffix, name in SUFFIXES:
        if clean.endswith(suffix):
            if name == _COMPLETIONS:
                return _completions(clean, body, provider)
            return name
    return None


def _completions(path: str, body: bytes | None, provider: str | None) -> str:
    """``…/completions`` not after ``/v1``: an Azure deployment's is OpenAI's; otherwise the body
    (or a configured ``llama_cpp`` provider) tells llama.cpp's native request from OpenAI's."""
    if _AZURE_DEPLOYMENT.search(path):
        return "openai_completions"
    if provider == LLAMA_CPP or body is None:
        return "llamacpp"
    obj = _fields.parse_object(body)
    if obj is None or "model" not in obj or "n_predict" in obj:
        return "llamacpp"
    return "openai_completions"


def path_provider(path: str) -> str | None:
    """The provider a path itself names: Azure OpenAI deployments, Vertex AI publishers."""
    if _AZURE_DEPLOYMENT.search(path):
        return "azure.ai.openai"
    if _VERTEX.search(path):
        return "gcp.vertex_ai"
    return None


def _prefix_matches(path: str, prefix: str) -> bool:
    base = prefix.rstrip("/")
    return path == base or path.startswith(base + "/")


def select_dialect(
    method: str,
    path: str,
    routes: Sequence[Route] = (),
    *,
    default_provider: str | None = None,
    body: bytes | None = None,
    upstream_path: str = "",
    inferred_provider: str | None = None,
) -> Selection | None:
    """The dialect and provider for a request, or ``None`` when it is not a GenAI call.

    Routes match the request's own ``path``; the built-in suffixes match the path the upstream
    receives (``upstream_path``, the upstream URL's own path, joined with the request's).
    ``body`` is read only for the one ambiguous suffix."""
    if method.upper() != "POST":
        return None
    clean = request_path(path)
    for route in sorted(routes, key=lambda r: len(r.path_prefix.rstrip("/")), reverse=True):
        dialect = DIALECTS.get(route.dialect)
        if dialect is not None and _prefix_matches(clean, route.path_prefix):
            provider = (
                route.provider or default_provider or inferred_provider or DEFAULT_PROVIDERS[route.dialect]
            )
            return Selection(dialect=dialect, provider=provider)
    clean = upstream_path.rstrip("/") + clean
    name = builtin_dialect(clean, body, default_provider or inferred_provider)
    if name is None:
        return None
    provider = default_provider or path_provider(clean) or inferred_provider or DEFAULT_PROVIDERS[name]
    return Selection(dialect=DIALECTS[name], provider=provider)
