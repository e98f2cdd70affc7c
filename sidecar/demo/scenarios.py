"""The four labelled scenarios. Each uses its own model name, so the sidecar's metrics (which carry
``gen_ai.request.model``) separate them without any bookkeeping in the generator."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final, Literal

Client = Literal["ollama", "openai"]
Action = Literal["complete", "walk_away"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One request a scenario makes: which SDK, what to ask, and how the simulator should behave."""

    client: Client
    prompt: str
    sim_headers: dict[str, str] = field(default_factory=dict)
    max_tokens: int | None = None
    action: Action = "complete"


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    model: str
    description: str

    def next_call(self, rng: random.Random) -> Call:
        return _PLANS[self.name](rng)


_WORDS: Final = (
    "explain",
    "summarise",
    "translate",
    "compare",
    "list",
    "describe",
    "outline",
    "rewrite",
    "classify",
    "extract",
    "the",
    "a",
    "cluster",
    "latency",
    "budget",
    "token",
    "stream",
    "model",
    "server",
    "request",
    "pod",
    "node",
    "queue",
    "cache",
)


def _prompt(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _client(rng: random.Random) -> Client:
    return "ollama" if rng.random() < 0.5 else "openai"


def _timing(ttfc_ms: tuple[int, int], itl_ms: tuple[int, int], rng: random.Random) -> dict[str, str]:
    return {"x-sim-ttfc-ms": str(rng.randint(*ttfc_ms)), "x-sim-itl-ms": str(rng.randint(*itl_ms))}


def _normal(rng: random.Random) -> Call:
    headers = _timing((40, 120), (8, 15), rng) | {"x-sim-tokens": str(rng.randint(15, 40))}
    return Call(client=_client(rng), prompt=_prompt(rng, rng.randint(5, 20)), sim_headers=headers)


def _expensive(rng: random.Random) -> Call:
    headers = _timing((300, 900), (3, 6), rng) | {"x-sim-tokens": str(rng.randint(300, 600))}
    return Call(client=_client(rng), prompt=_prompt(rng, rng.randint(1500, 3000)), sim_headers=headers)


def _low_quality(rng: random.Random) -> Call:
    headers = _timing((40, 120), (8, 15), rng)
    kind = rng.choice(("length", "content_filter", "near_empty"))
    if kind == "length":
        return Call(
            client=_client(rng),
            prompt=_prompt(rng, 10),
            sim_headers=headers | {"x-sim-tokens": "200"},
            max_tokens=rng.randint(4, 12),
        )
    if kind == "content_filter":
        # Ollama has no content-filter finish reason; the OpenAI format does.
        headers |= {"x-sim-finish": "content_filter", "x-sim-tokens": str(rng.randint(2, 6))}
        return Call(client="openai", prompt=_prompt(rng, 10), sim_headers=headers)
    return Call(client=_client(rng), prompt=_prompt(rng, 10), sim_headers=headers | {"x-sim-tokens": "1"})


def _errors(rng: random.Random) -> Call:
    headers = _timing((40, 120), (8, 15), rng) | {"x-sim-tokens": "30"}
    kind = rng.choice(("429", "500", "crash", "walk_away"))
    if kind == "walk_away":
        return Call(client=_client(rng), prompt=_prompt(rng, 10), sim_headers=headers, action="walk_away")
    return Call(client=_client(rng), prompt=_prompt(rng, 10), sim_headers=headers | {"x-sim-fault": kind})


_PLANS: Final = {
    "normal": _normal,
    "expensive": _expensive,
    "low_quality": _low_quality,
    "errors": _errors,
}

SCENARIOS: Final[tuple[Scenario, ...]] = (
    Scenario(name="normal", model="demo-normal", description="short prompts, steady streaming"),
    Scenario(name="expensive", model="demo-expensive", description="long prompts and long answers"),
    Scenario(
        name="low_quality",
        model="demo-low-quality",
        description="answers cut by length, content-filtered, or near-empty",
    ),
    Scenario(
        name="errors",
        model="demo-errors",
        description="429 / 500, a stream that dies midway, a client that walks away",
    ),
)
