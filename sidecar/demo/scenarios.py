"""The labelled scenarios. Each uses its own model name, so the sidecar's metrics (which carry
``gen_ai.request.model``) separate them without any bookkeeping in the traffic generator.

Every scenario tells the simulator how to behave through ``x-sim-*`` request headers; the
configured time to first chunk is kept here (:attr:`Scenario.ttfc_ms`) so the screen and the tests
can compare what the sidecar measured with what the simulator was told.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final, Literal

Client = Literal["ollama", "openai", "openai_plain"]
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
    #: What the scenario does (one line on the screen).
    does: str
    #: What to notice in its row (one line on the screen).
    notice: str
    #: The simulator's configured delay to the first token, uniform in this range (ms).
    ttfc_ms: tuple[int, int]
    #: Share of ``--rate`` this scenario sends (long answers are sent less often).
    rate_share: float = 1.0

    def next_call(self, rng: random.Random) -> Call:
        return _PLANS[self.name](self, rng)

    @property
    def configured_ttfc_p50_ms(self) -> float:
        """The median of the configured first-token delay."""
        return (self.ttfc_ms[0] + self.ttfc_ms[1]) / 2


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


def _timing(scenario: Scenario, itl_ms: tuple[int, int], rng: random.Random) -> dict[str, str]:
    return {"x-sim-ttfc-ms": str(rng.randint(*scenario.ttfc_ms)), "x-sim-itl-ms": str(rng.randint(*itl_ms))}


def _normal(scenario: Scenario, rng: random.Random) -> Call:
    headers = _timing(scenario, (8, 15), rng) | {"x-sim-tokens": str(rng.randint(15, 40))}
    return Call(client=_client(rng), prompt=_prompt(rng, rng.randint(5, 20)), sim_headers=headers)


def _expensive(scenario: Scenario, rng: random.Random) -> Call:
    headers = _timing(scenario, (4, 8), rng) | {"x-sim-tokens": str(rng.randint(200, 400))}
    return Call(client=_client(rng), prompt=_prompt(rng, rng.randint(1500, 3000)), sim_headers=headers)


def _low_quality(scenario: Scenario, rng: random.Random) -> Call:
    headers = _timing(scenario, (8, 15), rng)
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


def _errors(scenario: Scenario, rng: random.Random) -> Call:
    headers = _timing(scenario, (8, 15), rng) | {"x-sim-tokens": "30"}
    kind = rng.choice(("429", "500", "crash", "walk_away"))
    if kind == "walk_away":
        return Call(client=_client(rng), prompt=_prompt(rng, 10), sim_headers=headers, action="walk_away")
    return Call(client=_client(rng), prompt=_prompt(rng, 10), sim_headers=headers | {"x-sim-fault": kind})


def _no_usage(scenario: Scenario, rng: random.Random) -> Call:
    headers = _timing(scenario, (8, 15), rng) | {"x-sim-tokens": str(rng.randint(15, 40))}
    return Call(client="openai_plain", prompt=_prompt(rng, rng.randint(5, 20)), sim_headers=headers)


_PLANS: Final = {
    "normal": _normal,
    "expensive": _expensive,
    "low_quality": _low_quality,
    "errors": _errors,
    "no_usage": _no_usage,
}

SCENARIOS: Final[tuple[Scenario, ...]] = (
    Scenario(
        name="normal",
        model="demo-normal",
        does="short prompts, steady streaming (Ollama and OpenAI SDKs)",
        notice="TTFC p50 matches the simulator's configured 400-600 ms; no errors, finish 'stop'",
        ttfc_ms=(400, 600),
    ),
    Scenario(
        name="expensive",
        model="demo-expensive",
        does="long prompts, long answers, a slow first token",
        notice="~10x output, ~100x input tokens per call; TTFC 1.5-3 s: where the budget goes",
        ttfc_ms=(1500, 3000),
        rate_share=0.5,
    ),
    Scenario(
        name="low_quality",
        model="demo-low-quality",
        does="answers cut by max_tokens, content-filtered, or one token long",
        notice="finish reasons 'length' and 'content_filter'; few output tokens per call",
        ttfc_ms=(400, 600),
    ),
    Scenario(
        name="errors",
        model="demo-errors",
        does="429 and 500 from the server, a stream that dies midway, a client that walks away",
        notice="the error % and the error types the sidecar classified",
        ttfc_ms=(400, 600),
    ),
    Scenario(
        name="no_usage",
        model="demo-no-usage",
        does="a plain OpenAI streaming client that does not ask for usage (no stream_options)",
        notice="usage column: token counts recorded only if the sidecar injects include_usage",
        ttfc_ms=(400, 600),
    ),
)
