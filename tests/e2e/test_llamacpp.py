"""The sidecar between the official SDKs and a real llama.cpp ``llama-server``.

Every test starts its own sidecar, so its ``/metrics`` holds exactly the calls the test made.
The numbers the sidecar exports are compared with the numbers llama-server put in its own
responses (``usage``, ``timings``, ``tokens_evaluated`` / ``tokens_predicted``); the client's
own clock bounds the sidecar's timings from above and llama-server's prompt phase from below.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.e2e.conftest import LlamaServer, SideBySide, Sidecar

pytestmark = pytest.mark.e2e

PROMPT = "Name one colour."
#: Deterministic sampling: greedy decoding and a fixed seed.
SAMPLING: dict[str, Any] = {"temperature": 0, "seed": 42}
PROVIDER_ENV = {"SIDECAR_GENAI__PROVIDER": "llama_cpp"}

TTFC = "gen_ai_client_operation_time_to_first_chunk_seconds"
TPOC = "gen_ai_client_operation_time_per_output_chunk_seconds"
DURATION = "gen_ai_client_operation_duration_seconds"
TOKENS = "gen_ai_client_token_usage"
SERVER_TTFT = "gen_ai_server_time_to_first_token_seconds"
SERVER_TPOT = "gen_ai_server_time_per_output_token_seconds"


@pytest.fixture
def sidecar(llama_server: LlamaServer, sidecar_for: Callable[..., Sidecar]) -> Sidecar:
    return sidecar_for(llama_server.base_url, env=PROVIDER_ENV)


@pytest.fixture
def oai(sidecar: Sidecar) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{sidecar.base_url}/v1", api_key="unused", max_retries=0) as client:
        yield client


def _extra(model: Any, key: str) -> Any:
    """A field llama-server adds to the OpenAI shapes (``timings``), kept by the SDK as extra."""
    return (getattr(model, "model_extra", None) or {}).get(key)


def _check_usage(sidecar: Sidecar, operation: str, input_tokens: int, output_tokens: int) -> None:
    """One token-usage sample per type, equal to what llama-server reported."""
    for token_type, expected in (("input", input_tokens), ("output", output_tokens)):
        labels = {"gen_ai_token_type": token_type, "gen_ai_operation_name": operation}
        sidecar.wait_value(f"{TOKENS}_count", 1, labels=labels)
        assert sidecar.value(f"{TOKENS}_sum", **labels) == expected, token_type


def _check_server_timings(sidecar: Sidecar, timings: dict[str, float]) -> tuple[float, float]:
    """Server TTFT is llama-server's prompt phase, TPOT its per-token decode time."""
    sidecar.wait_value(f"{SERVER_TTFT}_count", 1)
    ttft = sidecar.value(f"{SERVER_TTFT}_sum")
    tpot = sidecar.value(f"{SERVER_TPOT}_sum")
    assert ttft == pytest.approx(timings["prompt_ms"] / 1000.0, rel=1e-9)
    assert tpot == pytest.approx(timings["predicted_per_token_ms"] / 1000.0, rel=1e-9)
    assert ttft is not None
    assert tpot is not None
    return ttft, tpot


def _check_ttfc(sidecar: Sidecar, client_ttfc_s: float, prompt_ms: float) -> float:
    """The sidecar's clock starts after the client's and the first chunk reaches it before it
    reaches the client, so its TTFC is at most the client's; the first chunk follows prompt
    processing, so it is at least llama-server's ``prompt_ms``."""
    sidecar.wait_value(f"{TTFC}_count", 1)
    ttfc = sidecar.value(f"{TTFC}_sum")
    assert ttfc is not None
    assert prompt_ms / 1000.0 <= ttfc <= client_ttfc_s
    return ttfc


def _check_duration(sidecar: Sidecar, client_duration_s: float, timings: dict[str, float]) -> float:
    sidecar.wait_value(f"{DURATION}_count", 1)
    duration = sidecar.value(f"{DURATION}_sum")
    assert duration is not None
    assert (timings["prompt_ms"] + timings["predicted_ms"]) / 1000.0 <= duration
    assert duration <= client_duration_s
    return duration


def _sse_data(body: bytes) -> list[Any]:
    """The JSON of every ``data:`` line of an SSE body (``[DONE]`` kept as a string)."""
    out: list[Any] = []
    for line in body.decode().splitlines():
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def test_chat_stream_with_include_usage(
    llama_server: LlamaServer, sidecar: Sidecar, oai: openai.OpenAI, side_by_side: SideBySide
) -> None:
    started = time.monotonic()
    first_chunk_s: float | None = None
    content_chunks = 0
    usage = timings = None
    stream = oai.chat.completions.create(
        model=llama_server.model_id,
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=16,
        **SAMPLING,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            content_chunks += 1
            if first_chunk_s is None:
                first_chunk_s = time.monotonic() - started
        usage = chunk.usage or usage
        timings = _extra(chunk, "timings") or timings
    client_duration_s = time.monotonic() - started

    assert usage is not None
    assert timings is not None
    assert first_chunk_s is not None
    _check_usage(sidecar, "chat", usage.prompt_tokens, usage.completion_tokens)
    ttft, tpot = _check_server_timings(sidecar, timings)
    ttfc = _check_ttfc(sidecar, first_chunk_s, timings["prompt_ms"])
    duration = _check_duration(sidecar, client_duration_s, timings)
    # One time-per-output-chunk sample for every content chunk after the first.
    assert sidecar.value(f"{TPOC}_count") == content_chunks - 1

    case = "chat stream, include_usage"
    side_by_side.add(case, "input tokens", usage.prompt_tokens, _tokens(sidecar, "input"))
    side_by_side.add(case, "output tokens", usage.completion_tokens, _tokens(sidecar, "output"))
    side_by_side.add(case, "server TTFT s", timings["prompt_ms"] / 1000.0, ttft)
    side_by_side.add(case, "server TPOT s", timings["predicted_per_token_ms"] / 1000.0, tpot)
    side_by_side.add(case, "TTFC s (client clock | sidecar)", first_chunk_s, ttfc)
    side_by_side.add(case, "duration s (client clock | sidecar)", client_duration_s, duration)


def _tokens(sidecar: Sidecar, token_type: str) -> float | None:
    return sidecar.value(f"{TOKENS}_sum", gen_ai_token_type=token_type)


def _server_usage(llama_server: LlamaServer, **extra: Any) -> Any:
    """What llama-server itself reports for the plain call, asked directly (same deterministic
    sampling), with ``include_usage``."""
    with openai.OpenAI(base_url=f"{llama_server.base_url}/v1", api_key="unused", max_retries=0) as direct:
        stream = direct.chat.completions.create(
            model=llama_server.model_id,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=16,
            **SAMPLING,
            **extra,
        )
        usage = None
        for chunk in stream:
            usage = chunk.usage or usage
    assert usage is not None
    return usage


@pytest.mark.parametrize("configured", [True, False], ids=["provider llama_cpp", "nothing configured"])
def test_chat_stream_without_include_usage(
    llama_server: LlamaServer,
    sidecar_for: Callable[..., Sidecar],
    side_by_side: SideBySide,
    configured: bool,
) -> None:
    """A plain openai SDK streaming call (no stream_options): the sidecar records exactly the
    tokens llama-server reports for it. With ``genai.provider = "llama_cpp"`` they come from the
    ``timings`` of its last chunk; with nothing configured the sidecar asks for usage (and the
    client still sees no usage chunk)."""
    sidecar = sidecar_for(llama_server.base_url, env=PROVIDER_ENV if configured else {})
    started = time.monotonic()
    first_chunk_s: float | None = None
    finish = None
    with openai.OpenAI(base_url=f"{sidecar.base_url}/v1", api_key="unused", max_retries=0) as oai:
        stream = oai.chat.completions.create(
            model=llama_server.model_id,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            max_tokens=16,
            **SAMPLING,
        )
        for chunk in stream:
            assert chunk.usage is None
            assert chunk.choices  # no usage-only chunk reaches the client
            if chunk.choices[0].delta.content and first_chunk_s is None:
                first_chunk_s = time.monotonic() - started
            if chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
    assert first_chunk_s is not None
    assert finish is not None
    usage = _server_usage(llama_server)
    _check_usage(sidecar, "chat", usage.prompt_tokens, usage.completion_tokens)
    assert sidecar.value("genai_sidecar_finish_reasons_total", genai_sidecar_finish_reason=finish) == 1

    case = f"chat stream, no include_usage ({'llama_cpp' if configured else 'unconfigured'})"
    side_by_side.add(case, "input tokens", usage.prompt_tokens, _tokens(sidecar, "input"))
    side_by_side.add(case, "output tokens", usage.completion_tokens, _tokens(sidecar, "output"))


def test_chat_stream_length_finish(
    llama_server: LlamaServer, sidecar: Sidecar, oai: openai.OpenAI, side_by_side: SideBySide
) -> None:
    finish = usage = None
    stream = oai.chat.completions.create(
        model=llama_server.model_id,
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=3,
        **SAMPLING,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
        usage = chunk.usage or usage
    assert finish == "length"
    assert usage is not None
    assert usage.completion_tokens == 3
    _check_usage(sidecar, "chat", usage.prompt_tokens, usage.completion_tokens)
    labels = {"genai_sidecar_finish_reason": "length"}
    assert sidecar.wait_value("genai_sidecar_finish_reasons_total", 1, labels=labels) == 1
    side_by_side.add(
        "chat stream, max_tokens=3", "output tokens", usage.completion_tokens, _tokens(sidecar, "output")
    )


def test_provider_inferred_from_the_real_server(
    llama_server: LlamaServer, sidecar_for: Callable[..., Sidecar]
) -> None:
    """Nothing configured: the first /v1 call (the one whose response names llama.cpp) stays
    ``openai`` in every metric; the next /v1 and native calls are ``llama_cpp``."""
    sidecar = sidecar_for(llama_server.base_url, env={})
    with openai.OpenAI(base_url=f"{sidecar.base_url}/v1", api_key="unused", max_retries=0) as oai:
        for _ in range(2):
            stream = oai.chat.completions.create(
                model=llama_server.model_id,
                messages=[{"role": "user", "content": PROMPT}],
                stream=True,
                max_tokens=4,
                **SAMPLING,
            )
            assert [c for c in stream if c.choices]
    body = {"prompt": "The sky is", "stream": True, "n_predict": 4, **SAMPLING}
    with httpx.Client(timeout=60) as http:
        raw = http.post(f"{sidecar.base_url}/completion", json=body).content
    stop_type = _sse_data(raw)[-1]["stop_type"]
    sidecar.wait_value(f"{DURATION}_count", 3)
    assert sidecar.value(f"{DURATION}_count", gen_ai_provider_name="openai") == 1
    assert sidecar.value(f"{TTFC}_count", gen_ai_provider_name="openai") == 1
    assert sidecar.value(f"{DURATION}_count", gen_ai_provider_name="llama_cpp") == 2
    assert sidecar.value(f"{TTFC}_count", gen_ai_provider_name="llama_cpp") == 2
    # The native call's finish: the server's stop_type on the span, its normalised label counted.
    label = {"eos": "stop", "word": "stop", "limit": "length"}[stop_type]
    labels = {"gen_ai_operation_name": "text_completion", "genai_sidecar_finish_reason": label}
    assert sidecar.value("genai_sidecar_finish_reasons_total", **labels) == 1


def test_chat_non_streaming(
    llama_server: LlamaServer, sidecar: Sidecar, oai: openai.OpenAI, side_by_side: SideBySide
) -> None:
    started = time.monotonic()
    completion = oai.chat.completions.create(
        model=llama_server.model_id,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=16,
        **SAMPLING,
    )
    client_duration_s = time.monotonic() - started
    usage, timings = completion.usage, _extra(completion, "timings")
    assert usage is not None
    assert timings is not None
    assert completion.choices[0].message.content

    _check_usage(sidecar, "chat", usage.prompt_tokens, usage.completion_tokens)
    ttft, _ = _check_server_timings(sidecar, timings)
    duration = _check_duration(sidecar, client_duration_s, timings)
    # Time to first chunk is for streaming calls only.
    assert sidecar.value(f"{TTFC}_count") is None

    case = "chat, not streamed"
    side_by_side.add(case, "input tokens", usage.prompt_tokens, _tokens(sidecar, "input"))
    side_by_side.add(case, "output tokens", usage.completion_tokens, _tokens(sidecar, "output"))
    side_by_side.add(case, "server TTFT s", timings["prompt_ms"] / 1000.0, ttft)
    side_by_side.add(case, "duration s (client clock | sidecar)", client_duration_s, duration)


def test_completions_stream(
    llama_server: LlamaServer, sidecar: Sidecar, oai: openai.OpenAI, side_by_side: SideBySide
) -> None:
    started = time.monotonic()
    first_chunk_s: float | None = None
    usage = timings = None
    stream = oai.completions.create(
        model=llama_server.model_id,
        prompt="The sky is",
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=8,
        **SAMPLING,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].text and first_chunk_s is None:
            first_chunk_s = time.monotonic() - started
        usage = chunk.usage or usage
        timings = _extra(chunk, "timings") or timings

    assert usage is not None
    assert timings is not None
    assert first_chunk_s is not None
    _check_usage(sidecar, "text_completion", usage.prompt_tokens, usage.completion_tokens)
    ttft, tpot = _check_server_timings(sidecar, timings)
    ttfc = _check_ttfc(sidecar, first_chunk_s, timings["prompt_ms"])

    case = "completions stream"
    side_by_side.add(case, "input tokens", usage.prompt_tokens, _tokens(sidecar, "input"))
    side_by_side.add(case, "output tokens", usage.completion_tokens, _tokens(sidecar, "output"))
    side_by_side.add(case, "server TTFT s", timings["prompt_ms"] / 1000.0, ttft)
    side_by_side.add(case, "server TPOT s", timings["predicted_per_token_ms"] / 1000.0, tpot)
    side_by_side.add(case, "TTFC s (client clock | sidecar)", first_chunk_s, ttfc)


def test_anthropic_messages_stream(
    llama_server: LlamaServer, sidecar: Sidecar, side_by_side: SideBySide
) -> None:
    client = anthropic.Anthropic(base_url=sidecar.base_url, api_key="unused", max_retries=0)
    started = time.monotonic()
    first_chunk_s: float | None = None
    with client.messages.stream(
        model=llama_server.model_id,
        max_tokens=16,
        messages=[{"role": "user", "content": PROMPT}],
        extra_body=SAMPLING,
    ) as stream:
        for text in stream.text_stream:
            if text and first_chunk_s is None:
                first_chunk_s = time.monotonic() - started
        message = stream.get_final_message()
    client.close()

    usage = message.usage
    # The conventions count cached prompt tokens as input; llama-server reports them apart.
    input_tokens = (
        usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    )
    assert first_chunk_s is not None
    assert message.stop_reason == "end_turn"
    _check_usage(sidecar, "chat", input_tokens, usage.output_tokens)
    labels = {"gen_ai_provider_name": "llama_cpp", "gen_ai_response_model": llama_server.model_id}
    assert sidecar.value(f"{DURATION}_count", **labels) == 1
    sidecar.wait_value(f"{TTFC}_count", 1)
    ttfc = sidecar.value(f"{TTFC}_sum")
    assert ttfc is not None
    assert ttfc <= first_chunk_s

    case = "anthropic messages stream"
    side_by_side.add(case, "input tokens (incl. cache read)", input_tokens, _tokens(sidecar, "input"))
    side_by_side.add(case, "output tokens", usage.output_tokens, _tokens(sidecar, "output"))
    side_by_side.add(case, "TTFC s (client clock | sidecar)", first_chunk_s, ttfc)


def test_native_completion_stream(
    llama_server: LlamaServer, sidecar: Sidecar, side_by_side: SideBySide
) -> None:
    body = {"prompt": "The sky is", "stream": True, "n_predict": 8, **SAMPLING}
    started = time.monotonic()
    first_chunk_s: float | None = None
    raw = b""
    with (
        httpx.Client(timeout=60) as http,
        http.stream("POST", f"{sidecar.base_url}/completion", json=body) as resp,
    ):
        assert resp.status_code == 200
        for piece in resp.iter_raw():
            if first_chunk_s is None and b'"content":"' in piece and b'"content":""' not in piece:
                first_chunk_s = time.monotonic() - started
            raw += piece
    final = _sse_data(raw)[-1]
    assert final["stop"] is True
    assert first_chunk_s is not None
    timings = final["timings"]

    _check_usage(sidecar, "text_completion", final["tokens_evaluated"], final["tokens_predicted"])
    ttft, tpot = _check_server_timings(sidecar, timings)
    ttfc = _check_ttfc(sidecar, first_chunk_s, timings["prompt_ms"])
    assert sidecar.value(f"{DURATION}_count", gen_ai_provider_name="llama_cpp") == 1

    case = "native /completion stream"
    side_by_side.add(case, "input tokens", final["tokens_evaluated"], _tokens(sidecar, "input"))
    side_by_side.add(case, "output tokens", final["tokens_predicted"], _tokens(sidecar, "output"))
    side_by_side.add(case, "server TTFT s", timings["prompt_ms"] / 1000.0, ttft)
    side_by_side.add(case, "server TPOT s", timings["predicted_per_token_ms"] / 1000.0, tpot)
    side_by_side.add(case, "TTFC s (client clock | sidecar)", first_chunk_s, ttfc)


# Fields that differ between two identical requests: ids, clocks, and the prompt cache (the
# second request finds the first one's prompt cached).
_VOLATILE = [
    (re.compile(rb'"id":"(chatcmpl|cmpl|msg)-[A-Za-z0-9]+"'), b'"id":"ID"'),
    (re.compile(rb'"created":\d+'), b'"created":0'),
    (re.compile(rb'"timings":\{[^{}]*\}'), b'"timings":{}'),
    (re.compile(rb'"(cached_tokens|cache_read_input_tokens|tokens_cached|id_slot)":-?\d+'), rb'"\1":0'),
    (re.compile(rb'"input_tokens":\d+'), b'"input_tokens":0'),
]


def _normalise(body: bytes) -> bytes:
    for pattern, replacement in _VOLATILE:
        body = pattern.sub(replacement, body)
    return body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(
            "/v1/chat/completions",
            {
                "messages": [{"role": "user", "content": PROMPT}],
                "stream": True,
                "stream_options": {"include_usage": True},
                "max_tokens": 12,
            },
            id="chat-stream",
        ),
        pytest.param(
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 12},
            id="chat",
        ),
        pytest.param(
            "/v1/messages",
            {"messages": [{"role": "user", "content": PROMPT}], "stream": True, "max_tokens": 12},
            id="anthropic-stream",
        ),
        pytest.param(
            "/completion", {"prompt": "The sky is", "stream": True, "n_predict": 8}, id="native-stream"
        ),
        pytest.param("/v1/chat/completions", b'{"messages": [', id="bad-json"),
    ],
)
def test_client_gets_the_bytes_it_would_get_direct(
    llama_server: LlamaServer, sidecar: Sidecar, path: str, body: dict[str, Any] | bytes
) -> None:
    """Same request direct and through the sidecar: same status, content type and body, once
    ids, clocks and prompt-cache counters are masked."""
    content = (
        body
        if isinstance(body, bytes)
        else json.dumps({"model": llama_server.model_id, **SAMPLING, **body}).encode()
    )
    headers = {"Content-Type": "application/json"}
    with httpx.Client(timeout=60) as http:
        direct = http.post(f"{llama_server.base_url}{path}", content=content, headers=headers)
        proxied = http.post(f"{sidecar.base_url}{path}", content=content, headers=headers)
    assert proxied.status_code == direct.status_code
    assert proxied.headers["content-type"] == direct.headers["content-type"]
    assert _normalise(proxied.content) == _normalise(direct.content)
    assert len(proxied.content) > 0


def test_200_sequential_streams(
    llama_server: LlamaServer, sidecar: Sidecar, side_by_side: SideBySide
) -> None:
    """llama-server closes keep-alive connections after a stream; the sidecar's pooled
    connection must not turn that into client errors."""
    body = {
        "model": llama_server.model_id,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "max_tokens": 2,
        **SAMPLING,
    }
    successes = 0
    failures: list[str] = []
    with httpx.Client(timeout=60) as http:
        for i in range(200):
            resp = http.post(f"{sidecar.base_url}/v1/chat/completions", json=body)
            if resp.status_code == 200 and resp.content.endswith(b"data: [DONE]\n\n"):
                successes += 1
            else:
                failures.append(f"#{i}: {resp.status_code} {resp.content[-200:]!r}")
    assert successes == 200, failures[:5]
    sidecar.wait_value(f"{DURATION}_count", 200)
    assert sidecar.value("http_server_request_duration_seconds_count", http_response_status_code="200") == 200
    errors = [s for s in sidecar.samples() if "error_type" in s.labels]
    assert errors == []
    side_by_side.add("200 sequential streams", "successes", 200, successes)
