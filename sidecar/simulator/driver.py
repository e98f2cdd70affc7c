"""Serves one generation request: controls, HTTP faults, then a paced stream or a whole body.

Each API module supplies a :class:`Generation` (how its frames look) and an error responder (how its
error bodies look); this module owns timing and fault placement, so every API behaves the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from sidecar import _json
from sidecar.simulator.body import BodyError, parse_object
from sidecar.simulator.controls import ControlError, Controls, parse_controls
from sidecar.simulator.faults import close_connection, hold_open
from sidecar.simulator.keys import SETTINGS_KEY, STATE_KEY, received_at
from sidecar.simulator.pacing import Timing, sleep_until
from sidecar.simulator.plan import Plan
from sidecar.simulator.settings import SimulatorSettings
from sidecar.simulator.state import SimulatorState

RATE_LIMIT_MESSAGE = "Rate limit reached (simulated)"
SERVER_ERROR_MESSAGE = "The server had an error while processing the request (simulated)"
STREAM_ERROR_MESSAGE = "The model server is overloaded (simulated)"


class Generation(Protocol):
    """One request's output in one API's wire format; stateful, used for a single response."""

    @property
    def content_type(self) -> str:
        """Content-Type of the streamed body."""
        ...

    def opening(self) -> list[bytes]:
        """Frames sent at once when the stream starts, before any output (role chunk, start events)."""
        ...

    def token(self, index: int, piece: str) -> bytes:
        """The frame carrying output token ``index``."""
        ...

    def closing(self, timing: Timing) -> list[bytes]:
        """Frames after the last token: finish reason, usage, terminal marker."""
        ...

    def malformed(self) -> bytes:
        """A frame whose JSON is cut short, in this format's framing."""
        ...

    def error_event(self) -> list[bytes]:
        """The in-stream error this API sends, and whatever it sends after it."""
        ...

    def whole(self, pieces: Sequence[str], timing: Timing) -> object:
        """The non-streaming JSON response."""
        ...


ErrorResponder = Callable[[int, str], web.Response]


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A request ready to be served."""

    plan: Plan
    generation: Generation
    stream: bool
    headers: Mapping[str, str] = field(default_factory=dict)


Builder = Callable[[Mapping[str, object], Controls, SimulatorSettings, SimulatorState], Prepared]
"""Turns a request into a :class:`Prepared`; raises :class:`BodyError` for a request it rejects."""


async def read_request(
    request: web.Request, error: ErrorResponder
) -> tuple[Controls, dict[str, object]] | web.Response:
    """Controls and JSON body, or the API's 400 / 429 / 500 response when one is due."""
    try:
        controls = parse_controls(request.headers, request.app[SETTINGS_KEY])
        body = parse_object(await request.read())
    except (ControlError, BodyError) as exc:
        return error(400, str(exc))
    if controls.fault == "429":
        return error(429, RATE_LIMIT_MESSAGE)
    if controls.fault == "500":
        return error(500, SERVER_ERROR_MESSAGE)
    return controls, body


async def generate(request: web.Request, error: ErrorResponder, build: Builder) -> web.StreamResponse:
    """Handle a generation route end to end."""
    read = await read_request(request, error)
    if isinstance(read, web.Response):
        return read
    controls, body = read
    parsed = time.monotonic()
    timing = Timing(received=received_at(), parsed=parsed)
    try:
        prepared = build(body, controls, request.app[SETTINGS_KEY], request.app[STATE_KEY])
    except BodyError as exc:
        return error(400, str(exc))
    if prepared.stream:
        return await _stream(request, prepared, timing)
    return await _whole(request, prepared, timing, error)


async def _stream(request: web.Request, prepared: Prepared, timing: Timing) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    plan, gen = prepared.plan, prepared.generation
    resp = web.StreamResponse(
        status=200,
        headers={"Content-Type": gen.content_type, "Cache-Control": "no-cache", **prepared.headers},
    )
    state.active_streams += 1
    try:
        await resp.prepare(request)
        for frame in gen.opening():
            await resp.write(frame)
        first_due = timing.received + plan.ttfc_s
        count = plan.output_tokens
        for index in range(count + 1):
            if index < count or index == plan.fault_index:
                await sleep_until(first_due + index * plan.itl_s)
            if index == plan.fault_index and await _mid_stream_fault(request, resp, plan, gen):
                return resp
            if index == count:
                break
            frame = gen.token(index, plan.piece_at(index))
            if frame:  # a token may have no frame of its own (Ollama tool-call tokens)
                await resp.write(frame)
            timing.mark_token()
            if plan.fault == "stall" and index == 0:
                await _stall(request, plan)
                return resp
        for frame in gen.closing(timing):
            await resp.write(frame)
        await resp.write_eof()
    except ConnectionError:
        pass  # the client went away; nothing left to send
    finally:
        state.active_streams -= 1
        state.completed_streams += 1
    return resp


async def _mid_stream_fault(
    request: web.Request, resp: web.StreamResponse, plan: Plan, gen: Generation
) -> bool:
    """Apply a fault due after half the tokens; True when the stream is over."""
    if plan.fault == "crash":
        close_connection(request)
        return True
    if plan.fault == "malformed":
        await resp.write(gen.malformed())
    elif plan.fault == "error-event":
        for frame in gen.error_event():
            await resp.write(frame)
        await resp.write_eof()
        return True
    elif plan.fault == "stall" and plan.output_tokens == 0:
        await _stall(request, plan)
        return True
    return False


async def _stall(request: web.Request, plan: Plan) -> None:
    await hold_open(request, plan.stall_s)
    close_connection(request)


async def _whole(
    request: web.Request, prepared: Prepared, timing: Timing, error: ErrorResponder
) -> web.StreamResponse:
    plan = prepared.plan
    if plan.fault == "stall":
        await sleep_until(timing.received + plan.ttfc_s)
        await _stall(request, plan)
        return web.Response()
    await sleep_until(timing.received + plan.generation_s)
    if plan.fault == "crash":
        close_connection(request)
        return web.Response()
    if plan.fault == "error-event":
        return error(500, STREAM_ERROR_MESSAGE)
    if plan.output_tokens:
        timing.first_token = timing.received + plan.ttfc_s
        timing.last_token = timing.received + plan.generation_s
    pieces = [plan.piece_at(i) for i in range(plan.output_tokens)]
    data = _json.dumps(prepared.generation.whole(pieces, timing))
    if plan.fault == "malformed":
        data = data[: len(data) // 2]
    return web.Response(body=data, headers={"Content-Type": "application/json", **prepared.headers})
