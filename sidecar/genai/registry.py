"""Which dialect reads a request, and which ``gen_ai.provider.name`` it reports.

Selection rules:

* Only ``POST`` selects a dialect; everything else is proxied with HTTP metrics only.
* The path is matched without its query string (``?alt=sse``) or fragment.
* Configured :class:`Route` entries win over the built-in table. A route matches a path equal to
  its ``path_prefix`` or continuing it at a ``/`` boundary (``/openai`` matches
  ``/openai/v1/chat/completions`` but not ``/openaix``); the longest matching prefix wins, and
  among equal prefixes the first configured. A route naming an unknown dialect is ignored here
  (configuration validation rejects it first, with :func:`dialect_names`).
* The built-in table is DESIGN.md's "Wire formats" table: exact paths, plus the Gemini
  ``/{v1,v1beta,v1alpha}/models/{model}:generateContent`` and ``:streamGenerateContent``.

Provider: the matched route's ``provider`` if it sets one, else the ``default_provider``
argument (the configured upstream's provider, e.g. ``vllm`` when the upstream is vLLM: it
applies to every dialect, since one upstream serves them all), else the dialect's own default
from :data:`DEFAULT_PROVIDERS`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from sidecar.genai import (
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

#: Dialects whose streams may come as one streamed ``application/json`` array (Gemini without
#: ``alt=sse``): the proxy decodes a streaming response of theirs with the JSON-array decoder.
JSON_ARRAY_STREAMS: Final = frozenset({"gemini"})

#: Built-in exact paths -> dialect name.
_PATHS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "/v1/chat/completions": "openai_chat",
        "/v1/completions": "openai_completions",
        "/v1/embeddings": "openai_embeddings",
        "/v1/responses": "openai_responses",
        "/v1/messages": "anthropic",
        "/api/chat": "ollama",
        "/api/generate": "ollama",
        "/api/embed": "ollama",
        "/api/embeddings": "ollama",
        "/completion": "llamacpp",
        "/completions": "llamacpp",
        "/generate": "tgi",
        "/generate_stream": "tgi",
        "/v2/chat": "cohere",
        "/v2/embed": "cohere",
    }
)

_GEMINI: Final = re.compile(r"/v1(?:beta|alpha)?/models/[^/:]+:(?:generateContent|streamGenerateContent)")


def dialect_names() -> tuple[str, ...]:
    """The dialect names a configured route may use, sorted."""
    return tuple(sorted(DIALECTS))


def request_path(path: str) -> str:
    """The path part of a request target: no query string, no fragment."""
    return path.partition("?")[0].partition("#")[0]


def builtin_dialect(path: str) -> str | None:
    """The built-in table's dialect name for a (query-free) path, or ``None``."""
    name = _PATHS.get(path)
    if name is None and _GEMINI.fullmatch(path.replace("%3A", ":").replace("%3a", ":")):
        name = "gemini"
    return name


def _prefix_matches(path: str, prefix: str) -> bool:
    base = prefix.rstrip("/")
    return path == base or path.startswith(base + "/")


def select_dialect(
    method: str,
    path: str,
    routes: Sequence[Route] = (),
    *,
    default_provider: str | None = None,
) -> Selection | None:
    """The dialect and provider for a request, or ``None`` when it is not a GenAI call."""
    if method.upper() != "POST":
        return None
    clean = request_path(path)
    for route in sorted(routes, key=lambda r: len(r.path_prefix.rstrip("/")), reverse=True):
        dialect = DIALECTS.get(route.dialect)
        if dialect is not None and _prefix_matches(clean, route.path_prefix):
            provider = route.provider or default_provider or DEFAULT_PROVIDERS[route.dialect]
            return Selection(dialect=dialect, provider=provider)
    name = builtin_dialect(clean)
    if name is None:
        return None
    return Selection(dialect=DIALECTS[name], provider=default_provider or DEFAULT_PROVIDERS[name])
