"""Drive the scenarios through the sidecar with the official SDK clients, as an application would.

The generator keeps no statistics: everything the summary shows comes from the sidecar's /metrics.
SDK errors (429, 500, a cut stream) are the point of the errors scenario, so they are swallowed here.
It runs in its own process (see :mod:`sidecar.demo.processes`), like a real application's clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sidecar.demo.scenarios import Call, Scenario

if TYPE_CHECKING:
    from ollama import AsyncClient
    from openai import AsyncOpenAI

DEMO_EXTRA_HINT = "pip install '.[demo]'  (or: pip install 'genai-sidecar[demo]')"


class MissingSDK(RuntimeError):
    """The demo needs the ``openai`` and ``ollama`` packages (the ``demo`` extra)."""


def check_sdks() -> None:
    try:
        import ollama  # noqa: F401
        import openai  # noqa: F401
    except ImportError as e:
        raise MissingSDK(
            f"the demo drives traffic with the official SDKs and {e.name!r} is not installed; "
            f"install them: {DEMO_EXTRA_HINT}"
        ) from None


class Clients:
    """SDK clients kept for the whole run, as an application keeps them (building one per call
    costs more CPU than the call). Ollama's client takes headers per client only, so each Ollama
    call gets a thin client over one shared connection pool."""

    def __init__(self, base_url: str) -> None:
        import httpx
        from openai import AsyncOpenAI

        self.base_url = base_url
        self.openai: AsyncOpenAI = AsyncOpenAI(base_url=f"{base_url}/v1", api_key="demo", max_retries=0)
        self._pool = httpx.AsyncHTTPTransport()

    def ollama(self, headers: dict[str, str]) -> AsyncClient:
        from ollama import AsyncClient

        return AsyncClient(host=self.base_url, headers=headers, transport=self._pool)

    async def close(self) -> None:
        await self.openai.close()
        await self._pool.aclose()


async def _openai_call(clients: Clients, model: str, call: Call) -> None:
    kwargs: dict[str, Any] = {}
    if call.max_tokens is not None:
        kwargs["max_tokens"] = call.max_tokens
    if call.client == "openai":
        kwargs["stream_options"] = {"include_usage": True}
    stream = await clients.openai.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": call.prompt}],
        stream=True,
        extra_headers=call.sim_headers,
        **kwargs,
    )
    async with stream:
        async for chunk in stream:
            if call.action == "walk_away" and chunk.choices and chunk.choices[0].delta.content:
                break


async def _ollama_call(clients: Clients, model: str, call: Call) -> None:
    client = clients.ollama(call.sim_headers)
    options = {"num_predict": call.max_tokens} if call.max_tokens is not None else None
    stream = await client.chat(
        model=model, messages=[{"role": "user", "content": call.prompt}], stream=True, options=options
    )
    async for part in stream:
        if call.action == "walk_away" and part.message.content:
            break


async def one_call(clients: Clients, scenario: Scenario, call: Call) -> None:
    """Make one call and swallow what the SDK raises: the sidecar has recorded it already."""
    run = _ollama_call if call.client == "ollama" else _openai_call
    with contextlib.suppress(Exception):
        await run(clients, scenario.model, call)


async def warm_up(model_server_url: str) -> None:
    """One short call with each SDK, straight to the model server (not through the sidecar)."""
    clients = Clients(model_server_url)
    quick = {"x-sim-ttfc-ms": "0", "x-sim-itl-ms": "0", "x-sim-tokens": "2"}
    try:
        for client in ("openai", "ollama"):
            call = Call(client=client, prompt="warm up", sim_headers=quick)
            await one_call(clients, _WARM_UP, call)
    finally:
        await clients.close()


_WARM_UP = Scenario(name="warm_up", model="demo-warm-up", does="", notice="", ttfc_ms=(0, 0))


class InFlight:
    """Calls started and not yet finished, published through ``report`` (a shared counter)."""

    def __init__(self, report: Callable[[int], None]) -> None:
        self.count = 0
        self._report = report

    def add(self, delta: int) -> None:
        self.count += delta
        self._report(self.count)


async def drive(
    clients: Clients,
    scenario: Scenario,
    rate: float,
    rng: random.Random,
    stop: asyncio.Event,
    in_flight: InFlight,
) -> None:
    """Start ``rate`` calls per second (exponential gaps) until ``stop`` is set; wait for them."""
    tasks: set[asyncio.Task[None]] = set()

    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        in_flight.add(-1)

    while not stop.is_set():
        task = asyncio.create_task(one_call(clients, scenario, scenario.next_call(rng)))
        in_flight.add(1)
        tasks.add(task)
        task.add_done_callback(done)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=rng.expovariate(rate))
    if tasks:
        await asyncio.wait(tasks)


async def run_traffic(
    base_url: str,
    scenarios: Sequence[Scenario],
    rate: float,
    seed: float,
    stop: asyncio.Event,
    in_flight: InFlight,
) -> None:
    """Every scenario at its share of ``rate`` until ``stop``; then wait for the calls in flight."""
    clients = Clients(base_url)
    rng = random.Random(seed)
    try:
        await asyncio.gather(
            *(
                drive(clients, s, rate * s.rate_share, random.Random(rng.random()), stop, in_flight)
                for s in scenarios
            )
        )
    finally:
        await clients.close()
