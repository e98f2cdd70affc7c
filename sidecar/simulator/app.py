"""The simulator's aiohttp application: routes, request recording, settings and state."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from sidecar import _json
from sidecar.simulator import anthropic, llamacpp, ollama, openai, openai_responses, raw
from sidecar.simulator.keys import RECEIVED_AT, SETTINGS_KEY, STATE_KEY
from sidecar.simulator.settings import SimulatorSettings
from sidecar.simulator.state import ReceivedRequest, SimulatorState

_UNRECORDED = frozenset({"/sim/requests"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _record(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Stamp the arrival time and keep what arrived (path, headers, body size) in the state."""
    received = time.monotonic()
    RECEIVED_AT.set(received)
    if request.path not in _UNRECORDED:
        settings = request.app[SETTINGS_KEY]
        body = await request.read()
        request.app[STATE_KEY].record(
            ReceivedRequest(
                method=request.method,
                path=request.path,
                query_string=request.query_string,
                headers=tuple(request.headers.items()),
                body_size=len(body),
                body=body[: settings.record_body_bytes],
                received_at=received,
            )
        )
    return await handler(request)


def _json_response(payload: object) -> web.Response:
    return web.Response(body=_json.dumps(payload), headers={"Content-Type": "application/json"})


async def _models(request: web.Request) -> web.Response:
    """``GET /v1/models``: Anthropic's shape when ``anthropic-version`` is sent, else OpenAI's."""
    models = request.app[SETTINGS_KEY].models
    if "anthropic-version" in request.headers:
        return _json_response(anthropic.models_body(models))
    return _json_response(openai.models_body(models))


async def _tags(request: web.Request) -> web.Response:
    return _json_response(ollama.tags_body(request.app[SETTINGS_KEY].models))


async def _version(request: web.Request) -> web.Response:
    return _json_response({"version": request.app[SETTINGS_KEY].ollama_version})


async def _root(request: web.Request) -> web.Response:
    return web.Response(text="Ollama is running")


def build_simulator_app(settings: SimulatorSettings | None = None) -> web.Application:
    """A fresh simulator app; ``settings`` gives the defaults for every ``x-sim-*`` control."""
    settings = settings or SimulatorSettings()
    app = web.Application(middlewares=[_record], client_max_size=settings.max_body_bytes)
    app[SETTINGS_KEY] = settings
    app[STATE_KEY] = SimulatorState(settings.history)
    app.router.add_get("/", _root)
    app.router.add_post("/api/chat", ollama.chat)
    app.router.add_post("/api/generate", ollama.generate_text)
    app.router.add_post("/api/embed", ollama.embed)
    app.router.add_post("/api/embeddings", ollama.embeddings_legacy)
    app.router.add_get("/api/tags", _tags)
    app.router.add_get("/api/version", _version)
    app.router.add_post("/v1/chat/completions", openai.chat_completions)
    app.router.add_post("/v1/completions", openai.completions)
    app.router.add_post("/v1/embeddings", openai.embeddings)
    app.router.add_post("/v1/responses", openai_responses.responses)
    app.router.add_post("/v1/messages", anthropic.messages)
    app.router.add_post("/completion", llamacpp.completion)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/sim/bytes", raw.stream_bytes)
    app.router.add_post("/sim/echo", raw.echo)
    app.router.add_get("/sim/requests", raw.recent_requests)
    return app
