"""Simulated model server: Ollama, OpenAI, Anthropic and llama.cpp native wire formats with
controlled timing, faults and real servers' stream variants.

It stands in for an external model server in the demo, the tests and the benchmark, so it imports
only aiohttp, ``sidecar._json`` and the standard library.

Routes: Ollama ``/api/chat``, ``/api/generate`` (NDJSON, ``stream`` defaults to true),
``/api/embed``, ``/api/embeddings``, ``/api/tags``, ``/api/version``; OpenAI
``/v1/chat/completions``, ``/v1/completions``, ``/v1/responses`` (SSE), ``/v1/embeddings``,
``/v1/models``; Anthropic ``/v1/messages`` (SSE); llama.cpp ``/completion`` (SSE). Raw:
``GET /sim/bytes``, ``POST /sim/echo``, ``GET /sim/requests``.

Output is deterministic: one output token is one word from a fixed vocabulary and one chunk; input
tokens are the whitespace-separated words of all prompt text (at least 1). Reported usage always
equals what was streamed.

Per-request controls (request headers; defaults come from :class:`SimulatorSettings`):

``x-sim-ttfc-ms``
    Delay from request receipt to the first output chunk. Opening frames that carry no output
    (OpenAI's role chunk, ``message_start``, ``response.created``...) go out at once.
``x-sim-itl-ms``
    Delay between output chunks; chunk ``i`` leaves at ``receipt + ttfc + i * itl``.
``x-sim-tokens``
    Output tokens. The request's own cap (``max_tokens``, ``max_completion_tokens``,
    ``max_output_tokens``, Ollama ``options.num_predict``) cuts it, and then the finish reason is
    ``length``.
``x-sim-finish``
    Force the finish reason: ``stop``, ``length``, ``content_filter`` or ``tool_calls`` (a tool
    call in the API's format whose argument JSON holds the output words). Mapped per API:
    Anthropic ``end_turn`` / ``max_tokens`` / ``refusal`` / ``tool_use``; Responses ``completed``
    or ``incomplete`` (``max_output_tokens`` / ``content_filter``); Ollama ``done_reason`` ``stop``
    / ``length`` / ``content_filter`` / ``stop`` (tool calls). Legacy completions and Ollama
    generate have no tool calls and report ``stop``.
``x-sim-fault``
    ``429`` / ``500``: the API's HTTP error JSON before any streaming. ``crash``: after half the
    tokens the connection closes with no terminal event (a truncated chunked body).
    ``malformed``: one JSON line/event cut short after half the tokens, the rest of the stream
    intact. ``oversize``: the token after half the tokens carries ``x-sim-oversize-bytes`` extra
    bytes (default 2 MiB) in one line, still valid and still one word (Responses' closing events
    repeat the full text, so they are huge too). ``stall``: nothing more
    after the first output chunk for ``x-sim-stall-ms`` (default 300000), then the connection
    closes. ``error-event``: after half the tokens, the API's in-stream error (Anthropic
    ``event: error`` ``overloaded_error``; Ollama ``{"error": ...}`` line; OpenAI chat/completions
    ``data: {"error": ...}`` then ``[DONE]``; Responses ``event: error``), then the stream ends.
    Non-streaming requests: ``crash`` closes without a response, ``stall`` holds then closes,
    ``malformed`` truncates the JSON body, ``error-event`` answers 500.
``x-sim-oversize-bytes``, ``x-sim-stall-ms``
    Parameters of the ``oversize`` and ``stall`` faults.
``x-sim-stream``
    Real servers' stream variants, comma-separated: ``no-done`` (OpenAI-format streams without
    ``[DONE]``), ``error-usage`` (with ``error-event``: OpenRouter's error chunk carrying the usage
    so far), ``stopped-flags`` (llama.cpp's older ``stopped_*`` booleans). OpenAI's ``n`` request
    field streams that many choices.
``x-sim-body-bytes``
    On ``GET /sim/bytes`` only: the body size when the ``n`` query parameter is absent.

A control header with a bad value is answered 400 in the API's error format. Details, per-API
mappings and the raw routes: ``sidecar/simulator/README.md``.
"""

from __future__ import annotations

from sidecar.simulator.app import build_simulator_app
from sidecar.simulator.keys import SETTINGS_KEY, STATE_KEY
from sidecar.simulator.rawbytes import iter_pseudorandom, pseudorandom_bytes
from sidecar.simulator.server import RunningSimulator, run_simulator, start_simulator
from sidecar.simulator.settings import SimulatorSettings
from sidecar.simulator.state import ReceivedRequest, SimulatorState

__all__ = [
    "SETTINGS_KEY",
    "STATE_KEY",
    "ReceivedRequest",
    "RunningSimulator",
    "SimulatorSettings",
    "SimulatorState",
    "build_simulator_app",
    "iter_pseudorandom",
    "pseudorandom_bytes",
    "run_simulator",
    "start_simulator",
]
