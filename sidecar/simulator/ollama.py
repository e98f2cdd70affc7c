"""Ollama wire format: ``/api/chat``, ``/api/generate``, ``/api/embed``, ``/api/embeddings``,
``/api/tags``, ``/api/version``.

``stream`` defaults to true: NDJSON (``application/x-ndjson``), one object per token, then a
``done: true`` line with ``done_reason`` and the timing fields in nanoseconds, measured on the
simulator's clock: ``load_duration`` (receipt to request parsed), ``prompt_eval_duration`` (parsed to
first token), ``eval_duration`` (first to last token), ``total_duration`` (receipt to final line).
Zero-valued fields are left out, as Ollama's ``omitempty`` does. A tool call arrives whole, in one
``message.tool_calls`` line at the last token's time, with ``done_reason: stop``. Errors are
``{"error": "..."}``, also as an NDJSON line mid-stream.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Final

from aiohttp import web

from sidecar import _json
from sidecar.simulator.body import get_bool, get_int, get_map, get_str
from sidecar.simulator.controls import Controls
from sidecar.simulator.driver import STREAM_ERROR_MESSAGE, Prepared, generate, read_request
from sidecar.simulator.frames import NDJSON_CONTENT_TYPE, ndjson, ndjson_truncated, rfc3339_now
from sidecar.simulator.keys import SETTINGS_KEY, received_at
from sidecar.simulator.pacing import Timing, sleep_until
from sidecar.simulator.plan import Plan, plan_request
from sidecar.simulator.settings import SimulatorSettings
from sidecar.simulator.state import SimulatorState
from sidecar.simulator.text import collect_text, count_words, embedding

DONE_REASONS: Final[Mapping[str, str]] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "stop",
}


def error_response(status: int, message: str) -> web.Response:
    """An Ollama error response: ``{"error": "..."}``."""
    return web.Response(
        status=status,
        body=_json.dumps({"error": message}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


def _metrics(plan: Plan, timing: Timing) -> dict[str, int]:
    """The final line's counts and durations, zero values omitted."""
    end = time.monotonic()
    first = timing.first_token if timing.first_token is not None else end
    last = timing.last_token if timing.last_token is not None else first
    values = {
        "total_duration": Timing.ns(end - timing.received),
        "load_duration": Timing.ns(timing.parsed - timing.received),
        "prompt_eval_count": plan.input_tokens,
        "prompt_eval_duration": Timing.ns(first - timing.parsed),
        "eval_count": plan.output_tokens,
        "eval_duration": Timing.ns(last - first),
    }
    return {k: v for k, v in values.items() if v}


class OllamaGeneration:
    """``/api/chat`` (``chat=True``) or ``/api/generate`` lines for one plan."""

    content_type = NDJSON_CONTENT_TYPE

    def __init__(self, plan: Plan, *, chat: bool) -> None:
        self._plan = plan
        self._chat = chat
        self._arguments: list[str] = []

    def _line(self, text: str, done: bool) -> dict[str, object]:
        line: dict[str, object] = {"model": self._plan.model, "created_at": rfc3339_now()}
        if self._chat:
            line["message"] = {"role": "assistant", "content": text}
        else:
            line["response"] = text
        line["done"] = done
        return line

    def _tool_calls(self, arguments: str) -> list[object]:
        return [{"function": {"name": self._plan.tool_name, "arguments": _json.loads(arguments)}}]

    def opening(self) -> list[bytes]:
        return []

    def token(self, index: int, piece: str) -> bytes:
        plan = self._plan
        if not plan.tool_call:
            return ndjson(self._line(piece, False))
        self._arguments.append(piece)
        if index < plan.output_tokens - 1:
            return b""
        line = self._line("", False)
        line["message"] = {
            "role": "assistant",
            "content": "",
            "tool_calls": self._tool_calls("".join(self._arguments)),
        }
        return ndjson(line)

    def _final(self, text: str, timing: Timing) -> dict[str, object]:
        line = self._line(text, True)
        line["done_reason"] = DONE_REASONS[self._plan.finish]
        line.update(_metrics(self._plan, timing))
        return line

    def closing(self, timing: Timing) -> list[bytes]:
        return [ndjson(self._final("", timing))]

    def malformed(self) -> bytes:
        return ndjson_truncated(self._line(" broken", False))

    def error_event(self) -> list[bytes]:
        return [ndjson({"error": STREAM_ERROR_MESSAGE})]

    def whole(self, pieces: Sequence[str], timing: Timing) -> object:
        if not self._plan.tool_call:
            return self._final("".join(pieces), timing)
        line = self._final("", timing)
        line["message"] = {
            "role": "assistant",
            "content": "",
            "tool_calls": self._tool_calls("".join(pieces)),
        }
        return line


def _num_predict(body: Mapping[str, object]) -> int | None:
    value = get_int(get_map(body, "options"), "num_predict")
    return value if value is not None and value > 0 else None


def _build_chat(
    body: Mapping[str, object],
    controls: Controls,
    settings: SimulatorSettings,
    state: SimulatorState,
) -> Prepared:
    prompt = list(collect_text(body.get("messages")))
    plan = plan_request(body, controls, settings.model, prompt=prompt, max_tokens=_num_predict(body))
    gen = OllamaGeneration(plan, chat=True)
    return Prepared(plan=plan, generation=gen, stream=get_bool(body, "stream", True))


def _build_generate(
    body: Mapping[str, object],
    controls: Controls,
    settings: SimulatorSettings,
    state: SimulatorState,
) -> Prepared:
    prompt = [*collect_text(body.get("system")), *collect_text(body.get("prompt"))]
    plan = plan_request(
        body, controls, settings.model, prompt=prompt, max_tokens=_num_predict(body), tools_supported=False
    )
    gen = OllamaGeneration(plan, chat=False)
    return Prepared(plan=plan, generation=gen, stream=get_bool(body, "stream", True))


async def chat(request: web.Request) -> web.StreamResponse:
    """``POST /api/chat``."""
    return await generate(request, error_response, _build_chat)


async def generate_text(request: web.Request) -> web.StreamResponse:
    """``POST /api/generate``."""
    return await generate(request, error_response, _build_generate)


def _embed_inputs(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


async def embed(request: web.Request) -> web.StreamResponse:
    """``POST /api/embed``: one vector per input after ``x-sim-ttfc-ms``."""
    read = await read_request(request, error_response)
    if isinstance(read, web.Response):
        return read
    controls, body = read
    received = received_at()
    settings = request.app[SETTINGS_KEY]
    texts = _embed_inputs(body.get("input"))
    if not texts:
        return error_response(400, "invalid input type")
    dims = get_int(body, "dimensions") or settings.embedding_dims
    await sleep_until(received + controls.ttfc_ms / 1000.0)
    payload = {
        "model": get_str(body, "model") or settings.model,
        "embeddings": [embedding(t, dims) for t in texts],
        "total_duration": Timing.ns(time.monotonic() - received),
        "prompt_eval_count": count_words(texts),
    }
    return web.Response(
        body=_json.dumps(payload),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


async def embeddings_legacy(request: web.Request) -> web.StreamResponse:
    """``POST /api/embeddings`` (the older single-prompt endpoint)."""
    read = await read_request(request, error_response)
    if isinstance(read, web.Response):
        return read
    controls, body = read
    settings = request.app[SETTINGS_KEY]
    prompt = get_str(body, "prompt") or ""
    await sleep_until(time.monotonic() + controls.ttfc_ms / 1000.0)
    payload = {"embedding": embedding(prompt, settings.embedding_dims)}
    return web.Response(
        body=_json.dumps(payload), headers={"Content-Type": "application/json; charset=utf-8"}
    )


def tags_body(models: Sequence[str]) -> dict[str, object]:
    """``GET /api/tags``: the configured models as locally installed ones."""
    return {
        "models": [
            {
                "name": m,
                "model": m,
                "modified_at": "2024-01-01T00:00:00Z",
                "size": 1_000_000,
                "digest": hashlib.sha256(m.encode()).hexdigest(),
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "sim",
                    "families": ["sim"],
                    "parameter_size": "1M",
                    "quantization_level": "F16",
                },
            }
            for m in models
        ]
    }
