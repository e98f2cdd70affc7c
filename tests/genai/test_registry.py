"""Dialect selection: method, built-in path table, configured routes, provider precedence."""

from __future__ import annotations

import pytest

from sidecar.genai import anthropic, gemini, ollama, openai_chat, openai_embeddings
from sidecar.genai.registry import (
    DEFAULT_PROVIDERS,
    DIALECTS,
    Route,
    Selection,
    dialect_names,
    select_dialect,
)


def name_of(selection: Selection | None) -> str | None:
    return selection.dialect.name if selection is not None else None


def test_every_dialect_is_registered_under_its_name() -> None:
    assert dialect_names() == (
        "anthropic", "cohere", "gemini", "llamacpp", "ollama", "openai_chat",
        "openai_completions", "openai_embeddings", "openai_responses", "tgi",
    )  # fmt: skip
    assert all(DIALECTS[name].name == name for name in dialect_names())
    assert set(DEFAULT_PROVIDERS) == set(DIALECTS)


@pytest.mark.parametrize(
    ("path", "dialect", "provider"),
    [
        ("/v1/chat/completions", "openai_chat", "openai"),
        ("/v1/completions", "openai_completions", "openai"),
        ("/v1/embeddings", "openai_embeddings", "openai"),
        ("/v1/responses", "openai_responses", "openai"),
        ("/v1/messages", "anthropic", "anthropic"),
        ("/api/chat", "ollama", "ollama"),
        ("/api/generate", "ollama", "ollama"),
        ("/api/embed", "ollama", "ollama"),
        ("/api/embeddings", "ollama", "ollama"),
        ("/completion", "llamacpp", "llama_cpp"),
        ("/completions", "llamacpp", "llama_cpp"),
        ("/generate", "tgi", "tgi"),
        ("/generate_stream", "tgi", "tgi"),
        ("/v2/chat", "cohere", "cohere"),
        ("/v2/embed", "cohere", "cohere"),
        ("/v1beta/models/gemini-2.0-flash:generateContent", "gemini", "gcp.gemini"),
        ("/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", "gemini", "gcp.gemini"),
        ("/v1/models/gemini-1.5-pro:streamGenerateContent", "gemini", "gcp.gemini"),
        ("/v1alpha/models/gemini-exp%3AgenerateContent", "gemini", "gcp.gemini"),
        ("/v1/chat/completions?api-version=1#frag", "openai_chat", "openai"),
    ],
)
def test_builtin_table(path: str, dialect: str, provider: str) -> None:
    selection = select_dialect("POST", path)
    assert selection is not None
    assert (selection.dialect.name, selection.provider) == (dialect, provider)


@pytest.mark.parametrize(
    ("path", "dialect", "provider"),
    [
        ("/openai/v1/chat/completions", "openai_chat", "openai"),  # Groq
        ("/api/v1/chat/completions", "openai_chat", "openai"),  # OpenRouter
        ("/chat/completions", "openai_chat", "openai"),  # DeepSeek's base URL has no /v1
        (
            "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
            "openai_chat",
            "azure.ai.openai",
        ),
        (
            "/openai/deployments/gpt-35/completions?api-version=2024-10-21",
            "openai_completions",
            "azure.ai.openai",
        ),
        ("/openai/deployments/emb/embeddings?api-version=2024-10-21", "openai_embeddings", "azure.ai.openai"),
        ("/openai/v1/responses", "openai_responses", "openai"),
        (
            "/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
            "gemini",
            "gcp.vertex_ai",
        ),
        (
            "/v1/projects/p/locations/l/publishers/google/models/m%3AgenerateContent",
            "gemini",
            "gcp.vertex_ai",
        ),
        ("/v1beta/tunedModels/my-model:generateContent", "gemini", "gcp.gemini"),
        ("/ollama/api/chat", "ollama", "ollama"),
        ("/ollama/api/embeddings", "ollama", "ollama"),
        ("/ollama/v1/chat/completions", "openai_chat", "openai"),
        ("/llm/v1/chat/completions", "openai_chat", "openai"),
        ("/llm/v1/messages", "anthropic", "anthropic"),
        ("/llm/completion", "llamacpp", "llama_cpp"),
        ("/tgi/generate_stream", "tgi", "tgi"),
        ("/cohere/v2/chat", "cohere", "cohere"),
    ],
)
def test_api_suffix_after_any_prefix(path: str, dialect: str, provider: str) -> None:
    selection = select_dialect("POST", path)
    assert selection is not None
    assert (selection.dialect.name, selection.provider) == (dialect, provider)


@pytest.mark.parametrize(
    ("body", "provider", "dialect"),
    [
        (None, None, "llamacpp"),
        (b'{"prompt": "x", "n_predict": 8}', None, "llamacpp"),
        (b'{"prompt": "x"}', None, "llamacpp"),
        (b'{"model": "m", "prompt": "x", "n_predict": 8}', None, "llamacpp"),
        (b"not json", None, "llamacpp"),
        (b'{"model": "deepseek-chat", "prompt": "x", "max_tokens": 8}', None, "openai_completions"),
        (b'{"model": "m", "prompt": "x"}', "llama_cpp", "llamacpp"),
    ],
)
def test_bare_completions_is_told_apart_by_the_body(
    body: bytes | None, provider: str | None, dialect: str
) -> None:
    for path in ("/completions", "/beta/completions"):
        assert name_of(select_dialect("POST", path, body=body, default_provider=provider)) == dialect
    # after /v1 it is always OpenAI's, whatever the body
    assert name_of(select_dialect("POST", "/v1/completions", body=body, default_provider=provider)) == (
        "openai_completions"
    )


def test_the_upstream_path_is_joined_for_detection_and_routes_match_the_request() -> None:
    assert name_of(select_dialect("POST", "/chat", upstream_path="/api")) == "ollama"
    assert name_of(select_dialect("POST", "/chat", upstream_path="/")) is None
    routes = [Route(path_prefix="/chat", dialect="cohere")]
    assert name_of(select_dialect("POST", "/chat", routes, upstream_path="/api")) == "cohere"


def test_a_configured_provider_wins_over_the_path() -> None:
    path = "/openai/deployments/d/chat/completions"
    assert select_dialect("POST", path, default_provider="gateway") == Selection(
        dialect=openai_chat.DIALECT, provider="gateway"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/tags",
        "/v1/models",
        "/health",
        "/metrics",
        "/v1/chat/completions/",
        "/v1/messages/count_tokens",
        "/v1/responses/resp_1/cancel",
        "/v1beta/models/gemini:countTokens",
        "/v1beta/models/a/b:generateContent",
        "/v1beta/models/gemini:generateContent/x",
        "/v1/threads/t1/messages",
        "/api/chat/x",
        "",
    ],
)
def test_other_paths_are_not_genai(path: str) -> None:
    assert select_dialect("POST", path) is None


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS", "HEAD"])
def test_only_post_selects(method: str) -> None:
    assert select_dialect(method, "/v1/chat/completions") is None
    assert select_dialect(method, "/x", [Route(path_prefix="/x", dialect="ollama")]) is None


def test_method_is_case_insensitive() -> None:
    assert name_of(select_dialect("post", "/api/chat")) == "ollama"


def test_configured_provider_replaces_every_default() -> None:
    selection = select_dialect("POST", "/v1/chat/completions", default_provider="vllm")
    assert selection == Selection(dialect=openai_chat.DIALECT, provider="vllm")
    selection = select_dialect("POST", "/v1/messages", default_provider="vllm")
    assert selection == Selection(dialect=anthropic.DIALECT, provider="vllm")


def test_routes_win_over_the_table_longest_prefix_first() -> None:
    routes = [
        Route(path_prefix="/", dialect="ollama"),
        Route(path_prefix="/v1/chat", dialect="anthropic", provider="gateway"),
        Route(path_prefix="/v1/chat/completions/", dialect="openai_embeddings"),
    ]
    assert select_dialect("POST", "/v1/chat/completions", routes) == Selection(
        dialect=openai_embeddings.DIALECT, provider="openai"
    )
    assert select_dialect("POST", "/v1/chat/other", routes) == Selection(
        dialect=anthropic.DIALECT, provider="gateway"
    )
    assert select_dialect("POST", "/anything", routes, default_provider="p") == Selection(
        dialect=ollama.DIALECT, provider="p"
    )


def test_route_prefixes_match_at_segment_boundaries() -> None:
    routes = [Route(path_prefix="/gemini", dialect="gemini", provider="gcp.vertex_ai")]
    assert select_dialect("POST", "/gemini", routes) == Selection(
        dialect=gemini.DIALECT, provider="gcp.vertex_ai"
    )
    assert name_of(select_dialect("POST", "/gemini/v1/models/x:generateContent?alt=sse", routes)) == "gemini"
    assert select_dialect("POST", "/geminix", routes) is None


def test_equal_prefixes_keep_configuration_order() -> None:
    routes = [Route(path_prefix="/a", dialect="tgi"), Route(path_prefix="/a/", dialect="cohere")]
    assert name_of(select_dialect("POST", "/a/b", routes)) == "tgi"


def test_route_with_unknown_dialect_is_ignored() -> None:
    routes = [Route(path_prefix="/api", dialect="nope")]
    assert name_of(select_dialect("POST", "/api/chat", routes)) == "ollama"
    assert select_dialect("POST", "/api/other", routes) is None


def test_an_inferred_provider_labels_what_nothing_configured_names() -> None:
    inferred = select_dialect("POST", "/v1/chat/completions", inferred_provider="llama_cpp")
    assert inferred == Selection(dialect=DIALECTS["openai_chat"], provider="llama_cpp")
    native = select_dialect("POST", "/api/chat", inferred_provider="llama_cpp")
    assert native == Selection(dialect=DIALECTS["ollama"], provider="llama_cpp")


def test_configuration_and_the_path_win_over_an_inferred_provider() -> None:
    configured = select_dialect(
        "POST", "/v1/chat/completions", default_provider="vllm", inferred_provider="ollama"
    )
    assert configured is not None
    assert configured.provider == "vllm"
    azure = "/openai/deployments/gpt/chat/completions"
    by_path = select_dialect("POST", azure, inferred_provider="ollama")
    assert by_path is not None
    assert by_path.provider == "azure.ai.openai"
    routes = [Route(path_prefix="/gw", dialect="openai_chat", provider="gw")]
    routed = select_dialect("POST", "/gw/v1/chat/completions", routes, inferred_provider="ollama")
    assert routed is not None
    assert routed.provider == "gw"


def test_an_inferred_llama_cpp_settles_the_ambiguous_suffix_as_a_configured_one_does() -> None:
    body = b'{"model": "m", "prompt": "hi"}'
    assert name_of(select_dialect("POST", "/completions", body=body)) == "openai_completions"
    inferred = select_dialect("POST", "/completions", body=body, inferred_provider="llama_cpp")
    assert name_of(inferred) == "llamacpp"
