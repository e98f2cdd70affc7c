"""OpenAI wire format: ``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``, ``/v1/models``.

Streams are SSE ``data: {json}`` events ending with ``data: [DONE]``. The first chat chunk carries
only the role. ``stream_options.include_usage`` adds a final usage chunk with ``choices: []``;
``stream_options.continuous_usage_stats`` (with ``include_usage``, as vLLM requires) puts the
cumulative usage on every chunk; otherwise chunks carry ``usage: null``. ``n`` (1 to
:data:`MAX_CHOICES`) streams that many choices, each token's chunks one per choice index, and
the usage counts them all. Stream variants (``x-sim-stream``): ``no-done`` ends the stream without
``data: [DONE]``; ``error-usage`` makes the ``error-event`` fault's error chunk OpenRouter's, with
``finish_reason: "error"`` and the usage of what was sent before it.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Mapping, Sequence
from typing import Final

from aiohttp import web

from sidecar import _json
from sidecar.simulator.body import BodyError, get_bool, get_int, get_map, get_str
from sidecar.simulator.controls import Controls
from sidecar.simulator.driver import STREAM_ERROR_MESSAGE, Prepared, generate, read_request
from sidecar.simulator.frames import SSE_CONTENT_TYPE, SSE_DONE, sse, sse_truncated
from sidecar.simulator.keys import SETTINGS_KEY
from sidecar.simulator.pacing import Timing, sleep_until
from sidecar.simulator.plan import Plan, plan_request
from sidecar.simulator.settings import SimulatorSettings
from sidecar.simulator.state import SimulatorState
from sidecar.simulator.text import collect_text, count_words, embedding

SYSTEM_FINGERPRINT: Final = "fp_sim"
#: Largest ``n`` the simulator serves.
MAX_CHOICES: Final = 16
_ERROR_KINDS: Final[Mapping[int, tuple[str, str | None]]] = {
    400: ("invalid_request_error", None),
    404: ("invalid_request_error", "not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
}


def error_response(status: int, message: str) -> web.Response:
    """An OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
    kind, code = _ERROR_KINDS.get(status, ("server_error", None))
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.Response(status=status, body=_json.dumps(body), headers={"Content-Type": "application/json"})


def stream_error_body(message: str) -> dict[str, object]:
    """The ``{"error": ...}`` payload OpenAI-compatible servers send inside a stream."""
    return {"error": {"message": message, "type": "server_error", "param": None, "code": None}}


def usage(prompt: int, completion: int) -> dict[str, object]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _stream_options(body: Mapping[str, object]) -> tuple[bool, bool]:
    options = get_map(body, "stream_options")
    include = get_bool(options, "include_usage", False)
    return include, include and get_bool(options, "continuous_usage_stats", False)


def _choices(body: Mapping[str, object]) -> int:
    count = get_int(body, "n")
    if count is None:
        return 1
    if not 1 <= count <= MAX_CHOICES:
        raise BodyError(f"'n' must be between 1 and {MAX_CHOICES}, got {count}")
    return count


def _max_tokens(body: Mapping[str, object]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = get_int(body, key)
        if value is not None:
            return value
    return None


class _ChoicesGeneration:
    """What chat and legacy completion streams share: the chunk envelope, usage as
    ``stream_options`` asks for it, the closing frames and the in-stream error."""

    content_type = SSE_CONTENT_TYPE
    _object: str
    """The chunks' ``object`` field."""

    def __init__(self, plan: Plan, *, response_id: str, include: bool, continuous: bool) -> None:
        self._plan = plan
        self._id = response_id
        self._created = int(time.time())
        self._include = include
        self._continuous = continuous

    def _chunk(self, choices: list[object], completion: int) -> dict[str, object]:
        """A chunk; it carries the usage so far only with ``continuous_usage_stats``."""
        plan = self._plan
        return {
            "id": self._id,
            "object": self._object,
            "created": self._created,
            "model": plan.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
            "usage": usage(plan.input_tokens, completion) if self._continuous else None,
        }

    def _closing(self, final_choices: list[dict[str, object]]) -> list[bytes]:
        """The finishing chunk of each choice, the usage-only chunk if ``include_usage``, then
        ``[DONE]`` (unless the ``no-done`` variant)."""
        plan = self._plan
        total = plan.all_output_tokens
        frames = [sse(self._chunk([choice], total)) for choice in final_choices]
        if self._include:
            last = self._chunk([], total)
            last["usage"] = usage(plan.input_tokens, total)
            frames.append(sse(last))
        return self._done(frames)

    def _done(self, frames: list[bytes]) -> list[bytes]:
        return frames if "no-done" in self._plan.stream else [*frames, SSE_DONE]

    def _error_choice(self, choice: int) -> dict[str, object]:
        """A choice that ends in an error (OpenRouter's error chunk)."""
        raise NotImplementedError

    def error_event(self) -> list[bytes]:
        plan = self._plan
        if "error-usage" not in plan.stream:
            return self._done([sse(stream_error_body(STREAM_ERROR_MESSAGE))])
        # OpenRouter: the error rides on a chunk with finish_reason "error" and the usage so far.
        sent = plan.fault_index * plan.choices
        chunk = self._chunk([self._error_choice(c) for c in range(plan.choices)], sent)
        chunk["error"] = {"code": 502, "message": STREAM_ERROR_MESSAGE}
        chunk["usage"] = usage(plan.input_tokens, sent)
        return self._done([sse(chunk)])


class ChatGeneration(_ChoicesGeneration):
    """Chat Completions chunks for one plan."""

    _object = "chat.completion.chunk"

    def __init__(self, plan: Plan, *, response_id: str, include: bool, continuous: bool) -> None:
        super().__init__(plan, response_id=response_id, include=include, continuous=continuous)
        self._call_id = "call_" + response_id.removeprefix("chatcmpl-")

    def _delta(self, delta: dict[str, object], completion: int, choice: int = 0) -> dict[str, object]:
        entry = {"index": choice, "delta": delta, "logprobs": None, "finish_reason": None}
        return self._chunk([entry], completion)

    def _tool_call_id(self, choice: int) -> str:
        return self._call_id if choice == 0 else f"{self._call_id}_{choice}"

    def _token_delta(self, index: int, piece: str, choice: int) -> dict[str, object]:
        if not self._plan.tool_call:
            return {"content": piece}
        call: dict[str, object] = {"index": 0, "function": {"arguments": piece}}
        if index == 0:
            call["id"] = self._tool_call_id(choice)
            call["type"] = "function"
            call["function"] = {"name": self._plan.tool_name, "arguments": piece}
        return {"tool_calls": [call]}

    def opening(self) -> list[bytes]:
        role: dict[str, object] = {"role": "assistant", "content": "", "refusal": None}
        return [sse(self._delta(role, 0, choice)) for choice in range(self._plan.choices)]

    def token(self, index: int, piece: str) -> bytes:
        n = self._plan.choices
        return b"".join(
            sse(self._delta(self._token_delta(index, piece, choice), index * n + choice + 1, choice))
            for choice in range(n)
        )

    def closing(self, timing: Timing) -> list[bytes]:
        finish = self._plan.finish
        return self._closing(
            [
                {"index": choice, "delta": {}, "logprobs": None, "finish_reason": finish}
                for choice in range(self._plan.choices)
            ]
        )

    def _error_choice(self, choice: int) -> dict[str, object]:
        return {"index": choice, "delta": {"content": ""}, "logprobs": None, "finish_reason": "error"}

    def malformed(self) -> bytes:
        return sse_truncated(self._delta({"content": " broken"}, 0))

    def _message(self, pieces: Sequence[str], choice: int) -> dict[str, object]:
        plan = self._plan
        message: dict[str, object] = {"role": "assistant", "content": "".join(pieces)}
        if plan.tool_call:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": self._tool_call_id(choice),
                    "type": "function",
                    "function": {"name": plan.tool_name, "arguments": "".join(pieces)},
                }
            ]
        message["refusal"] = None
        return message

    def whole(self, pieces: Sequence[str], timing: Timing) -> object:
        plan = self._plan
        return {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": plan.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [
                {
                    "index": c,
                    "message": self._message(pieces, c),
                    "logprobs": None,
                    "finish_reason": plan.finish,
                }
                for c in range(plan.choices)
            ],
            "usage": usage(plan.input_tokens, plan.all_output_tokens),
        }


class CompletionGeneration(_ChoicesGeneration):
    """Legacy Completions chunks for one plan (no tool calls in this API)."""

    _object = "text_completion"

    def _text(self, text: str, finish: str | None, completion: int, choice: int = 0) -> dict[str, object]:
        return self._chunk([_text_choice(text, finish, choice)], completion)

    def opening(self) -> list[bytes]:
        return []

    def token(self, index: int, piece: str) -> bytes:
        n = self._plan.choices
        return b"".join(sse(self._text(piece, None, index * n + c + 1, c)) for c in range(n))

    def closing(self, timing: Timing) -> list[bytes]:
        return self._closing([_text_choice("", self._plan.finish, c) for c in range(self._plan.choices)])

    def _error_choice(self, choice: int) -> dict[str, object]:
        return _text_choice("", "error", choice)

    def malformed(self) -> bytes:
        return sse_truncated(self._text(" broken", None, 0))

    def whole(self, pieces: Sequence[str], timing: Timing) -> object:
        plan = self._plan
        text = "".join(pieces)
        chunk = self._chunk([_text_choice(text, plan.finish, c) for c in range(plan.choices)], 0)
        chunk["usage"] = usage(plan.input_tokens, plan.all_output_tokens)
        return chunk


def _text_choice(text: str, finish: str | None, choice: int = 0) -> dict[str, object]:
    return {"text": text, "index": choice, "logprobs": None, "finish_reason": finish}


def _build_chat(
    body: Mapping[str, object],
    controls: Controls,
    settings: SimulatorSettings,
    state: SimulatorState,
) -> Prepared:
    prompt = list(collect_text(body.get("messages")))
    plan = plan_request(
        body, controls, settings.model, prompt=prompt, max_tokens=_max_tokens(body), choices=_choices(body)
    )
    return _prepare(body, plan, ChatGeneration, state.next_id("chatcmpl-"))


def _build_completion(
    body: Mapping[str, object],
    controls: Controls,
    settings: SimulatorSettings,
    state: SimulatorState,
) -> Prepared:
    prompt = list(collect_text(body.get("prompt")))
    plan = plan_request(
        body,
        controls,
        settings.model,
        prompt=prompt,
        max_tokens=_max_tokens(body),
        tools_supported=False,
        choices=_choices(body),
    )
    return _prepare(body, plan, CompletionGeneration, state.next_id("cmpl-"))


def _prepare(
    body: Mapping[str, object],
    plan: Plan,
    generation: type[ChatGeneration] | type[CompletionGeneration],
    response_id: str,
) -> Prepared:
    """A chat or legacy completion with its ``stream_options`` and an ``x-request-id`` header."""
    include, continuous = _stream_options(body)
    gen = generation(plan, response_id=response_id, include=include, continuous=continuous)
    headers = {"x-request-id": "req_" + response_id.rpartition("-")[2]}
    return Prepared(plan=plan, generation=gen, stream=get_bool(body, "stream", False), headers=headers)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions``."""
    return await generate(request, error_response, _build_chat)


async def completions(request: web.Request) -> web.StreamResponse:
    """``POST /v1/completions``."""
    return await generate(request, error_response, _build_completion)


def _embedding_inputs(value: object) -> tuple[list[str], int]:
    """Texts to embed and their token count; token-id arrays count one token per id."""
    if isinstance(value, str):
        return [value], count_words([value])
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [" ".join(str(v) for v in value)], len(value)
    texts: list[str] = []
    tokens = 0
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                texts.append(item)
                tokens += count_words([item])
            elif isinstance(item, list):
                texts.append(" ".join(str(v) for v in item))
                tokens += max(1, len(item))
    return texts, max(1, tokens)


def _encode_vector(vector: list[float], encoding: str | None) -> object:
    if encoding == "base64":
        packed = struct.pack(f"<{len(vector)}f", *vector)
        return base64.b64encode(packed).decode("ascii")
    return vector


async def embeddings(request: web.Request) -> web.StreamResponse:
    """``POST /v1/embeddings``: one deterministic vector per input, after ``x-sim-ttfc-ms``."""
    read = await read_request(request, error_response)
    if isinstance(read, web.Response):
        return read
    controls, body = read
    settings = request.app[SETTINGS_KEY]
    texts, tokens = _embedding_inputs(body.get("input"))
    if not texts:
        return error_response(400, "'input' must be a string or an array of strings or tokens")
    dims = get_int(body, "dimensions") or settings.embedding_dims
    encoding = get_str(body, "encoding_format")
    await sleep_until(time.monotonic() + controls.ttfc_ms / 1000.0)
    data = [
        {"object": "embedding", "index": i, "embedding": _encode_vector(embedding(t, dims), encoding)}
        for i, t in enumerate(texts)
    ]
    payload = {
        "object": "list",
        "data": data,
        "model": get_str(body, "model") or settings.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return web.Response(body=_json.dumps(payload), headers={"Content-Type": "application/json"})


def models_body(models: Sequence[str]) -> dict[str, object]:
    """``GET /v1/models`` in OpenAI's shape."""
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "genai-sidecar"} for m in models
        ],
    }
