"""OpenAI Responses wire format: ``/v1/responses``.

Streams are typed SSE events (``event: <type>`` + ``data: {"type", "sequence_number", ...}``) with no
``[DONE]``: ``response.created``, ``response.in_progress``, ``response.output_item.added``,
``response.content_part.added``, ``response.output_text.delta`` per token, the matching ``.done``
events, then ``response.completed`` (or ``response.incomplete`` when cut by ``max_output_tokens`` or
a content filter) carrying the usage. Tool calls stream as ``response.function_call_arguments.delta``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from aiohttp import web

from sidecar.simulator.body import get_bool, get_int, get_str
from sidecar.simulator.controls import Controls
from sidecar.simulator.driver import STREAM_ERROR_MESSAGE, Prepared, generate
from sidecar.simulator.frames import SSE_CONTENT_TYPE, sse, sse_truncated
from sidecar.simulator.openai import error_response
from sidecar.simulator.pacing import Timing
from sidecar.simulator.plan import Plan, plan_request
from sidecar.simulator.settings import SimulatorSettings
from sidecar.simulator.state import SimulatorState
from sidecar.simulator.text import collect_text

_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


class ResponsesGeneration:
    """Responses API events for one plan."""

    content_type = SSE_CONTENT_TYPE

    def __init__(
        self,
        plan: Plan,
        *,
        response_id: str,
        instructions: str | None,
        max_output_tokens: int | None,
        tools: object,
    ) -> None:
        self._plan = plan
        self._id = response_id
        suffix = response_id.removeprefix("resp_")
        self._item_id = ("fc_" if plan.tool_call else "msg_") + suffix
        self._call_id = "call_" + suffix
        self._created = int(time.time())
        self._instructions = instructions
        self._max_output_tokens = max_output_tokens
        self._tools = tools if isinstance(tools, list) else []
        self._sequence = 0
        self._text: list[str] = []

    def _event(self, kind: str, fields: dict[str, object]) -> bytes:
        payload: dict[str, object] = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return sse(payload, event=kind)

    @property
    def _status(self) -> str:
        return "incomplete" if self._plan.finish in _INCOMPLETE_REASONS else "completed"

    def _item(self, status: str, text: str | None) -> dict[str, object]:
        plan = self._plan
        if plan.tool_call:
            return {
                "id": self._item_id,
                "type": "function_call",
                "status": status,
                "arguments": text or "",
                "call_id": self._call_id,
                "name": plan.tool_name,
            }
        content = [] if text is None else [self._part(text)]
        return {
            "id": self._item_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    @staticmethod
    def _part(text: str) -> dict[str, object]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def _response(self, status: str, output: list[object], final: bool) -> dict[str, object]:
        plan = self._plan
        reason = _INCOMPLETE_REASONS.get(plan.finish) if final else None
        usage = None
        if final:
            usage = {
                "input_tokens": plan.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": plan.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": plan.input_tokens + plan.output_tokens,
            }
        return {
            "id": self._id,
            "object": "response",
            "created_at": self._created,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": reason} if reason else None,
            "instructions": self._instructions,
            "max_output_tokens": self._max_output_tokens,
            "model": plan.model,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": self._tools,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "metadata": {},
        }

    def opening(self) -> list[bytes]:
        frames = [
            self._event("response.created", {"response": self._response("in_progress", [], False)}),
            self._event("response.in_progress", {"response": self._response("in_progress", [], False)}),
            self._event(
                "response.output_item.added",
                {"output_index": 0, "item": self._item("in_progress", None)},
            ),
        ]
        if not self._plan.tool_call:
            frames.append(
                self._event(
                    "response.content_part.added",
                    {
                        "item_id": self._item_id,
                        "output_index": 0,
                        "content_index": 0,
                        "part": self._part(""),
                    },
                )
            )
        return frames

    def token(self, index: int, piece: str) -> bytes:
        self._text.append(piece)
        if self._plan.tool_call:
            return self._event(
                "response.function_call_arguments.delta",
                {"item_id": self._item_id, "output_index": 0, "delta": piece},
            )
        return self._event(
            "response.output_text.delta",
            {
                "item_id": self._item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
                "logprobs": [],
            },
        )

    def closing(self, timing: Timing) -> list[bytes]:
        text = "".join(self._text)
        where = {"item_id": self._item_id, "output_index": 0}
        frames: list[bytes] = []
        if self._plan.tool_call:
            frames.append(self._event("response.function_call_arguments.done", {**where, "arguments": text}))
        else:
            frames.append(
                self._event(
                    "response.output_text.done",
                    {**where, "content_index": 0, "text": text, "logprobs": []},
                )
            )
            frames.append(
                self._event(
                    "response.content_part.done",
                    {**where, "content_index": 0, "part": self._part(text)},
                )
            )
        status = self._status
        item = self._item(status, text)
        frames.append(self._event("response.output_item.done", {"output_index": 0, "item": item}))
        terminal = "response.incomplete" if status == "incomplete" else "response.completed"
        frames.append(self._event(terminal, {"response": self._response(status, [item], True)}))
        return frames

    def malformed(self) -> bytes:
        kind = "response.output_text.delta"
        payload = {"type": kind, "sequence_number": self._sequence, "delta": " broken"}
        self._sequence += 1
        return sse_truncated(payload, event=kind)

    def error_event(self) -> list[bytes]:
        fields: dict[str, object] = {
            "code": "server_error",
            "message": STREAM_ERROR_MESSAGE,
            "param": None,
        }
        return [self._event("error", fields)]

    def whole(self, pieces: Sequence[str], timing: Timing) -> object:
        status = self._status
        return self._response(status, [self._item(status, "".join(pieces))], True)


def _build(
    body: Mapping[str, object],
    controls: Controls,
    settings: SimulatorSettings,
    state: SimulatorState,
) -> Prepared:
    instructions = get_str(body, "instructions")
    prompt = list(collect_text(body.get("input")))
    if instructions:
        prompt.insert(0, instructions)
    max_output_tokens = get_int(body, "max_output_tokens")
    plan = plan_request(body, controls, settings.model, prompt=prompt, max_tokens=max_output_tokens)
    response_id = state.next_id("resp_")
    gen = ResponsesGeneration(
        plan,
        response_id=response_id,
        instructions=instructions,
        max_output_tokens=max_output_tokens,
        tools=body.get("tools"),
    )
    headers = {"x-request-id": "req_" + response_id.removeprefix("resp_")}
    return Prepared(plan=plan, generation=gen, stream=get_bool(body, "stream", False), headers=headers)


async def responses(request: web.Request) -> web.StreamResponse:
    """``POST /v1/responses``."""
    return await generate(request, error_response, _build)
