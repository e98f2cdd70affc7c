"""Cost from a price table: the price file, glob matching, and usage x price for every dialect.

The per-dialect cases send a real request through the sidecar to a loopback upstream that answers
with a body carrying known usage fields, and compare the ``genai_sidecar.cost`` counter and the
span's ``gen_ai.usage.cost.amount`` with the cost computed here by hand from the provider's own
billing semantics (which fields include which). The prices differ per token class, so billing a
cached or reasoning token twice, or at the wrong price, changes the figure.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sidecar.config import ConfigError
from sidecar.genai.observations import Usage
from sidecar.telemetry.cost import PriceTable
from tests.conftest import RunningSidecar, StartSidecar
from tests.proxy.upstreams import serve_handler

# Per million tokens: every class priced differently.
P_IN, P_OUT, P_CACHE_READ, P_CACHE_WRITE, P_REASONING = 1.0, 4.0, 0.1, 1.25, 8.0
PRICES = f"""
currency = "EUR"

[[model]]
match = "special-*"
input = 100
output = 100

[[model]]
match = "*"
input = {P_IN}
output = {P_OUT}
cache_read = {P_CACHE_READ}
cache_write = {P_CACHE_WRITE}
reasoning = {P_REASONING}
"""


def per_million(*terms: tuple[int, float]) -> float:
    return sum(tokens * price for tokens, price in terms) / 1_000_000


def price_file(tmp_path: Path, text: str = PRICES, name: str = "prices.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ------------------------------------------------------------------------------ price file


def test_price_file_defaults_and_first_match_wins(tmp_path: Path) -> None:
    table = PriceTable.load(price_file(tmp_path))
    special = table.lookup("special-model")
    assert special is not None
    assert special.input == 100
    assert special.cache_read == 100  # defaults to the input price
    assert special.reasoning == 100  # defaults to the output price
    anything = table.lookup("llama3")
    assert anything is not None
    assert anything.match == "*"
    assert anything.currency == "EUR"
    # the response model is tried first, the request model second
    first = table.lookup("special-x", "llama3")
    assert first is not None
    assert first.match == "special-*"
    assert table.lookup(None, "special-x") is first


def test_glob_is_case_sensitive_and_unmatched_is_none(tmp_path: Path) -> None:
    path = price_file(tmp_path, '[[model]]\nmatch = "gpt-4o*"\ninput = 1\noutput = 2\n')
    table = PriceTable.load(path)
    assert table.lookup("gpt-4o-mini") is not None
    assert table.lookup("GPT-4O") is None
    assert table.lookup("llama3") is None
    assert table.lookup(None) is None
    catch_all = PriceTable.load(price_file(tmp_path, '[[model]]\nmatch = "*"\ninput = 1\noutput = 2\n'))
    assert catch_all.lookup(None, "") is not None  # a call naming no model: only "*" matches it


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[model]]\nmatch = "a"\ninput = 1\noutput = \n', "line 4"),
        ('currency = "USD"\n\n[[model]\nmatch = "a"\n', "line 3"),
        (
            '[[model]]\nmatch = "a"\ninput = 1\noutput = 2\n\n'
            '[[model]]\nmatch = "b"\ninput = -1\noutput = 2\n',
            "line 8: [[model]] #2: input: must be a finite number >= 0",
        ),
        ('[[model]]\nmatch = "a[b"\ninput = 1\noutput = 2\n', "line 2: [[model]] #1: match: unclosed '['"),
        ('[[model]]\nmatch = ""\ninput = 1\noutput = 2\n', "[[model]] #1: match"),
        ('[[model]]\nmatch = "a"\noutput = 2\n', "[[model]] #1: input: required key is missing"),
        (
            '[[model]]\nmatch = "a"\ninput = 1\noutput = 2\ncached = 1\n',
            "line 5: [[model]] #1: cached: unknown key",
        ),
        (
            '[[model]]\nmatch = "a"\ninput = 1\noutput = "2"\n',
            "line 4: [[model]] #1: output: expected a number",
        ),
        (
            '[[model]]\nmatch = "a"\ninput = 1\noutput = 2\ncurrency = "usd"\n',
            "#1: currency: expected an ISO 4217",
        ),
        ('[[model]]\nmatch = "a"\ninput = nan\noutput = 2\n', "#1: input: must be a finite number"),
        ('currency = "USD"\n', "no [[model]] entries"),
    ],
)
def test_price_file_errors_name_the_line_entry_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = price_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    message = str(info.value)
    assert message.startswith("telemetry.cost.prices: ")
    assert path in message
    assert needle in message
    assert "\n" not in message


def test_price_file_error_exits_2_with_one_line(tmp_path: Path) -> None:
    prices = price_file(tmp_path, '[[model]]\nmatch = "a"\ninput = 1\noutput = oops\n')
    config = tmp_path / "sidecar.toml"
    config.write_text(f'[telemetry.cost]\nprices = "{prices}"\n')
    for command in (["check-config", str(config)], ["run", "--config", str(config)]):
        done = subprocess.run(
            [sys.executable, "-m", "sidecar", *command], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert prices in lines[0]
        assert "line 4" in lines[0]


def test_missing_price_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        PriceTable.load(str(tmp_path / "absent.toml"))


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (Usage(), 0.0),
        (Usage(input_tokens=10), per_million((10, P_IN))),
        # more cache tokens than input tokens (a confused server): the remainder stays at 0
        (Usage(input_tokens=5, cache_read_tokens=8), per_million((8, P_CACHE_READ))),
        (Usage(output_tokens=3, reasoning_tokens=7), per_million((7, P_REASONING))),
    ],
)
def test_formula_edges(tmp_path: Path, usage: Usage, expected: float) -> None:
    price = PriceTable.load(price_file(tmp_path)).lookup("m")
    assert price is not None
    assert price.cost(usage) == pytest.approx(expected, rel=1e-12, abs=0)


# --------------------------------------------------------------- every dialect, end to end


@dataclass(frozen=True)
class Case:
    path: str
    request: dict[str, Any]
    body: bytes
    content_type: str
    #: The request model (the path's, for Gemini); "" when the request names none.
    model: str
    #: The provider's billing, by hand: (tokens, price) per token class.
    expected: float


def _sse(*events: tuple[str | None, Any]) -> bytes:
    out = b""
    for name, data in events:
        if name:
            out += f"event: {name}\n".encode()
        text = data if isinstance(data, str) else json.dumps(data)
        out += f"data: {text}\n\n".encode()
    return out


_CHAT = {"messages": [{"role": "user", "content": "hi"}]}
_OPENAI_USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 300,
    "total_tokens": 1300,
    "prompt_tokens_details": {"cached_tokens": 200},
    "completion_tokens_details": {"reasoning_tokens": 50},
}
# OpenAI: prompt_tokens includes cached_tokens; completion_tokens includes reasoning_tokens.
_OPENAI_COST = per_million((800, P_IN), (200, P_CACHE_READ), (250, P_OUT), (50, P_REASONING))
_ANTHROPIC_USAGE = {"input_tokens": 600, "cache_read_input_tokens": 200, "cache_creation_input_tokens": 100}
# Anthropic: input_tokens excludes both cache counts; thinking is billed inside output_tokens.
_ANTHROPIC_COST = per_million((600, P_IN), (200, P_CACHE_READ), (100, P_CACHE_WRITE), (300, P_OUT))

CASES: dict[str, Case] = {
    "openai chat": Case(
        "/v1/chat/completions",
        {"model": "gpt-x", **_CHAT},
        json.dumps(
            {
                "id": "c1",
                "object": "chat.completion",
                "model": "gpt-x",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "yo"}, "finish_reason": "stop"}
                ],
                "usage": _OPENAI_USAGE,
            }
        ).encode(),
        "application/json",
        "gpt-x",
        _OPENAI_COST,
    ),
    "openai chat stream": Case(
        "/v1/chat/completions",
        {"model": "gpt-x", "stream": True, "stream_options": {"include_usage": True}, **_CHAT},
        _sse(
            (None, {"id": "c1", "model": "gpt-x", "choices": [{"index": 0, "delta": {"content": "yo"}}]}),
            (
                None,
                {
                    "id": "c1",
                    "model": "gpt-x",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                },
            ),
            (None, {"id": "c1", "model": "gpt-x", "choices": [], "usage": _OPENAI_USAGE}),
            (None, "[DONE]"),
        ),
        "text/event-stream",
        "gpt-x",
        _OPENAI_COST,
    ),
    "openai completions": Case(
        "/v1/completions",
        {"model": "gpt-x", "prompt": "hi"},
        json.dumps(
            {
                "id": "c1",
                "object": "text_completion",
                "model": "gpt-x",
                "choices": [{"index": 0, "text": "yo", "finish_reason": "stop"}],
                "usage": _OPENAI_USAGE,
            }
        ).encode(),
        "application/json",
        "gpt-x",
        _OPENAI_COST,
    ),
    "openai embeddings": Case(
        "/v1/embeddings",
        {"model": "emb-x", "input": "hi"},
        json.dumps(
            {
                "object": "list",
                "model": "emb-x",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
                "usage": {"prompt_tokens": 700, "total_tokens": 700},
            }
        ).encode(),
        "application/json",
        "emb-x",
        per_million((700, P_IN)),
    ),
    "openai responses": Case(
        "/v1/responses",
        {"model": "gpt-x", "input": "hi"},
        json.dumps(
            {
                "id": "resp_1",
                "object": "response",
                "model": "gpt-x",
                "status": "completed",
                "output": [
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": "yo"}],
                    }
                ],
                "usage": {
                    "input_tokens": 1000,
                    "input_tokens_details": {"cached_tokens": 200},
                    "output_tokens": 300,
                    "output_tokens_details": {"reasoning_tokens": 50},
                    "total_tokens": 1300,
                },
            }
        ).encode(),
        "application/json",
        "gpt-x",
        _OPENAI_COST,
    ),
    "anthropic": Case(
        "/v1/messages",
        {"model": "claude-x", "max_tokens": 100, **_CHAT},
        json.dumps(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [{"type": "text", "text": "yo"}],
                "stop_reason": "end_turn",
                "usage": {**_ANTHROPIC_USAGE, "output_tokens": 300},
            }
        ).encode(),
        "application/json",
        "claude-x",
        _ANTHROPIC_COST,
    ),
    "anthropic stream": Case(
        "/v1/messages",
        {"model": "claude-x", "max_tokens": 100, "stream": True, **_CHAT},
        _sse(
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_1",
                        "type": "message",
                        "role": "assistant",
                        "model": "claude-x",
                        "content": [],
                        "usage": {**_ANTHROPIC_USAGE, "output_tokens": 1},
                    },
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "yo"}},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 300},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ),
        "text/event-stream",
        "claude-x",
        _ANTHROPIC_COST,
    ),
    "ollama": Case(
        "/api/chat",
        {"model": "llama3", "stream": False, **_CHAT},
        json.dumps(
            {
                "model": "llama3",
                "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": "yo"},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 900,
                "eval_count": 120,
            }
        ).encode(),
        "application/json",
        "llama3",
        per_million((900, P_IN), (120, P_OUT)),
    ),
    "llama.cpp": Case(
        "/completion",
        {"prompt": "hi"},
        json.dumps(
            {
                "content": "yo",
                "stop": True,
                "model": "smol.gguf",
                "tokens_predicted": 120,
                "tokens_evaluated": 900,
                "stop_type": "eos",
                "timings": {"prompt_n": 400, "cache_n": 500, "predicted_n": 120},
            }
        ).encode(),
        "application/json",
        "",
        # tokens_evaluated is the whole prompt; timings.cache_n of it came from the cache.
        per_million((400, P_IN), (500, P_CACHE_READ), (120, P_OUT)),
    ),
    "tgi": Case(
        "/generate",
        {"inputs": "hi", "parameters": {"details": True}},
        json.dumps(
            {
                "generated_text": "yo",
                "details": {"finish_reason": "eos_token", "generated_tokens": 120, "input_length": 900},
            }
        ).encode(),
        "application/json",
        "",
        per_million((900, P_IN), (120, P_OUT)),
    ),
    "gemini": Case(
        "/v1beta/models/gemini-x:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        json.dumps(
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": "yo"}]}, "finishReason": "STOP"}
                ],
                "usageMetadata": {
                    "promptTokenCount": 1000,
                    "cachedContentTokenCount": 200,
                    "candidatesTokenCount": 250,
                    "thoughtsTokenCount": 50,
                    "totalTokenCount": 1300,
                },
                "modelVersion": "gemini-x",
                "responseId": "r1",
            }
        ).encode(),
        "application/json",
        "gemini-x",
        # promptTokenCount includes the cached tokens; candidatesTokenCount excludes the thoughts.
        per_million((800, P_IN), (200, P_CACHE_READ), (250, P_OUT), (50, P_REASONING)),
    ),
    "cohere": Case(
        "/v2/chat",
        {"model": "command-x", **_CHAT},
        json.dumps(
            {
                "id": "c1",
                "finish_reason": "COMPLETE",
                "message": {"role": "assistant", "content": [{"type": "text", "text": "yo"}]},
                "usage": {
                    "billed_units": {"input_tokens": 800, "output_tokens": 200},
                    "tokens": {"input_tokens": 900, "output_tokens": 210},
                },
            }
        ).encode(),
        "application/json",
        "command-x",
        # billed units are what is paid for
        per_million((800, P_IN), (200, P_OUT)),
    ),
}


def _answer(case: Case) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(body=case.body, headers={"Content-Type": case.content_type})

    return handler


async def _send(sidecar: RunningSidecar, case: Case, headers: dict[str, str] | None = None) -> None:
    async with aiohttp.ClientSession() as session:
        url = sidecar.url + case.path
        async with session.post(url, json=case.request, headers=headers or {}) as response:
            assert response.status == 200
            assert await response.read() == case.body


def cost_points(sidecar: RunningSidecar) -> list[Any]:
    return sidecar.points("genai_sidecar.cost")


@pytest.fixture
async def priced(tmp_path: Path, start_sidecar: StartSidecar) -> AsyncIterator[Any]:
    """Run one case through a sidecar with the test price table; returns the sidecar."""

    async def run(case: Case) -> RunningSidecar:
        async with serve_handler(_answer(case)) as url:
            sidecar = await start_sidecar(url, **{"telemetry.cost": {"prices": price_file(tmp_path)}})
            await _send(sidecar, case)
            return sidecar

    return run


@pytest.mark.parametrize("name", sorted(CASES))
async def test_cost_is_usage_times_price_for_every_dialect(name: str, priced: Any) -> None:
    case = CASES[name]
    sidecar = await priced(case)
    (point,) = cost_points(sidecar)
    assert point.value == pytest.approx(case.expected, rel=1e-12, abs=0)
    assert point.attributes["gen_ai.usage.cost.currency"] == "EUR"
    assert point.attributes.get("gen_ai.request.model") == (case.model or None)
    (span,) = sidecar.sink.spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["gen_ai.usage.cost.amount"] == pytest.approx(case.expected, rel=1e-12, abs=0)
    assert span.attributes["gen_ai.usage.cost.currency"] == "EUR"
    assert span.attributes["gen_ai.usage.cost.source"] == "local"


async def test_call_log_carries_the_cost(
    tmp_path: Path, start_sidecar: StartSidecar, capfd: pytest.CaptureFixture[str]
) -> None:
    case = CASES["openai chat"]
    tables = {"telemetry.cost": {"prices": price_file(tmp_path)}, "telemetry": {"call_log": "stdout"}}
    async with serve_handler(_answer(case)) as url:
        sidecar = await start_sidecar(url, **tables)
        await _send(sidecar, case)
    out = ""
    for _ in range(400):  # the stdout call log is written by its own thread: wait for the line
        out += capfd.readouterr().out
        if "genai_sidecar.call" in out:
            break
        await asyncio.sleep(0.025)
    (line,) = [json.loads(ln) for ln in out.splitlines() if "genai_sidecar.call" in ln]
    assert line["cost"] == pytest.approx(case.expected, rel=1e-12, abs=0)
    assert line["currency"] == "EUR"


async def test_unpriced_model_counts_under_unpriced(tmp_path: Path, start_sidecar: StartSidecar) -> None:
    prices = price_file(tmp_path, '[[model]]\nmatch = "gpt-*"\ninput = 1\noutput = 2\n')
    case = CASES["ollama"]
    async with serve_handler(_answer(case)) as url:
        sidecar = await start_sidecar(url, **{"telemetry.cost": {"prices": prices}})
        await _send(sidecar, case)
        await _send(sidecar, case)
    (point,) = cost_points(sidecar)
    assert point.value == 0
    assert point.attributes["gen_ai.usage.cost.currency"] == "_UNPRICED"
    assert point.attributes["gen_ai.request.model"] == "llama3"
    for span in sidecar.sink.spans.get_finished_spans():
        assert span.attributes is not None
        assert "gen_ai.usage.cost.amount" not in span.attributes


async def test_no_price_file_no_cost(start_sidecar: StartSidecar) -> None:
    case = CASES["ollama"]
    async with serve_handler(_answer(case)) as url:
        sidecar = await start_sidecar(url)
        await _send(sidecar, case)
    assert cost_points(sidecar) == []
