"""Anthropic Messages wire format: ``/v1/messages`` (and ``/v1/models`` in Anthropic's shape).

Streams are named SSE events: ``message_start`` (input usage), ``content_block_start``, ``ping``,
one ``content_block_delta`` per token (``text_delta``, or ``input_json_delta`` for a tool call),
``content_block_stop``, ``message_delta`` (stop reason and cumulative ``usage.output_tokens``) and
``message_stop``. As the real API does, ``message_start`` already reports ``output_tokens: 1``; the
``message_delta`` value replaces it. Errors are ``{"type": "error", "error": {"type", "message"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from aiohttp import web

from sidecar import _json
from sidecar.simulator.body import BodyError, get_bool, get_int
from sidecar.simulator.controls import Controls
from sidecar.simulator.driver import Prepared, generate
from sidecar.simulator.frames import SSE_CONTENT_TYPE, sse, sse_truncated
from sidecar.simulator.pacing import Timing
from sidecar.simulator.plan import Plan, plan_request
from sidecar.simulator.settings import SimulatorSettings
from sidecar.simulator.state import SimulatorState
from sidecar.simulator.text import collect_text

STOP_REASONS: Final[Mapping[str, str]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "refusal",
    "tool_calls": "tool_use",
}
_ERROR_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, object]:
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
    }


def error_response(status: int, message: str) -> web.Response:
    """An Anthropic error response."""
    return web.Response(
        status=status,
        body=_json.dumps(error_body(status, message)),
        headers={"Content-Type": "application/json"},
    )


class MessagesGeneration:
    """Messages API events for one plan."""

    content_type = SSE_CONTENT_TYPE

    def __init__(self, plan: Plan, *, message_id: str) -> None:
        self._plan = plan
        self._id = message_id
        self._tool_id = "toolu_" + message_id.removeprefix("msg_")

    def _usage(self, output_tokens: int) -> dict[str, object]:
        return {
            "input_tokens": self._plan.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
        }

    def _message(self, content: list[object], stop: str | None, output: int) -> dict[str, object]:
        return {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._plan.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": self._usage(output),
        }

    def _block(self, text: str) -> dict[str, object]:
        plan = self._plan
        if plan.tool_call:
            tool_input = _json.loads(text) if text else {}
            return {"type": "tool_use", "id": self._tool_id, "name": plan.tool_name, "input": tool_input}
        return {"type": "text", "text": text}

    @staticmethod
    def _event(payload: dict[str, object]) -> bytes:
        return sse(payload, event=str(payload["type"]))

    def opening(self) -> list[bytes]:
        start = min(1, self._plan.output_tokens)
        return [
            self._event({"type": "message_start", "message": self._message([], None, start)}),
            self._event({"type": "content_block_start", "index": 0, "content_block": self._block("")}),
            self._event({"type": "ping"}),
        ]

    def _delta(self, piece: str) -> dict[str, object]:
        if self._plan.tool_call:
            delta = {"type": "input_json_delta", "partial_json": piece}
        else:
            delta = {"type": "text_delta", "text": piece}
        return {"type": "content_block_delta", "index": 0, "delta": delta}

    def token(self, index: int, piece: str) -> bytes:
        return self._event(self._delta(piece))

    def closing(self, timing: Timing) -> list[bytes]:
        plan = self._plan
        return [
            self._event({"type": "content_block_stop", "index": 0}),
            self._event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": STOP_REASONS[plan.finish], "stop_sequence": None},
                    "usage": {"output_tokens": plan.output_tokens},
                }
            ),
            self._event({"type": "message_stop"}),
        ]

    def malformed(self) -> bytes:
        return sse_truncated(self._delta(" broken"), event="content_block_delta")

    def error_event(self) -> list[bytes]:
        return [sse(error_body(529, "Overloaded"), event="error")]

    def whole(self, pieces: Sequence[str], timing: Timing) -> object:
        plan = self._plan
        block = self._block("".join(pieces))
        return self._message([block], STOP_REASONS[plan.finish], plan.output_tokens)


def _build(
    body: Mapping[str, object],
    controls: Controls,
    settings: SimulatorSettings,
    state: SimulatorState,
) -> Prepared:
    max_tokens = get_int(body, "max_tokens")
    if max_tokens is None:
        raise BodyError("max_tokens: Field required")
    prompt = [*collect_text(body.get("system")), *collect_text(body.get("messages"))]
    plan = plan_request(body, controls, settings.model, prompt=prompt, max_tokens=max_tokens)
    message_id = state.next_id("msg_")
    headers = {"request-id": "req_" + message_id.removeprefix("msg_")}
    return Prepared(
        plan=plan,
        generation=MessagesGeneration(plan, message_id=message_id),
        stream=get_bool(body, "stream", False),
        headers=headers,
    )


async def messages(request: web.Request) -> web.StreamResponse:
    """``POST /v1/messages``."""
    return await generate(request, error_response, _build)


def models_body(models: Sequence[str]) -> dict[str, object]:
    """``GET /v1/models`` in Anthropic's shape (chosen when ``anthropic-version`` is sent)."""
    data = [
        {"type": "model", "id": m, "display_name": m, "created_at": "2024-01-01T00:00:00Z"} for m in models
    ]
    return {"data": data, "has_more": False, "first_id": models[0], "last_id": models[-1]}
