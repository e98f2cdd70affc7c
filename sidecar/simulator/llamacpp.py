"""llama.cpp server's native completion API: ``POST /completion``.

As ``llama-server`` answers it (``tools/server/README.md``; captures of b11434 in
``tests/data/transcripts/llamacpp``): ``stream`` defaults to false. A stream is SSE ``data:``
objects, one per token (``content``, ``stop: false``, ``tokens_predicted`` so far,
``tokens_evaluated``), then a final object with ``stop: true``, ``model``, ``tokens_predicted``,
``tokens_evaluated``, ``stop_type`` (``eos``, or ``limit`` when ``n_predict`` cut the output),
``stopping_word``, ``tokens_cached`` and ``timings`` measured on the simulator's clock
(``prompt_ms``: parsed to first token; ``predicted_ms``: first to last token; ``cache_n`` 0).
There is no ``[DONE]``. Without streaming the body is that final object with the whole
``content``. The ``stopped-flags`` stream variant sends an older server's ``stopped_eos`` /
``stopped_word`` / ``stopped_limit`` booleans instead of ``stop_type``. Errors are
``{"error": {"code", "message", "type"}}``, also as an SSE event mid-stream. llama.cpp has no
tool calls here and no content filter: ``x-sim-finish: tool_calls`` reports ``eos``, and
``content_filter`` is refused with a 400.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Final

from aiohttp import web

from sidecar import _json
from sidecar.simulator.body import BodyError, get_bool, get_int
from sidecar.simulator.controls import Controls
from sidecar.simulator.driver import STREAM_ERROR_MESSAGE, Prepared, generate
from sidecar.simulator.frames import SSE_CONTENT_TYPE, sse, sse_truncated
from sidecar.simulator.pacing import Timing
from sidecar.simulator.plan import Plan, plan_request
from sidecar.simulator.settings import SimulatorSettings
from sidecar.simulator.state import SimulatorState
from sidecar.simulator.text import collect_text

#: The simulator's finish reason -> llama.cpp's ``stop_type``.
STOP_TYPES: Final[Mapping[str, str]] = {"stop": "eos", "length": "limit"}
_STOPPED: Final = {"eos": "stopped_eos", "word": "stopped_word", "limit": "stopped_limit"}
#: llama-server's error types by status; it has none of its own for 429 (nor rate limits).
_ERROR_TYPES: Final = {400: "invalid_request_error", 404: "not_found_error"}


def error_response(status: int, message: str) -> web.Response:
    """llama-server's error body: ``{"error": {"code", "message", "type"}}``."""
    body = {"error": {"code": status, "message": message, "type": _ERROR_TYPES.get(status, "server_error")}}
    return web.Response(status=status, body=_json.dumps(body), headers={"Content-Type": "application/json"})


def _ms(seconds: float) -> float:
    return round(max(0.0, seconds) * 1000.0, 3)


class LlamaCppGeneration:
    """``/completion`` objects for one plan."""

    content_type = SSE_CONTENT_TYPE

    def __init__(self, plan: Plan) -> None:
        self._plan = plan

    def _partial(self, piece: str, predicted: int) -> dict[str, object]:
        return {
            "index": 0,
            "content": piece,
            "tokens": [],
            "stop": False,
            "id_slot": 0,
            "tokens_predicted": predicted,
            "tokens_evaluated": self._plan.input_tokens,
        }

    def _final(self, content: str, timing: Timing) -> dict[str, object]:
        plan = self._plan
        end = time.monotonic()
        first = timing.first_token if timing.first_token is not None else end
        last = timing.last_token if timing.last_token is not None else first
        prompt_ms, predicted_ms = _ms(first - timing.parsed), _ms(last - first)
        predicted = plan.output_tokens
        final: dict[str, object] = {
            "index": 0,
            "content": content,
            "tokens": [],
            "id_slot": 0,
            "stop": True,
            "model": plan.model,
            "tokens_predicted": predicted,
            "tokens_evaluated": plan.input_tokens,
            "truncated": False,
        }
        stop_type = STOP_TYPES[plan.finish]
        if "stopped-flags" in plan.stream:
            final.update({flag: name == stop_type for name, flag in _STOPPED.items()})
        else:
            final["stop_type"] = stop_type
        final["stopping_word"] = ""
        final["tokens_cached"] = plan.input_tokens + predicted
        final["timings"] = {
            "cache_n": 0,
            "prompt_n": plan.input_tokens,
            "prompt_ms": prompt_ms,
            "prompt_per_token_ms": round(prompt_ms / plan.input_tokens, 6),
            "predicted_n": predicted,
            "predicted_ms": predicted_ms,
            "predicted_per_token_ms": round(predicted_ms / predicted, 6) if predicted else 0.0,
        }
        return final

    def opening(self) -> list[bytes]:
        return []

    def token(self, index: int, piece: str) -> bytes:
        return sse(self._partial(piece, index + 1))

    def closing(self, timing: Timing) -> list[bytes]:
        return [sse(self._final("", timing))]

    def malformed(self) -> bytes:
        return sse_truncated(self._partial(" broken", 0))

    def error_event(self) -> list[bytes]:
        return [sse({"error": {"code": 500, "message": STREAM_ERROR_MESSAGE, "type": "server_error"}})]

    def whole(self, pieces: Sequence[str], timing: Timing) -> object:
        return self._final("".join(pieces), timing)


def _n_predict(body: Mapping[str, object]) -> int | None:
    value = get_int(body, "n_predict")
    return value if value is not None and value >= 0 else None


def _build(
    body: Mapping[str, object],
    controls: Controls,
    settings: SimulatorSettings,
    state: SimulatorState,
) -> Prepared:
    if controls.finish == "content_filter":
        raise BodyError("llama.cpp has no content filter: x-sim-finish content_filter is not served here")
    prompt = list(collect_text(body.get("prompt")))
    plan = plan_request(
        body, controls, settings.model, prompt=prompt, max_tokens=_n_predict(body), tools_supported=False
    )
    return Prepared(plan=plan, generation=LlamaCppGeneration(plan), stream=get_bool(body, "stream", False))


async def completion(request: web.Request) -> web.StreamResponse:
    """``POST /completion``."""
    return await generate(request, error_response, _build)
