"""Drive the scenarios through the sidecar with the official SDK clients, as an application would.

The generator keeps no statistics: everything the summary shows comes from the sidecar's /metrics.
SDK errors (429, 500, a cut stream) are the point of the errors scenario, so they are swallowed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from sidecar.demo.scenarios import Call, Scenario


class MissingSDK(RuntimeError):
    """The demo needs the ``openai`` and ``ollama`` packages (``pip install 'genai-sidecar[demo]'``)."""


def check_sdks() -> None:
    try:
        import ollama  # noqa: F401
        import openai  # noqa: F401
    except ImportError as e:
        raise MissingSDK(
            f"the demo drives traffic with the official SDKs; install them: pip install "
            f"'genai-sidecar[demo]' ({e.name} is missing)"
        ) from None


async def _openai_call(base_url: str, model: str, call: Call) -> None:
    from openai import AsyncOpenAI

    async with AsyncOpenAI(base_url=f"{base_url}/v1", api_key="demo", max_retries=0) as client:
        kwargs: dict[str, Any] = {}
        if call.max_tokens is not None:
            kwargs["max_tokens"] = call.max_tokens
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": call.prompt}],
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=call.sim_headers,
            **kwargs,
        )
        async with stream:
            async for chunk in stream:
                if call.action == "walk_away" and chunk.choices and chunk.choices[0].delta.content:
                    break


async def _ollama_call(base_url: str, model: str, call: Call) -> None:
    from ollama import AsyncClient

    client = AsyncClient(host=base_url, headers=call.sim_headers)
    try:
        options = {"num_predict": call.max_tokens} if call.max_tokens is not None else None
        stream = await client.chat(
            model=model, messages=[{"role": "user", "content": call.prompt}], stream=True, options=options
        )
        async for part in stream:
            if call.action == "walk_away" and part.message.content:
                break
    finally:
        await client.close()  # type: ignore[no-untyped-call]


async def one_call(base_url: str, scenario: Scenario, call: Call) -> None:
    """Make one call and swallow what the SDK raises: the sidecar has recorded it already."""
    run = _openai_call if call.client == "openai" else _ollama_call
    with contextlib.suppress(Exception):
        await run(base_url, scenario.model, call)


async def drive(
    base_url: str, scenario: Scenario, rate: float, rng: random.Random, stop: asyncio.Event
) -> None:
    """Start ``rate`` calls per second (exponential gaps) until ``stop`` is set; wait for them."""
    tasks: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        task = asyncio.create_task(one_call(base_url, scenario, scenario.next_call(rng)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=rng.expovariate(rate))
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    for task in tasks:
        task.cancel()
