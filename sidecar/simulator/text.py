"""Deterministic text: the output vocabulary, prompt token counting, tool-call arguments, embeddings.

One output token is one word from a fixed vocabulary, so a client can count tokens by splitting the
text on whitespace. Input tokens are the whitespace-separated words of all prompt text (at least 1).
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

VOCABULARY: Final[tuple[str, ...]] = (
    "the", "model", "streams", "tokens", "through", "a", "quiet", "sidecar", "that", "measures",
    "every", "chunk", "as", "it", "passes", "while", "bytes", "flow", "unchanged", "to", "clients",
    "and", "latency", "stays", "low", "under", "load", "with", "metrics", "spans", "for", "each",
    "request", "river", "stone", "cloud", "lantern", "harbor", "signal", "garden", "orbit", "copper",
    "meadow", "pixel", "thunder", "velvet", "window", "amber", "canyon", "delta", "ember", "falcon",
    "glacier", "horizon", "island", "jasmine", "kernel", "lattice", "marble", "nectar", "opal",
    "prairie", "quartz", "saffron",
)  # fmt: skip

TOOL_NAME: Final = "lookup"
"""Function name used for simulated tool calls when the request declares no tool."""
TOOL_ARGUMENT: Final = "query"
"""The one argument of a simulated tool call; its value holds the output words."""


def collect_text(value: object) -> Iterator[str]:
    """Yield every prompt string inside a message-content-like value.

    Accepts a string, a list of strings or content parts (``{"text": ...}`` or nested
    ``{"content": ...}``), or a message (``{"content": ...}``), which covers the OpenAI, Anthropic and
    Ollama request shapes.
    """
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from collect_text(item)
    elif isinstance(value, Mapping):
        text = value.get("text")
        if isinstance(text, str):
            yield text
        else:
            yield from collect_text(value.get("content"))


def count_words(texts: Iterable[str]) -> int:
    """Input token count: whitespace-separated words of all texts, at least 1."""
    return max(1, sum(len(text.split()) for text in texts))


def output_words(count: int, texts: Iterable[str] = ()) -> list[str]:
    """``count`` words from the vocabulary, starting at a position derived from the prompt."""
    start = zlib.crc32("\n".join(texts).encode("utf-8", "surrogatepass")) % len(VOCABULARY)
    return [VOCABULARY[(start + i) % len(VOCABULARY)] for i in range(count)]


def text_pieces(words: list[str]) -> list[str]:
    """One streamed text fragment per word: the first bare, the rest with a leading space."""
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def tool_argument_pieces(words: list[str]) -> list[str]:
    """One JSON-arguments fragment per word; joined they form ``{"query": "w1 w2 ..."}``."""
    pieces = [f" {word}" for word in words]
    if pieces:
        pieces[0] = f'{{"{TOOL_ARGUMENT}": "{words[0]}'
        pieces[-1] += '"}'
    return pieces


def oversize_text(size: int) -> str:
    """A text fragment of ``size`` bytes with no whitespace inside (it still counts as one word)."""
    return "x" * max(1, size)


def embedding(text: str, dims: int) -> list[float]:
    """A deterministic unit-length vector for ``text``."""
    rng = random.Random(zlib.crc32(text.encode("utf-8", "surrogatepass")))
    values = [rng.uniform(-1.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
